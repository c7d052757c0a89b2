"""COCO mAP with pycocotools: known answers, official vs label-built ground truth, the class subset,
a real small run, and corrupt images."""

import json

import pytest
from conftest import MIRROR, needs_mirror

from yolo_cpu.accuracy.evaluate import (
    Int8DropError,
    check_int8_drop,
    evaluate_paired,
    model_only_runs,
)
from yolo_cpu.accuracy.scoring import coco_map
from yolo_cpu.data import coco, dataset
from yolo_cpu.models.export import load_onnx, make_batch_dynamic
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.runtime.predict import letterbox_split, predict
from yolo_cpu.runtime.preprocess import ImageReadError, to_tensor
from yolo_cpu.runtime.runtimes import OrtRuntime

pytestmark = needs_mirror
OFFICIAL = MIRROR / "coco" / "annotations" / "instances_val2017_subset206.json"


@pytest.fixture(scope="module")
def official():
    return json.loads(OFFICIAL.read_text())


@pytest.fixture(scope="module")
def label_gt(official):
    """GT built from the YOLO labels for the same 206 images."""
    items = []
    for im in official["images"]:
        stem = im["file_name"][:-4]
        labels = coco.parse_labels(MIRROR / "coco" / "labels" / "val2017" / f"{stem}.txt")
        items.append((im["id"], im["file_name"], im["width"], im["height"], labels))
    return coco.gt_from_labels(items)


def as_detections(gt, score=1.0):
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": score}
        for a in gt["annotations"]
    ]


def test_perfect_predictions_score_one(label_gt):
    r = coco_map(label_gt, as_detections(label_gt))
    assert r["map50_95"] == pytest.approx(1.0) and r["map50"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in r["per_class"].values())


def test_class_subset_restricts_ground_truth_and_predictions(label_gt):
    person, car = coco.NAMES.index("person"), coco.NAMES.index("car")
    only_people = [d for d in as_detections(label_gt) if d["category_id"] == 1]
    assert coco_map(label_gt, only_people, [person])["map50_95"] == pytest.approx(1.0)
    assert coco_map(label_gt, only_people, [car])["map50_95"] == 0.0
    assert coco_map(label_gt, only_people)["map50_95"] < 0.2  # all 80 classes: most are missed
    assert set(coco_map(label_gt, only_people, [person, car])["per_class"]) <= {"person", "car"}


def test_official_and_label_ground_truth_agree(official, label_gt, tmp_path):
    """On the 206 images with official annotations, the same yolov5n predictions score nearly the same."""
    dyn = tmp_path / "dyn.onnx"
    import onnx

    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(dyn))
    paths = [MIRROR / "coco" / "images" / "val2017" / im["file_name"] for im in official["images"]]
    dets, times = predict(OrtRuntime(dyn), paths, batch=8, category_ids=coco.CATEGORY_IDS)
    assert times.images == 206
    a = coco_map(coco.gt_from_official(official, [im["id"] for im in official["images"]]), dets)["map50_95"]
    b = coco_map(label_gt, dets)["map50_95"]
    print(f"mAP50-95 official GT {100 * a:.2f} vs YOLO-label GT {100 * b:.2f}: {100 * (a - b):+.2f} points")
    assert 0.2 < a < 0.5 and abs(a - b) < 0.01


def test_predict_corrupt_image_errors_or_skips(tmp_path):
    good = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:2]
    bad = tmp_path / "000000999999.jpg"
    bad.write_bytes(b"garbage")
    rt = OrtRuntime(MIRROR / "models" / "yolov5n.onnx")  # fixed batch 1: predict adapts
    with pytest.raises(ImageReadError, match="000000999999.jpg"):
        predict(rt, [good[0], bad, good[1]])
    dets, t = predict(rt, [good[0], bad, good[1]], bad_input="skip")
    assert t.images == 2 and len(t.skipped) == 1 and "000000999999.jpg" in t.skipped[0]
    assert {d["image_id"] for d in dets} <= {int(p.stem) for p in good}


