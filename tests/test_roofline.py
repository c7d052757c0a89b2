"""The roofline: operations counted from the ONNX graph (a hand count, and Ultralytics' published
GFLOPs), the peak per precision measured on a real OpenVINO convolution, and shares that refuse to
exceed the peak."""

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror
from onnx import TensorProto, helper, numpy_helper

from yolo_cpu.measure.roofline import PeakError, count_macs, measure_peak, share_of_peak
from yolo_cpu.pipeline.stage import read_results


def test_one_convolution_counted_by_hand(tmp_path):
    """Conv 3 -> 16, 3x3, stride 2, pad 1 on 64x64 gives 16 x 32 x 32 outputs of 3 x 3 x 3 MACs each;
    a depthwise conv (groups = channels) counts one input channel per output."""
    w = numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), "w")
    dw = numpy_helper.from_array(np.zeros((16, 1, 3, 3), np.float32), "dw")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], name="c"),
        helper.make_node("Conv", ["y", "dw"], ["z"], pads=[1, 1, 1, 1], group=16, name="d"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [w, dw],
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    c = count_macs(path)
    assert c["by_op"] == {"Conv": 16 * 32 * 32 * 3 * 9 + 16 * 32 * 32 * 1 * 9} and c["layers"] == 2
    assert c["gflops"] == round(2 * c["macs"] / 1e9, 3)


@needs_mirror
@pytest.mark.parametrize("model,published", [("yolov8n", 8.7), ("yolov5n", 4.5)])
def test_yolo_models_match_ultralytics_published_gflops(model, published):
    """Ultralytics' model summaries: YOLOv8n 8.7 GFLOPs, YOLOv5n (v7.0 table) 4.5 GFLOPs at 640."""
    assert round(count_macs(MIRROR / "models" / f"{model}.onnx")["gflops"], 1) == published


def test_a_share_above_the_peak_is_refused():
    assert share_of_peak(8.7, 50.0, 1000.0, "ov_int8") == pytest.approx(0.435)
    with pytest.raises(PeakError, match="more than the measured int8 peak"):
        share_of_peak(8.7, 50.0, 400.0, "ov_int8")


def test_the_int8_peak_convolution_runs_in_int8_and_beats_f32():
    """The FakeQuantize pattern must reach the CPU plugin's int8 kernels (else the 'INT8 peak' would
    be an f32 one), and on a CPU with VNNI an int8 convolution does more operations per second."""
    f32, i8 = (measure_peak(p, 128, 28, 0.5) for p in ("f32", "int8"))
    assert f32["conv_runs_in"] == "f32" and i8["conv_runs_in"] in ("u8", "i8")
    assert i8["gops"] > f32["gops"] > 0


@needs_mirror
def test_roofline_stage_and_report(pipeline):
    r = read_results("roofline", pipeline)
    assert r["model_gflops"] == count_macs(pipeline / "models/yolov5n.onnx")["gflops"]
    # two paths to one count: the dynamic-batch export counts per image what the fixed model does
    assert (
        count_macs(pipeline / "models/yolov5n_dynamic.onnx")["macs"]
        == count_macs(pipeline / "models/yolov5n.onnx")["macs"]
    )
    assert r["peak_f32_gops"] > 0 and r["peak_int8_gops"] > 0
    md = (pipeline / "metrics/report.md").read_text()
    assert "## Distance from this CPU's limit" in md
    rep = read_results("recommend", pipeline)
    for v, share in rep["shares_of_peak"].items():
        assert share is None or 0 < share <= 1, v
