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


def held_out_of(repo):
    """The pipeline's held-out calibration images with their labels (run from inside `repo`)."""
    calib = cal.load(repo / "data/calibration", 640)
    classes = coco.Classes.from_gt({"categories": json.loads((repo / "data/calib/classes.json").read_text())})
    return calib, classes, scope.HeldOut.of(calib, classes)


def test_scope_search_outcome_follows_its_measured_drop_and_figures_hold_two_ways(pipeline, monkeypatch):
    """The quantize-ov stage's scope search on the tiny pipeline (default budget 0.10 points): it stops
    where its rule says (predicted drop within budget; else all INT8's held-out drop not separable from
    zero; else float layers kept only if their mAP gain is separable), and the layers it gave back read
    no FakeQuantize. Two paths to one answer: the fidelity and held-out mAP it reports equal those of the
    saved IR's detections, decoded afresh through the evaluation path and scored against the FP32 IR's
    confident detections and the labels; the drop's bootstrap point estimate equals COCOeval's difference."""
    m = read_results("quantize_ov", pipeline)
    assert m["scope"] == "search" and m["check_images"] == m["held_out_images"] == 8
    layers = [r["layer"] for r in m["float_layers"]]
    assert m["float_layer_count"] == len(layers) and m["outcome"] in scope.OUTCOMES
    assert m["predicted_drop_points"] == pytest.approx(m["drop_per_fidelity_point"] * (100 - m["heldout_fidelity"]),
                                                       abs=2e-3)
    assert m["budget_met"] == (m["predicted_drop_points"] <= m["budget_points"])
    first, drop = m["steps"][0], m["heldout_int8_drop"]
    assert drop["lo"] <= drop["delta"] <= drop["hi"]
    assert drop["delta"] == pytest.approx(m["heldout_map50_95_fp32"] - first["heldout_map50_95"], abs=2e-3)
    expected = ("within_budget" if first["predicted_drop_points"] <= m["budget_points"] else
                "drop_not_separable" if drop["lo"] <= 0 else {"float_kept", "float_rejected"})
    assert m["outcome"] == expected or m["outcome"] in expected
    if m["outcome"] in ("within_budget", "drop_not_separable"):  # stopped before ranking: all INT8
        assert not layers and not m["sensitivity"] and m["float_gain_map50_95"] is None and len(m["steps"]) == 1
    else:
        gain = m["float_gain_map50_95"]
        assert (m["outcome"] == "float_kept") == (gain["lo"] > 0) and bool(layers) != bool(m["float_layers_rejected"])
    assert m["heldout_fidelity"] == (first if not layers else m["steps"][-1])["heldout_fidelity"]
    # coarser quantizations lose more fidelity: the scale is fitted on a real trend
    fid = [s["heldout_fidelity"] for s in m["scale_fit"]]
    assert [s["levels"] for s in m["scale_fit"]] == [256, 128, 64] and fid == sorted(fid, reverse=True)
    assert fid[0] == first["heldout_fidelity"] and m["drop_per_fidelity_point"] >= 0
    xml = pipeline / "models/ov_int8/yolov5n.xml"
    assert no_fake_quantize_feeds(ov_core().read_model(str(xml)), layers)
    monkeypatch.chdir(pipeline)  # the calibration manifest names files relative to the project
    calib, classes, held = held_out_of(pipeline)
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


def no_fake_quantize_feeds(model, layers: list[str], float_weights: bool = True) -> bool:
    """No FakeQuantize feeds any of `layers`; with float_weights, a float conv's weights are float
    constants (a saved INT8 IR stores them as int8 constants and a dequantizing multiply instead)."""
    for op in model.get_ops():
        if op.get_friendly_name() in layers:
            sources = [i.get_source_output().get_node() for i in op.inputs()]
            if any(s.get_type_name() == "FakeQuantize" for s in sources):
                return False
            if float_weights and op.get_type_name() == "Convolution" and not (sources[1].get_type_name() == "Constant"
                                                            and sources[1].get_element_type().is_real()):
                return False
    return True


def test_search_gives_float_back_where_a_coarse_quantization_loses_measurably(pipeline, monkeypatch, tmp_path):
    """The ranking, bisection and guard on a real model that loses measurably: the pipeline's INT8 IR
    quantized to 8 levels on its first 5 quantized layers only (the rest read float), and "quantizing
    with an ignored scope" done by bypassing those layers' FakeQuantize. Oracles: each layer's ranked
    fidelity gain equals the one measured through the evaluation path (a saved IR, predict, COCOeval
    against FP32's confident detections); the float layers are the top of that ranking; the guard's mAP
    gain equals COCOeval's difference, and its verdict follows its interval."""
    import openvino as ov

    monkeypatch.chdir(pipeline)
    calib, classes, held = held_out_of(pipeline)
    core = ov_core()
    fp32 = core.read_model(str(pipeline / "models/ov_fp32/yolov5n.xml"))
    coarse = scope.with_levels(core.read_model(str(pipeline / "models/ov_int8/yolov5n.xml")), 8)
    candidates = scope.quantized_layers(coarse)[:5]
    rest = set(scope.quantized_layers(coarse)) - set(candidates)
    model, found = scope.search(fp32, lambda ignored: scope.with_float(coarse, rest | set(ignored)), [], held,
                                budget_points=0.10, rank_images=4, max_float=5, log=lambda s: None)
    assert found.int8_drop.lo > 0  # 8 levels on the first layers lose measurably even on 8 images
    assert found.outcome in ("float_kept", "float_rejected") and sorted(found.gains) == sorted(candidates)
    ref, _ = predict(OvRuntime(pipeline / "models/ov_fp32/yolov5n.xml", precision="f32"), calib.held_out_files,
                     batch=4, category_ids=classes.ids)
    reference = scope.as_ground_truth(held.gt, ref, scope.REFERENCE_CONF)
    rank_files = calib.held_out_files[:4]
    fidelity = {}
    for n in [None, *candidates]:  # the evaluation path: a saved IR, decoded files, COCOeval
        xml = tmp_path / f"{len(fidelity)}.xml"
        ov.save_model(scope.with_float(coarse, rest | ({n} if n else set())), str(xml), compress_to_fp16=False)
        dets, _ = predict(OvRuntime(xml, precision="f32"), rank_files, batch=2, category_ids=classes.ids)
        fidelity[n] = 100 * coco_map(scope.restrict_images(reference, held.image_ids[:4]), dets,
                                     per_class=False)["map50_95"]
    for n in candidates:
        assert found.gains[n] == pytest.approx(fidelity[n] - fidelity[None], abs=1e-3), n
    ranked = sorted(candidates, key=lambda n: -found.gains[n])
    k = len(found.float_layers or found.rejected)
    assert 1 <= k <= 5 and (found.float_layers or found.rejected) == ranked[:k]
    g = found.float_gain
    assert (found.outcome == "float_kept") == (g.lo > 0)
    kept = [s for s in found.steps if s["how"] == "quantized" and s["float_layers"] == k][-1]
    assert g.delta == pytest.approx(kept["heldout_map50_95"] - found.steps[0]["heldout_map50_95"], abs=2e-3)
    assert no_fake_quantize_feeds(model, found.float_layers, float_weights=False)
    assert found.predicted_drop <= 0.10 or k == 5 or found.outcome == "float_rejected"


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
