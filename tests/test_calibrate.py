"""calibrate on the real yolov5n with real calibration images (from the tiny pipeline run)."""
import json

import numpy as np
import onnx
import pytest

from conftest import MIRROR, needs_mirror, sh
from stages.core import quantize as q
from stages.core.postprocess import match_rate, postprocess
from stages.core.preprocess import preprocess, read_image
from stages.core.runtimes import OrtRuntime, OvRuntime

pytestmark = needs_mirror


def test_head_scope_patterns_on_real_names():
    names = [n.name for n in onnx.load(str(MIRROR / "models" / "yolov5n.onnx")).graph.node]
    assert q.head_index(names) == 24
    decode = q.matching(names, q.head_patterns(names, include_convs=False))
    assert "/model.24/Sigmoid" in decode and "/model.24/Pow" in decode and "/model.24/Concat" in decode
    assert not any("Conv" in n for n in decode) and not any(n.startswith("/model.23/") for n in decode)
    with_convs = q.matching(names, q.head_patterns(names, include_convs=True))
    assert {"/model.24/m.0/Conv", "/model.24/m.2/Conv"} <= set(with_convs)
    with pytest.raises(q.QuantizeError, match="cannot locate the detect head"):
        q.head_index(["conv1", "relu1"])


def test_imagenet_normalization_is_what_it_says():
    img = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[0]
    plain = q.calibration_transform(640, "none")(img)
    imnet = q.calibration_transform(640, "imagenet")(img)
    np.testing.assert_allclose(imnet, (plain - q.IMAGENET_MEAN) / q.IMAGENET_STD, rtol=1e-5)
    np.testing.assert_array_equal(plain, preprocess([read_image(img)])[0])  # the shared preprocessing


def test_int8_models_made_and_agree_with_fp32(pipeline):
    m = json.loads((pipeline / "metrics/calibrate.json").read_text())
    assert m["calib_images_used"] == 12 and m["check_images"] == 4
    assert m["ov_ignored_nodes"] > 0 and m["ort_ignored_nodes"] > 0
    assert m["ov_fake_quantize_nodes"] > 20 and m["ort_quantize_linear_nodes"] > 20
    assert m["bytes_int8_ir"] < 0.6 * m["bytes_fp32_ir"] and m["bytes_int8_onnx"] < 0.6 * m["bytes_fp32_onnx"]
    assert m["agreement_ov_int8_vs_f32"] >= 0.7 and m["agreement_ort_int8_vs_fp32"] >= 0.7
    # and on evaluation images (never seen by calibration)
    imgs = sorted((pipeline / "data/eval/images").glob("*.jpg"))[:6]
    x, lbs = preprocess([read_image(p) for p in imgs])
    models = pipeline / "models"
    pairs = [(OvRuntime(models / "ir/yolov5n.xml", precision="f32"), OvRuntime(models / "int8/yolov5n_int8.xml")),
             (OrtRuntime(models / "yolov5n_dynamic.onnx"), OrtRuntime(models / "int8/yolov5n_int8_ort.onnx"))]
    for fp32, int8 in pairs:
        assert match_rate(postprocess(fp32.infer(x), lbs), postprocess(int8.infer(x), lbs)) >= 0.7


def test_subset_larger_than_split_warns_and_uses_what_exists(pipeline, in_repo):
    from stages.calibrate import split_calibration

    in_repo(pipeline)
    with pytest.warns(UserWarning, match="calibrate.subset_size=50 > 12 calibration images available"):
        used, held, asked = split_calibration({"subset_size": 50, "check_images": 4})
    assert len(used) == 12 and len(held) == 4 and asked == 50 and not set(used) & set(held)


def test_empty_calibration_split_is_a_clear_error(pipeline):
    images = pipeline / "data/calib/images"
    moved = pipeline / "data/calib/images_moved"
    images.rename(moved)
    images.mkdir()
    try:
        proc = sh(["python", "-m", "stages.calibrate"], pipeline, check=False)
        assert proc.returncode == 1 and "error: split data/calib has no images" in proc.stderr
    finally:
        images.rmdir()
        moved.rename(images)


def test_accuracy_control_validates_on_held_out_calibration_images(tmp_path):
    from conftest import make_repo

    repo = make_repo(tmp_path / "repo", {
        "data": {"eval_images": 4, "calib_images": 24},
        "calibrate": {"subset_size": 12, "check_images": 12, "accuracy_control": True, "max_drop": 0.01},
        "export": {"verify_batches": [1]}, "convert": {"verify_batches": [1]}})
    sh(["dvc", "repro", "calibrate"], repo)
    m = json.loads((repo / "metrics/calibrate.json").read_text())
    assert m["accuracy_control"] is True and m["check_images"] == 12
    f32, int8 = m["accuracy_control_heldout_map50_95_f32"], m["accuracy_control_heldout_map50_95_int8"]
    assert 5 < f32 < 80 and f32 - int8 <= 100 * 0.01 + 0.5  # NNCF kept the drop near max_drop
    assert (repo / "models/int8/yolov5n_int8.xml").exists()


def test_histogram_calibration_that_cannot_fit_in_memory_is_refused_up_front():
    from stages.calibrate import check_ort_memory

    check_ort_memory({"ort_method": "qdq_minmax", "subset_size": 100000})  # min/max keeps no activations
    with pytest.raises(q.QuantizeError, match=r"calibrate.ort_method=qdq_entropy keeps all activations in memory.*"
                                              r"calibrate.subset_size=100000"):
        check_ort_memory({"ort_method": "qdq_entropy", "subset_size": 100000})


def test_nncf_onnx_path_for_onnx_runtime(tmp_path):
    """calibrate.ort_method: nncf quantizes the ONNX model with NNCF's ONNX backend."""
    from stages.core.export import load_onnx, make_batch_dynamic

    src = tmp_path / "dyn.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(src))
    names = [n.name for n in onnx.load(str(src)).graph.node]
    exclude = q.matching(names, q.head_patterns(names, include_convs=True))
    images = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:6]
    out = tmp_path / "int8.onnx"
    q.ort_quantize_nncf(src, out, images[:4], q.calibration_transform(640, "none"), "mixed", True, exclude)
    assert q.count_quantized_onnx(out) > 20
    x, lbs = preprocess([read_image(p) for p in images[4:]])
    ref, got = OrtRuntime(src).infer(x), OrtRuntime(out).infer(x)
    assert match_rate(postprocess(ref, lbs), postprocess(got, lbs)) >= 0.6
