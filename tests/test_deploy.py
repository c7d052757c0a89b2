"""The deployment path: JPEG files in, detections out. Oracles: the evaluation path's detections on the
same images (shared preprocess, batch 1, postprocess) and numpy's preprocessing against the one inside
the compiled model."""
import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror

from stages.core.deploy import Detector, reference_detections
from stages.core.export import load_onnx, make_batch_dynamic
from stages.core.postprocess import match_rate
from stages.core.preprocess import ImageReadError

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
    from stages.core.stage import read_results

    m = read_results("bench_deploy", pipeline)
    for v in ("ov_fp32", "ov_int8_bf16"):  # the tiny params' variants
        assert m[f"{v}_deploy_best_ips"] > 0 and 0 < m[f"{v}_deploy_vs_model_only"] < 2
        assert m[f"{v}_deploy_b2_model_only_ips"] > 0 and m[f"{v}_deploy_b2_e2e_numpy_preprocessing_ips"] > 0
        assert m[f"{v}_deploy_agreement"] >= (0.97 if v == "ov_fp32" else 0.85)
    assert "## Deployment path" in (pipeline / "metrics" / "report.md").read_text()


def test_the_cli_exits_cleanly_every_time(pipeline):
    """scripts/detect.py closes its detector before exit: run repeatedly on the pipeline's INT8 IR (bf16
    float ops, batch 8) and its dynamic ONNX (f32, batch 1), every run exits 0 with one line per image.
    Before Detector.close(), about 1 run in 6 aborted at exit (terminate, exit code 134)."""
    import subprocess
    import sys

    from conftest import ROOT, tool_env
    from stages.core.runtimes import ov_supports_bf16

    images = [str(p) for p in IMAGES[:3]]
    runs = [(pipeline / "models/ov_int8/yolov5n.xml", "bf16" if ov_supports_bf16() else "f32", "8"),
            (pipeline / "models/yolov5n_dynamic.onnx", "f32", "1")]
    codes = []
    for i in range(12):
        model, precision, batch = runs[i % 2]
        proc = subprocess.run([sys.executable, str(ROOT / "scripts/detect.py"), str(model), *images,
                               "--precision", precision, "--batch", batch], capture_output=True, text=True,
                              env=tool_env(), cwd=pipeline)
        codes.append(proc.returncode)
        if proc.returncode == 0:
            assert len(proc.stdout.splitlines()) == len(images), proc.stdout
    assert codes == [0] * 12, f"exit codes {codes}"
