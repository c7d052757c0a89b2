"""The PyTorch baseline (bench-torch): the ONNX graph run in torch ops against ONNX Runtime and against
Ultralytics' own module, clear errors, and the stage with and without PyTorch installed."""

import importlib.util
import json

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror, sh
from onnx import TensorProto, helper

from yolo_cpu.errors import UserError
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.results.report import build
from yolo_cpu.runtime.preprocess import preprocess, read_image
from yolo_cpu.runtime.runtimes import OrtRuntime

pytestmark = [
    needs_mirror,
    pytest.mark.skipif(
        importlib.util.find_spec("torch") is None, reason="export extra not installed (./dev export-extra adds torch)"
    ),
]
V5, V8 = MIRROR / "models" / "yolov5n.onnx", MIRROR / "models" / "yolov8n.onnx"


@pytest.fixture(scope="module")
def image():
    return preprocess([read_image(sorted((MIRROR / "coco/images/val2017").glob("*.jpg"))[1])])[0]


@pytest.mark.parametrize("model,silu,sigmoid", [(V5, 57, 3), (V8, 57, 1)])
def test_onnx_graph_in_torch_ops_gives_onnx_runtime_s_outputs(model, silu, sigmoid, image):
    """Both layouts, real image; every conv's SiLU (Sigmoid + Mul in the export) runs as one op again,
    the head's lone sigmoids stay sigmoids."""
    from yolo_cpu.runtime.torch_runtime import TorchRuntime

    rt = TorchRuntime(model)
    ops = [step[0] for step in rt.module.steps]
    assert (ops.count("SiLU"), ops.count("Sigmoid")) == (silu, sigmoid)
    ours, ref = rt.infer(image), OrtRuntime(model).infer(image)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 0.01  # pixels; measured 0.0015-0.0026 (oneDNN against MLAS)


def test_ultralytics_module_and_onnx_graph_are_two_paths_to_one_answer(tmp_path, image):
    """The .pt path runs Ultralytics' own module (its code, not the ONNX); the mirror YOLOv8n's weights
    in it must give what our graph runner gives on the ONNX (measured: identical)."""
    pytest.importorskip("ultralytics")
    from yolo_cpu.models.ultralytics_export import pt_from_onnx
    from yolo_cpu.runtime.torch_runtime import TorchRuntime

    module = TorchRuntime(pt_from_onnx(V8, "yolov8n.yaml", tmp_path / "v8.pt"))
    assert module.settings()["module"] == "Ultralytics module of the .pt"
    assert np.abs(module.infer(image) - TorchRuntime(V8).infer(image)).max() <= 1e-4


def test_an_op_outside_the_yolo_set_is_an_error_naming_it_and_the_file(tmp_path):
    from yolo_cpu.runtime.torch_runtime import TorchRuntime

    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(UserError, match=r"erf\.onnx.*\['Erf'\]"):
        TorchRuntime(path)
    # a known op in a form the runner does not cover: refused when loading, naming the file and node
    resize = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear")
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    graph = helper.make_graph(
        [resize],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 16, 16])],
        [scales],
    )
    path = tmp_path / "linear.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(UserError, match=r"linear\.onnx: Resize node up uses a form"):
        TorchRuntime(path)


def test_bench_torch_times_pytorch_beside_both_runtimes(pipeline):
    r = read_results("bench_torch", pipeline)
    assert r["torch_installed"] is True and r["torch_fp32_settings"]["module"] == "ONNX graph in torch ops"
    assert r["max_abs_diff_vs_ort"] <= 0.01
    # no .pt: bench-torch depends on no model-source record that could change
    assert json.loads((pipeline / "data/inputs_checkpoint.json").read_text()) == {"checkpoint": None}
    for v in ("ort_fp32", "ov_fp32"):  # paired ratios agree with the pooled runs' images/s, inside their interval
        k = f"{v}_speedup_over_torch_best_ips"
        pooled = r[f"{v}_best_ips"] / r["torch_fp32_best_ips"]
        assert r[f"{k}_lo"] / 1.1 <= pooled <= r[f"{k}_hi"] * 1.1 and r[f"{k}_lo"] <= r[k] <= r[f"{k}_hi"]
    report = (pipeline / "metrics/report.md").read_text()
    assert "## PyTorch eager against ONNX Runtime and OpenVINO (FP32)" in report
    assert "torch ops" in report


def test_without_pytorch_the_stage_records_not_installed(pipeline):
    """The export extra is optional: without torch the stage writes its outputs and says so."""
    run = (
        "import runpy, sys; sys.modules['torch'] = None; "  # find_spec('torch') is then None
        "runpy.run_module('stages.bench_torch', run_name='__main__')"
    )
    try:
        sh(["python", "-c", run], pipeline)
        metrics = json.loads((pipeline / "metrics/bench_torch.json").read_text())
        assert metrics["torch_installed"] is False and set(metrics) == {"torch_installed"}
        assert "./dev export-extra" in read_results("bench_torch", pipeline)["note"]
        assert (pipeline / "plots/bench_torch_ips.csv").is_file()
        assert not (pipeline / "plots/bench_torch_ips.png").exists()  # no chart of empty axes
    finally:
        sh(["git", "checkout", "--", "metrics", "details", "plots"], pipeline)
    text = build({"bench_torch": {"torch_installed": False}}, "t")
    assert "PyTorch is not installed here" in text