def test_decoded_once_equals_decoding_per_batch(tmp_path):
    """A Letterboxed split (decoded once for all variants) gives the same detections as decoding per
    batch, with and without the prefetch/NMS threads; a corrupt file is skipped and counted."""
    good = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:11]
    bad = tmp_path / "000000999999.jpg"
    bad.write_bytes(b"garbage")
    paths = good[:5] + [bad] + good[5:]
    dyn = tmp_path / "dyn.onnx"
    import onnx

    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(dyn))
    rt = OrtRuntime(dyn)
    lbx = letterbox_split(paths, 640, bad_input="skip")
    assert len(lbx) == 11 and len(lbx.skipped) == 1 and lbx.images[0].shape == (640, 640, 3)
    ref, t_ref = predict(rt, paths, batch=4, bad_input="skip")
    for prefetch in (False, True):
        got, t = predict(rt, lbx, batch=4, prefetch=prefetch)
        assert got == ref and t.images == t_ref.images == 11 and t.decode == 0.0
    assert len(ref) > 11 * 20  # conf 0.001 keeps many low-score boxes per image
    with pytest.raises(ImageReadError, match="000000999999.jpg"):
        letterbox_split(paths, 640)

    # In chunks with model-only windows between them (eval-map's paired timing): same detections.
    e = {
        "model_only_windows": 4,
        "model_only_images": 16,
        "batch": 4,
        "conf": 0.001,
        "iou": 0.65,
        "max_det": 300,
        "prefetch": True,
    }
    x = to_tensor(lbx.images[:4])
    got, t, model_only = evaluate_paired(rt, lbx, e, x, "eval", 640, None)
    assert got == ref and t.images == 11 and t.wall > 0
    assert len(model_only) == 4 * model_only_runs(len(x), 16) == 4 * 4 and all(s > 0 for s in model_only)
    good_paths = [p for p in paths if p != bad]
    got, t, _ = evaluate_paired(rt, good_paths, e, x, "eval", 640, None)  # eval_timing.decode_once off: files
    assert got == ref and t.images == 11


def test_int8_gate():
    check_int8_drop({"ort_int8_delta_map50_95": -0.4}, 0.5)
    check_int8_drop({"ort_int8_delta_map50_95": -3.0}, None)
    with pytest.raises(Int8DropError, match="ov_int8 loses 0.80 mAP50-95 points"):
        check_int8_drop({"ort_int8_delta_map50_95": -0.1, "ov_int8_delta_map50_95": -0.8}, 0.5)


def gt_anns(repo):
    return json.loads((repo / "data/eval/instances.json").read_text())["annotations"]


def test_eval_stage_small_real_run(pipeline):
    m = read_results("eval_map", pipeline)
    assert m["images"] == 12 and m["decode_once_used"] is True
    variants = ["ort_fp32", "ort_int8", "ov_fp32", "ov_int8"] + (
        [] if m["unsupported_variants"] else ["ov_bf16", "ov_int8_bf16"]
    )
    for v in variants:
        assert 10 < m[f"{v}_map50_95"] < 70 and m[f"{v}_map50"] >= m[f"{v}_map50_95"]
        assert 0 <= m[f"{v}_subset_map50_95"] <= 100
        assert m[f"{v}_eval_vs_model_only"] == pytest.approx(
            m[f"{v}_images_per_s"] / m[f"{v}_model_only_images_per_s"], abs=2e-3
        )
        preds = json.loads((pipeline / f"data/predictions/{v}.json").read_text())
        assert preds and set(preds[0]) == {"image_id", "category_id", "bbox", "score"}
    assert abs(m["ort_fp32_map50_95"] - m["ov_fp32_map50_95"]) < 0.5
    assert m["ort_int8_delta_map50_95"] == pytest.approx(m["ort_int8_map50_95"] - m["ort_fp32_map50_95"], abs=2e-3)
    assert "ov_int8_delta_subset_map50_95" in m and len(m["class_subset"]) == 15
    for v in ("ort_int8", "ov_int8"):  # the paired bootstrap's interval holds the measured delta
        assert m[f"{v}_delta_map50_95_lo"] <= m[f"{v}_delta_map50_95"] + 2e-3
        assert m[f"{v}_delta_map50_95"] - 2e-3 <= m[f"{v}_delta_map50_95_hi"]
        rows = m[f"{v}_per_class_delta"]
        assert rows == sorted(rows, key=lambda r: r["delta"]) and sum(r["instances"] for r in rows) == len(
            gt_anns(pipeline)
        )
    assert m["bootstrap_reference"]["ov_int8"] == "ov_fp32" and m["bootstrap"] == 1000
    # the subset figure is pycocotools on the subset's classes of the saved predictions
    gt = json.loads((pipeline / "data/eval/instances.json").read_text())
    preds = json.loads((pipeline / "data/predictions/ov_int8.json").read_text())
    subset = [coco.NAMES.index(c) for c in m["class_subset"]]
    assert round(100 * coco_map(gt, preds, subset)["map50_95"], 3) == m["ov_int8_subset_map50_95"]


def test_class_subset_is_seeded_or_named():
    names = dataset.choose_subset(15, 0, [], coco.NAMES)
    assert len(set(names)) == 15 and names == dataset.choose_subset(15, 0, [], coco.NAMES)
    assert names != dataset.choose_subset(15, 1, [], coco.NAMES)
    assert dataset.choose_subset(15, 0, ["dog", "person", "dog"], coco.NAMES) == ["dog", "person"]
    with pytest.raises(dataset.SplitError, match="unknown class 'unicorn'"):
        dataset.choose_subset(15, 0, ["person", "unicorn"], coco.NAMES)


def test_no_detections_score_zero_for_every_class_with_ground_truth(label_gt):
    r = coco_map(label_gt, [])
    present = {a["category_id"] for a in label_gt["annotations"]}
    assert r["map50_95"] == 0.0 and len(r["per_class"]) == len(present) > 10
    assert set(r["per_class"].values()) == {0.0} and "person" in r["per_class"]
