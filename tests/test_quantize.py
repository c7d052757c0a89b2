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
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.quantize import head, heldout, quantize_ort, quantize_ov
from yolo_cpu.runtime.postprocess import match_rate, postprocess
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.preprocess import preprocess, read_image
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime, ov_core

pytestmark = needs_mirror


def test_head_scope_patterns_on_real_names():
    names = [n.name for n in onnx.load(str(MIRROR / "models" / "yolov5n.onnx")).graph.node]
    assert head.head_index(names) == 24
    decode = head.matching(names, head.head_patterns(names, include_convs=False))
    assert "/model.24/Sigmoid" in decode and "/model.24/Pow" in decode and "/model.24/Concat" in decode
    assert not any("Conv" in n for n in decode) and not any(n.startswith("/model.23/") for n in decode)
    with_convs = head.matching(names, head.head_patterns(names, include_convs=True))
    assert {"/model.24/m.0/Conv", "/model.24/m.2/Conv"} <= set(with_convs)
    with pytest.raises(head.QuantizeError, match="cannot locate the detect head"):
        head.head_index(["conv1", "relu1"])


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
    with pytest.raises(cal.CalibrationError, match=r"data/calibration was letterboxed to 640, not model.imgsz=320"):
        cal.load(folder, 320)
    with pytest.raises(cal.CalibrationError, match="is missing: run `dvc repro calibrate`"):
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
    pairs = [
        (OvRuntime(models / "ov_fp32/yolov5n.xml", precision="f32"), OvRuntime(models / "ov_int8/yolov5n.xml")),
        (OrtRuntime(models / "yolov5n_dynamic.onnx"), OrtRuntime(models / "ort_int8/yolov5n.onnx")),
    ]
    for fp32, int8 in pairs:
        assert match_rate(postprocess(fp32.infer(x), lbs), postprocess(int8.infer(x), lbs)) >= 0.7


def test_subset_larger_than_split_warns_and_uses_what_exists(pipeline):
    with pytest.warns(UserWarning, match="calibration.images=50 > 12 calibration images available"):
        used, held = cal.split_calibration(pipeline / "data/calib", 50, 8, "calibration")
    assert len(used) == 12 and len(held) == 8 and not set(used) & set(held)
    with pytest.raises(cal.CalibrationError, match="has 20 images; need more than calibration.check_images=20"):
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


def held_out_of(repo):
    """The pipeline's held-out calibration images with their labels (run from inside `repo`)."""
    calib = cal.load(repo / "data/calibration", 640)
    classes = coco.Classes.from_gt({"categories": json.loads((repo / "data/calib/classes.json").read_text())})
    return calib, classes, heldout.HeldOut.of(calib, classes)


def test_accuracy_control_stage_reports_held_out_figures_that_hold_two_ways(pipeline, monkeypatch):
    """The quantize-ov stage's default scope, NNCF's accuracy control within report.max_map_drop, on the
    tiny pipeline. Two paths to one answer: the held-out mAP50-95 it reports for FP32 and INT8 equal
    those of the saved IRs' detections decoded afresh through the evaluation path and scored by
    COCOeval; the layers it reverted read no FakeQuantize."""
    m = read_results("quantize_ov", pipeline)
    assert m["scope"] == "accuracy_control" and m["check_images"] == m["held_out_images"] == 8
    assert m["mechanism"] == "nncf.quantize_with_accuracy_control" and m["max_drop"] == 0.01  # 1.0 point
    layers = [r["layer"] for r in m["float_layers"]]
    assert m["float_layer_count"] == len(layers)
    assert m["heldout_drop_points"] == pytest.approx(m["heldout_map50_95_fp32"] - m["heldout_map50_95_int8"], abs=2e-3)
    xml = pipeline / "models/ov_int8/yolov5n.xml"
    assert no_fake_quantize_feeds(ov_core().read_model(str(xml)), layers)
    monkeypatch.chdir(pipeline)  # the calibration manifest names files relative to the project
    calib, classes, held = held_out_of(pipeline)
    files = calib.held_out_files
    for ir, key in ((xml, "heldout_map50_95_int8"), (pipeline / "models/ov_fp32/yolov5n.xml", "heldout_map50_95_fp32")):
        dets, _ = predict(OvRuntime(ir, precision="f32"), files, batch=3, category_ids=classes.ids)
        assert 100 * coco_map(held.gt, dets, per_class=False)["map50_95"] == pytest.approx(m[key], abs=1e-3)


