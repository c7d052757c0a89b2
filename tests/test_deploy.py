"""The deployment path: JPEG files in, detections out. Oracles: the evaluation path's detections on the
same images (shared preprocess, batch 1, postprocess) and numpy's preprocessing against the one inside
the compiled model."""

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror

from yolo_cpu.deploy.detector import Detector, reference_detections
from yolo_cpu.models.export import load_onnx, make_batch_dynamic
from yolo_cpu.runtime.postprocess import match_rate
from yolo_cpu.runtime.preprocess import ImageReadError

pytestmark = needs_mirror
IMAGES = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:6]


@pytest.fixture(scope="module")
def dynamic_v8(tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "yolov8n_dynamic.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov8n.onnx"))[0], str(path))
    return path


@pytest.mark.parametrize("batch,in_model", [(1, True), (4, True), (4, False)])
def test_detections_match_the_evaluation_path_in_order(dynamic_v8, batch, in_model):
    ref = reference_detections(dynamic_v8, "f32", IMAGES, 640)
    got = Detector(dynamic_v8, "f32", batch=batch, in_model_preprocessing=in_model).detect(IMAGES)
    assert len(got) == len(IMAGES) and sum(len(d) for d in ref) > 10  # 6 images, the last batch of 4 padded
    assert match_rate(ref, got) == 1.0 and match_rate(got, ref) == 1.0
    for r, g in zip(ref, got):  # same image order, same boxes up to float rounding (x/255 against x * (1/255))
        assert len(r) == len(g) and np.abs(np.sort(r.scores) - np.sort(g.scores)).max() < 1e-3


def test_in_model_preprocessing_gives_the_numpy_path_s_model_input(dynamic_v8):
    det = Detector(dynamic_v8, "f32", batch=2)
    numpy_pre = Detector(dynamic_v8, "f32", batch=2, in_model_preprocessing=False)
    b = next(det.batches(IMAGES[:2]))
    assert b.images.dtype == np.uint8 and b.images.shape == (2, 640, 640, 3)
    a = det.compiled({0: det.model_input(b)})[0]
    c = numpy_pre.compiled({0: numpy_pre.model_input(b)})[0]
    assert a.shape == c.shape == (2, 84, 8400) and np.abs(a - c).max() < 0.05  # pixels, out of 640


def test_a_corrupt_image_is_an_error_naming_it(dynamic_v8, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(IMAGES[0].read_bytes()[:200])
    with pytest.raises(ImageReadError, match="broken.jpg"):
        Detector(dynamic_v8, "f32", batch=2).detect([IMAGES[0], bad, IMAGES[1]])


def test_bench_deploy_stage_times_every_variant_and_checks_its_detections(pipeline):
    from yolo_cpu.pipeline.stage import read_results

    m = read_results("bench_deploy", pipeline)
    from conftest import TINY

    for v in TINY["bench_deploy"]["variants"]:  # the tiny params' variants, all runnable here
        assert m[f"{v}_deploy_best_ips"] > 0 and 0 < m[f"{v}_deploy_vs_model_only"] < 2
        assert m[f"{v}_deploy_b2_model_only_ips"] > 0 and m[f"{v}_deploy_b2_e2e_numpy_preprocessing_ips"] > 0
        assert m[f"{v}_deploy_agreement"] >= (0.97 if v == "ov_fp32" else 0.85)
    assert "## Deployment path" in (pipeline / "metrics" / "report.md").read_text()


def test_onnx_runtime_and_openvino_find_the_same_objects(dynamic_v8):
    """Two runtimes behind one Detector, one answer: same boxes and classes on the same dynamic ONNX."""
    with Detector(dynamic_v8, batch=4, runtime="onnxruntime") as ort, Detector(dynamic_v8, batch=4) as ov:
        a, b = ort.detect(IMAGES), ov.detect(IMAGES)
        assert ort.names is not None and ort.names[:2] == ov.names[:2] == ("person", "bicycle")
    assert sum(len(d) for d in a) > 10 and match_rate(a, b) >= 0.98 and match_rate(b, a) >= 0.98


def test_skip_bad_keeps_the_order_and_reports_the_broken_image(dynamic_v8, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(IMAGES[0].read_bytes()[:200])
    with Detector(dynamic_v8, batch=2) as det:
        got = det.detect([IMAGES[0], bad, IMAGES[1], bad], skip_bad=True)
        ref = det.detect([IMAGES[0], IMAGES[1]])
    assert isinstance(got[1], ImageReadError) and isinstance(got[3], ImageReadError) and "broken.jpg" in str(got[1])
    assert match_rate([got[0], got[2]], ref) == 1.0 and match_rate(ref, [got[0], got[2]]) == 1.0
