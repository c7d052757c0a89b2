"""The paired bootstrap of mAP deltas on real detections (yolov5n on mirror images, official-subset
images with label ground truth): its re-accumulation equals pycocotools, identical predictions give
a zero interval, and a planted degradation of one class is found and named."""

import json

import numpy as np
import pytest
from conftest import MIRROR, needs_mirror

from yolo_cpu.accuracy.evaluate import Int8DropError, check_int8_drop
from yolo_cpu.accuracy.map_bootstrap import (
    drop_verdict,
    matches_of,
    paired_delta,
    per_class_ap,
    per_class_rows,
    point_map,
)
from yolo_cpu.accuracy.scoring import coco_map, evaluated
from yolo_cpu.data import coco
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.runtimes import OrtRuntime

pytestmark = needs_mirror


def match(gt, dets):
    return matches_of(evaluated(gt, dets))


IMAGES = 80


@pytest.fixture(scope="module")
def gt_and_dets():
    official = json.loads((MIRROR / "coco/annotations/instances_val2017_subset206.json").read_text())
    items = []
    for im in sorted(official["images"], key=lambda im: im["id"])[:IMAGES]:
        labels = coco.parse_labels(MIRROR / "coco/labels/val2017" / f"{im['file_name'][:-4]}.txt")
        items.append((im["id"], im["file_name"], im["width"], im["height"], labels))
    gt = coco.gt_from_labels(items)
    paths = [MIRROR / "coco/images/val2017" / it[1] for it in items]
    dets, _ = predict(OrtRuntime(MIRROR / "models/yolov5n.onnx"), paths, category_ids=coco.Classes.from_gt(gt).ids)
    return gt, dets


def test_reaccumulation_equals_pycocotools(gt_and_dets):
    gt, dets = gt_and_dets
    ref = coco_map(gt, dets)
    m = match(gt, dets)
    assert point_map(m) == pytest.approx(ref["map50_95"], abs=1e-12)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    ones = per_class_ap(m, np.ones((1, len(m.images))))
    assert {names[c]: a[0] for c, a in ones.items()} == pytest.approx(ref["per_class"], abs=1e-12)


def test_a_resample_without_some_images_equals_pycocotools_on_the_rest(gt_and_dets):
    """Weights 0/1 drop images: the same figure as pycocotools on ground truth and detections of
    the kept images alone (an independent path through COCOeval)."""
    gt, dets = gt_and_dets
    m = match(gt, dets)
    keep = np.random.default_rng(0).random(len(m.images)) < 0.6
    kept = {i for i, k in zip(m.images, keep) if k}
    sub_gt = {
        **gt,
        "images": [im for im in gt["images"] if im["id"] in kept],
        "annotations": [a for a in gt["annotations"] if a["image_id"] in kept],
    }
    ref = coco_map(sub_gt, [d for d in dets if d["image_id"] in kept])["map50_95"]
    per = per_class_ap(m, keep[None, :].astype(float))
    assert float(np.nanmean([a[0] for a in per.values()])) == pytest.approx(ref, abs=1e-12)


def test_identical_predictions_have_a_zero_delta_and_interval(gt_and_dets):
    gt, dets = gt_and_dets
    d = paired_delta(match(gt, dets), match(gt, list(dets)), 200, 0)
    assert (d.delta, d.lo, d.hi) == (0.0, 0.0, 0.0)
    assert all(v == (0.0, 0.0, 0.0) for v in d.per_class.values())


def test_a_planted_degradation_is_found_and_its_class_is_the_worst(gt_and_dets):
    gt, dets = gt_and_dets
    person = coco.Classes.from_gt(gt).ids[coco.NAMES.index("person")]
    rng = np.random.default_rng(0)
    confident = [d for d in dets if d["category_id"] == person and d["score"] > 0.3]
    dropped = {id(d) for d in confident if rng.random() < 0.5}  # half the confident person boxes
    worse = [d for d in dets if id(d) not in dropped]
    d = paired_delta(match(gt, dets), match(gt, worse), 500, 0)
    exact = 100 * (coco_map(gt, worse)["map50_95"] - coco_map(gt, dets)["map50_95"])
    assert d.delta == pytest.approx(exact, abs=1e-9) and d.lo <= d.delta <= d.hi < 0
    names = {c["id"]: c["name"] for c in gt["categories"]}
    rows = per_class_rows(d, names)
    assert rows[0]["class"] == "person" and rows[0]["delta_hi"] < 0
    assert rows[0]["instances"] == sum(a["category_id"] == person for a in gt["annotations"])
    # the same figures drive the budget verdict and the INT8 gate
    metrics = {"ov_int8_delta_map50_95": d.delta, "ov_int8_delta_map50_95_lo": d.lo, "ov_int8_delta_map50_95_hi": d.hi}
    assert drop_verdict(metrics, "ov_int8", -d.hi / 2) == "over"
    assert drop_verdict(metrics, "ov_int8", -d.lo + 0.01) == "within"
    assert drop_verdict(metrics, "ov_int8", -d.delta) == "not separable"
    with pytest.raises(Int8DropError, match=r"95% interval of the drop .*: over"):
        check_int8_drop(metrics, -d.hi / 2)


def test_pairwise_differences_agree_with_paired_delta_and_pycocotools(gt_and_dets):
    """Two paths to one answer: a variant against its reference from pairwise_differences equals
    paired_delta's delta and interval (the same seeded resamples), and any pair's point difference
    equals pycocotools' mAPs subtracted."""
    from yolo_cpu.accuracy.map_bootstrap import pairwise_differences

    gt, dets = gt_and_dets
    rng = np.random.default_rng(1)
    worse = [d for d in dets if rng.random() < 0.7]
    worst = [d for d in worse if rng.random() < 0.7]
    m = {"ref": match(gt, dets), "worse": match(gt, worse), "worst": match(gt, worst)}
    diffs = pairwise_differences(m, 300, 5)
    d = paired_delta(m["ref"], m["worse"], 300, 5)
    assert diffs["worse|ref"] == pytest.approx([d.delta, d.lo, d.hi], abs=1.5e-3)
    exact = 100 * (coco_map(gt, worse)["map50_95"] - coco_map(gt, worst)["map50_95"])
    assert diffs["worse|worst"][0] == pytest.approx(exact, abs=1e-3)
    a, lo, hi = diffs["worse|worst"]
    assert diffs["worst|worse"] == pytest.approx([-a, -hi, -lo]) and lo <= a <= hi