def no_fake_quantize_feeds(model, layers: list[str], float_weights: bool = True) -> bool:
    """No FakeQuantize feeds any of `layers`; with float_weights, a float conv's weights are float
    constants (a saved INT8 IR stores them as int8 constants and a dequantizing multiply instead)."""
    for op in model.get_ops():
        if op.get_friendly_name() in layers:
            sources = [i.get_source_output().get_node() for i in op.inputs()]
            if any(s.get_type_name() == "FakeQuantize" for s in sources):
                return False
            if (
                float_weights
                and op.get_type_name() == "Convolution"
                and not (sources[1].get_type_name() == "Constant" and sources[1].get_element_type().is_real())
            ):
                return False
    return True


def test_accuracy_control_reverts_ops_on_a_planted_loss_and_ends_within_its_budget(pipeline, monkeypatch):
    """A planted over-budget case: the FP32 IR calibrated on one flat grey image (ranges that fit no
    real image), so all INT8 loses many points on the held-out images. NNCF's accuracy control with a
    0.5-point budget reverts ops to float and either ends within it, measured afresh through our own
    held-out path on the returned model, or says it cannot."""
    from yolo_cpu.quantize import accuracy_control

    monkeypatch.chdir(pipeline)
    calib, classes, held = held_out_of(pipeline)
    fp32 = ov_core().read_model(str(pipeline / "models/ov_fp32/yolov5n.xml"))
    decode = quantize_ov.head_ops(fp32, include_convs=False)
    grey = [np.full_like(calib.inputs[0], 0.5)]
    all_int8 = quantize_ov.quantize(fp32, grey, "performance", True, decode)
    assert held.map50_95(fp32) - held.map50_95(all_int8) > 5  # the planted loss
    model, d = accuracy_control.quantize(fp32, grey, held, "performance", True, decode, 0.5, 3, 4)
    layers = [f["layer"] for f in d["float_layers"]]
    assert layers and no_fake_quantize_feeds(model, layers, float_weights=False)
    assert quantize_ov.count_fake_quantize(model) < quantize_ov.count_fake_quantize(all_int8)
    drop = held.map50_95(fp32) - held.map50_95(model)
    assert drop == pytest.approx(d["heldout_drop_points"], abs=2e-3)
    assert (d["budget_met"] and drop <= 0.5) or (
        not d["budget_met"] and any("could not achieve" in x for x in d["nncf_log"])
    )


def test_histogram_calibration_that_cannot_fit_in_memory_is_refused_up_front():
    quantize_ort.check_memory("qdq_minmax", 100000)  # min/max keeps no activations
    with pytest.raises(
        head.QuantizeError,
        match=r"quantize_ort.method=qdq_entropy keeps all activations in memory.*"
        r"quantize_ort.calibration_images=100000",
    ):
        quantize_ort.check_memory("qdq_entropy", 100000)


def test_nncf_onnx_path_for_onnx_runtime(tmp_path):
    """quantize_ort.method: nncf quantizes the ONNX model with NNCF's ONNX backend."""
    from yolo_cpu.models.export import load_onnx, make_batch_dynamic

    src = tmp_path / "dyn.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(src))
    names = [n.name for n in onnx.load(str(src)).graph.node]
    exclude = head.matching(names, head.head_patterns(names, include_convs=True))
    images = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:6]
    out = tmp_path / "int8.onnx"
    quantize_ort.quantize_nncf(src, out, cal.calibration_inputs(images[:4], 640, "none"), exclude)
    assert quantize_ort.count_quantize_linear(out) > 20
    x, lbs = preprocess([read_image(p) for p in images[4:]])
    ref, got = OrtRuntime(src).infer(x), OrtRuntime(out).infer(x)
    assert match_rate(postprocess(ref, lbs), postprocess(got, lbs)) >= 0.6
