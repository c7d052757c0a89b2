"""quantize-ov and quantize-ort on the real yolov5n with real calibration images (from the tiny
pipeline run), and the calibration pieces they share."""
import json

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror, sh

from yolo_cpu.accuracy.scoring import coco_map
from yolo_cpu.data import calibration as cal
from yolo_cpu.data import coco
from yolo_cpu.quantize import quantize_ort, scope
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.postprocess import match_rate, postprocess
from yolo_cpu.runtime.preprocess import preprocess, read_image
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime, ov_core
from yolo_cpu.pipeline.stage import read_results

pytestmark = needs_mirror


def test_head_scope_patterns_on_real_names():
    names = [n.name for n in onnx.load(str(MIRROR / "models" / "yolov5n.onnx")).graph.node]
    assert cal.head_index(names) == 24
    decode = cal.matching(names, cal.head_patterns(names, include_convs=False))
    assert "/model.24/Sigmoid" in decode and "/model.24/Pow" in decode and "/model.24/Concat" in decode
    assert not any("Conv" in n for n in decode) and not any(n.startswith("/model.23/") for n in decode)
    with_convs = cal.matching(names, cal.head_patterns(names, include_convs=True))
    assert {"/model.24/m.0/Conv", "/model.24/m.2/Conv"} <= set(with_convs)
    with pytest.raises(cal.QuantizeError, match="cannot locate the detect head"):
        cal.head_index(["conv1", "relu1"])


def test_imagenet_normalization_is_what_it_says():
    img = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[0]
    [plain], [imnet] = (cal.calibration_inputs([img], 640, n) for n in ("none", "imagenet"))
    np.testing.assert_allclose(imnet, (plain - cal.IMAGENET_MEAN) / cal.IMAGENET_STD, rtol=1e-5)
    np.testing.assert_array_equal(plain, preprocess([read_image(img)])[0])  # the shared preprocessing


def test_calibrate_stage_output_reads_back_as_the_shared_preprocessing_of_its_files(pipeline, tmp_path):
    """Two paths to one answer: the calibrate stage's letterboxed arrays, read back as model inputs,
    equal the shared preprocessing of the same files decoded afresh; held-out images stay apart; a
    set made for another input size is refused naming the folder."""
    folder = pipeline / "data/calibration"
    c = cal.load(folder, 640)
    m = read_results("calibrate", pipeline)
    used, held = cal.split_calibration(pipeline / "data/calib", 12, 8, "calibration")
    assert m["images"] == len(c.inputs) == 12 and m["check_images"] == 8
    np.testing.assert_array_equal(np.concatenate(c.inputs), preprocess([read_image(p) for p in used])[0])
    x, lbs = preprocess([read_image(p) for p in held])
    batches = list(c.held_out_batches(3))
    assert [len(b[1]) for b in batches] == [3, 3, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    assert c.held_out_letterboxes == lbs and [p.name for p in c.held_out_files] == [p.name for p in held]
    with pytest.raises(cal.QuantizeError, match=r"data/calibration was letterboxed to 640, not model.imgsz=320"):
        cal.load(folder, 320)
    with pytest.raises(cal.QuantizeError, match="is missing: run `dvc repro calibrate`"):
        cal.load(tmp_path, 640)


def test_int8_models_made_and_agree_with_fp32(pipeline):
    ov, ort = read_results("quantize_ov", pipeline), read_results("quantize_ort", pipeline)
    for m in (ov, ort):
        assert m["calibration_images_used"] == 12 and m["check_images"] == 8
        assert m["agreement_vs_fp32"] >= 0.7
    assert ov["decode_ops"] > 0 and ort["head_nodes"] > 0
    assert ov["fake_quantize_nodes"] > 20 and ort["quantize_linear_nodes"] > 20
    assert ov["bytes_int8_ir"] < 0.6 * ov["bytes_fp32_ir"] and ort["bytes_int8_onnx"] < 0.6 * ort["bytes_fp32_onnx"]
    # and on evaluation images (never seen by calibration)
    imgs = sorted((pipeline / "data/eval/images").glob("*.jpg"))[:6]
    x, lbs = preprocess([read_image(p) for p in imgs])
    models = pipeline / "models"
    pairs = [(OvRuntime(models / "ov_fp32/yolov5n.xml", precision="f32"), OvRuntime(models / "ov_int8/yolov5n.xml")),
             (OrtRuntime(models / "yolov5n_dynamic.onnx"), OrtRuntime(models / "ort_int8/yolov5n.onnx"))]
    for fp32, int8 in pairs:
        assert match_rate(postprocess(fp32.infer(x), lbs), postprocess(int8.infer(x), lbs)) >= 0.7


def test_subset_larger_than_split_warns_and_uses_what_exists(pipeline):
    with pytest.warns(UserWarning, match="calibration.images=50 > 12 calibration images available"):
        used, held = cal.split_calibration(pipeline / "data/calib", 50, 8, "calibration")
    assert len(used) == 12 and len(held) == 8 and not set(used) & set(held)
    with pytest.raises(cal.QuantizeError, match="has 20 images; need more than calibration.check_images=20"):
        cal.split_calibration(pipeline / "data/calib", 10, 20, "calibration")


def test_empty_calibration_split_is_a_clear_error_and_keeps_the_calibration_set(pipeline):
    """The calibrate stage (which both quantizations read) names the empty split, and its previous
    output stays as it was."""
    images = pipeline / "data/calib/images"
    moved = pipeline / "data/calib/images_moved"
    manifest = (pipeline / "data/calibration/manifest.json").read_bytes()
    images.rename(moved)
    images.mkdir()
    try:
        proc = sh(["python", "-m", "stages.calibrate"], pipeline, check=False)
        assert proc.returncode == 1 and "error: split data/calib has no images" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert (pipeline / "data/calibration/manifest.json").read_bytes() == manifest
    finally:
        images.rmdir()
        moved.rename(images)


def test_scope_search_returns_a_model_whose_predicted_drop_is_within_budget(pipeline, monkeypatch):
    """The quantize-ov stage's scope search on the tiny pipeline (default budget 0.10 points): the INT8
    IR it wrote is predicted to lose at most the budget on the held-out images (or max_float_layers
    went float), the layers it gave back are the most sensitive ones and read no FakeQuantize. Two
    paths to one answer: the fidelity and held-out mAP it reports equal those of the saved IR's
    detections on the held-out files, decoded afresh through the evaluation path and scored against
    the FP32 IR's confident detections and the labels."""
    m = read_results("quantize_ov", pipeline)
    assert m["scope"] == "search" and m["check_images"] == m["held_out_images"] == 8
    layers = [r["layer"] for r in m["float_layers"]]
    assert m["float_layer_count"] == len(layers)
    assert m["predicted_drop_points"] == pytest.approx(m["drop_per_fidelity_point"] * (100 - m["heldout_fidelity"]),
                                                       abs=2e-3)
    assert m["budget_met"] == (m["predicted_drop_points"] <= m["budget_points"])
    rejected, gain = m["float_layers_rejected"], m["float_gain_fidelity"]
    assert m["budget_met"] or rejected or len(layers) == min(m["max_float_layers"], len(m["sensitivity"]))
    if m["steps"][0]["predicted_drop_points"] > m["budget_points"]:
        # the all-INT8 model missed the budget: layers went float, kept only if their gain beats noise
        assert (layers or rejected) and gain["lo"] <= gain["delta"] <= gain["hi"]
        assert (gain["lo"] > 0 and not rejected) or (gain["lo"] <= 0 and not layers)
        fidelity_of = {s["float_layers"]: s["heldout_fidelity"] for s in m["steps"] if s["how"] == "quantized"}
        assert m["heldout_fidelity"] == fidelity_of[len(layers)]  # 0 when rejected: all INT8, measured first
        # two paths: the bootstrap's point estimate (map_bootstrap) equals COCOeval's fidelities' difference
        found = len(layers or rejected)
        assert gain["delta"] == pytest.approx(fidelity_of[found] - fidelity_of[0], abs=2e-3)
    else:
        assert not layers and not rejected and gain is None
    # coarser quantizations lose more fidelity: the scale is fitted on a real trend
    fid = [s["heldout_fidelity"] for s in m["scale_fit"]]
    assert [s["levels"] for s in m["scale_fit"]] == [256, 128, 64] and fid == sorted(fid, reverse=True)
    assert fid[0] == m["steps"][0]["heldout_fidelity"] and m["drop_per_fidelity_point"] >= 0
    ranked = [r["layer"] for r in m["sensitivity"]]
    assert layers == ranked[:len(layers)] and rejected == ranked[:len(rejected)]
    assert all("gave back" in r["reason"] for r in m["float_layers"])
    xml = pipeline / "models/ov_int8/yolov5n.xml"
    for op in ov_core().read_model(str(xml)).get_ops():
        if op.get_friendly_name() in layers:  # no FakeQuantize feeds it; a conv's weights stay float constants
            sources = [i.get_source_output().get_node() for i in op.inputs()]
            assert all(s.get_type_name() != "FakeQuantize" for s in sources)
            if op.get_type_name() == "Convolution":
                assert sources[1].get_type_name() == "Constant" and sources[1].get_element_type().is_real()
    monkeypatch.chdir(pipeline)  # the calibration manifest names files relative to the project
    calib = cal.load(pipeline / "data/calibration", 640)
    classes = coco.Classes.from_gt({"categories": json.loads((pipeline / "data/calib/classes.json").read_text())})
    held = scope.HeldOut.of(calib, classes)
    assert held.gt["annotations"]
    files = calib.held_out_files
    dets, _ = predict(OvRuntime(xml, precision="f32"), files, batch=3, category_ids=classes.ids)
    ref, _ = predict(OvRuntime(pipeline / "models/ov_fp32/yolov5n.xml", precision="f32"), files, batch=5,
                     category_ids=classes.ids)
    reference = scope.as_ground_truth(held.gt, ref, scope.REFERENCE_CONF)
    assert reference["annotations"] and len(reference["annotations"]) < len(ref)
    assert 100 * coco_map(held.gt, ref, per_class=False)["map50_95"] == pytest.approx(m["heldout_map50_95_fp32"],
                                                                                        abs=1e-3)
    assert 100 * coco_map(reference, ref, per_class=False)["map50_95"] > 99  # FP32 against itself
    assert 100 * coco_map(reference, dets, per_class=False)["map50_95"] == pytest.approx(m["heldout_fidelity"],
                                                                                           abs=1e-3)
    assert 100 * coco_map(held.gt, dets, per_class=False)["map50_95"] == pytest.approx(m["heldout_map50_95_int8"],
                                                                                         abs=1e-3)


def test_drop_scale_is_the_least_squares_slope_through_the_origin():
    """drop_scale against numpy's least squares on points that lose fidelity, and 0 where none is lost."""
    fp32 = 30.0
    pts = [scope.Point(29.6, 94.0), scope.Point(29.1, 86.5), scope.Point(28.7, 75.0)]
    loss = np.array([[100 - p.fidelity] for p in pts])
    drop = np.array([fp32 - p.map50_95 for p in pts])
    assert scope.drop_scale(fp32, pts) == pytest.approx(np.linalg.lstsq(loss, drop, rcond=None)[0][0])
    assert scope.drop_scale(fp32, [scope.Point(30.2, 100.0)]) == 0.0
    assert scope.drop_scale(fp32, [scope.Point(30.5, 90.0)]) == 0.0  # a gain is not a negative cost


def test_bisection_finds_the_brute_force_count_on_falling_drops():
    """On drops that fall as layers go float, the bisection's count equals a brute-force scan's, and it
    measures about log2(n) counts instead of n."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 80))
        drops = np.sort(rng.uniform(-0.2, 1.0, n + 1))[::-1]  # drops[k]: k layers float, falling
        budget = float(rng.uniform(drops[-1], drops[0]))
        if drops[0] <= budget:
            continue
        seen = []
        k = scope.smallest_within(0, n, lambda k: seen.append(k) or drops[k], budget)
        brute = next((k for k in range(1, n + 1) if drops[k] <= budget), n)
        assert k == brute and len(seen) <= int(np.ceil(np.log2(n))) + 1


def test_histogram_calibration_that_cannot_fit_in_memory_is_refused_up_front():
    quantize_ort.check_memory("qdq_minmax", 100000)  # min/max keeps no activations
    with pytest.raises(cal.QuantizeError, match=r"quantize_ort.method=qdq_entropy keeps all activations in memory.*"
                                                r"quantize_ort.calibration_images=100000"):
        quantize_ort.check_memory("qdq_entropy", 100000)


def test_nncf_onnx_path_for_onnx_runtime(tmp_path):
    """quantize_ort.method: nncf quantizes the ONNX model with NNCF's ONNX backend."""
    from yolo_cpu.models.export import load_onnx, make_batch_dynamic

    src = tmp_path / "dyn.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(src))
    names = [n.name for n in onnx.load(str(src)).graph.node]
    exclude = cal.matching(names, cal.head_patterns(names, include_convs=True))
    images = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:6]
    out = tmp_path / "int8.onnx"
    quantize_ort.quantize_nncf(src, out, cal.calibration_inputs(images[:4], 640, "none"), exclude)
    assert quantize_ort.count_quantize_linear(out) > 20
    x, lbs = preprocess([read_image(p) for p in images[4:]])
    ref, got = OrtRuntime(src).infer(x), OrtRuntime(out).infer(x)
    assert match_rate(postprocess(ref, lbs), postprocess(got, lbs)) >= 0.6
