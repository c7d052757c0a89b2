"""Which layers ONNX Runtime INT8 keeps float: SQNR of SiLU under uint8 input quantization."""

import csv

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror

from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.quantize import ort_sensitivity as s


def test_uint8_params_match_onnxruntime_rules():
    assert s.uint8_params(-1.0, 3.0) == (pytest.approx(4 / 255), 64)
    assert s.uint8_params(2.0, 5.0) == (pytest.approx(5 / 255), 0)  # zero stays representable
    assert s.uint8_params(-6.0, -1.0) == (pytest.approx(6 / 255), 255)


def test_sqnr_of_exactly_representable_values_is_huge():
    scale, zp = s.uint8_params(-1.0, 3.0)
    grid = (np.arange(256) - zp) * scale
    db = s.silu_sqnr_db(lambda: iter([[grid.astype(np.float32)]]), 1)
    assert db[0] > 100


def test_an_outlier_that_widens_the_range_costs_sqnr():
    rng = np.random.default_rng(0)
    bulk = rng.uniform(-4, 4, 100_000).astype(np.float32)
    wide = bulk.copy()
    wide[0] = 400.0  # range 50x wider: 8 bits spread over it, the bulk gets ~1/50 of the levels
    images = lambda: iter([[bulk, wide]])  # noqa: E731
    narrow_db, wide_db = s.silu_sqnr_db(images, 2)
    assert 35 < narrow_db < 60 and narrow_db - wide_db > 25


@needs_mirror
def test_silu_layers_and_stem_of_real_yolov5n():
    model = onnx.load(str(MIRROR / "models" / "yolov5n.onnx"))
    layers = s.silu_layers(model)
    assert len(layers) == 57
    first = next(layer for layer in layers if layer.tensor == "/model.0/conv/Conv_output_0")
    assert first.nodes == ("/model.0/conv/Conv", "/model.0/act/Sigmoid", "/model.0/act/Mul")
    assert s.stem_nodes(model, layers) == sorted(first.nodes)


@needs_mirror
def test_quantize_ort_keeps_stem_and_imprecise_layers_float(pipeline):
    m = read_results("quantize_ort", pipeline)
    assert "/model.0" in m["float_layers"]  # quantize_ort.float_stem is on
    rows = list(csv.DictReader(open(pipeline / "plots/ort_silu_sqnr.csv")))
    assert len(rows) == 57 and all(10 < float(r["sqnr_db"]) < 80 for r in rows)
    below = [r["layer"] for r in rows if float(r["sqnr_db"]) < 30.0]  # quantize_ort.min_sqnr_db
    assert len(below) == m["silu_layers_below_min_sqnr"]
    assert all(r["kept_float"] == "True" for r in rows if r["layer"] in below)
    # in the INT8 model those convs take float weights straight from initializers (no DequantizeLinear)
    q = onnx.load(str(pipeline / "models/ort_int8/yolov5n.onnx"))
    floats = {i.name for i in q.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    conv = {n.name: n for n in q.graph.node if n.op_type == "Conv"}
    for layer in ["/model.0/conv"] + below:
        assert conv[f"{layer}/Conv"].input[1] in floats
    quantized = [n for n in conv.values() if n.input[1] not in floats]
    assert quantized, "no conv was left quantized"


def concat_params(path) -> dict[str, set]:
    """Per Concat of a QDQ model: the (scale, zero point) of its DequantizeLinear inputs and of the
    QuantizeLinear of its output."""
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers: dict = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def qparams(node):
        return float(init[node.input[1]]), int(init[node.input[2]])

    out = {}
    for n in model.graph.node:
        if n.op_type != "Concat":
            continue
        dqs = [producer.get(i) for i in n.input]
        qs = [c for c in consumers.get(n.output[0], []) if c.op_type == "QuantizeLinear"]
        if all(d is not None and d.op_type == "DequantizeLinear" for d in dqs) and qs:
            out[n.name] = {qparams(d) for d in dqs} | {qparams(q) for q in qs}
    return out


@needs_mirror
def test_align_concat_gives_each_quantized_concat_one_scale_and_zero_point(tmp_path):
    """quantize_ort.align_concat: every quantized Concat's inputs and output carry the same uint8
    parameters, so ONNX Runtime's QLinearConcat can copy; without it they differ."""
    from yolo_cpu.data import calibration as cal
    from yolo_cpu.models.export import load_onnx, make_batch_dynamic
    from yolo_cpu.quantize import quantize_ort
    from yolo_cpu.quantize.head import head_patterns

    src = tmp_path / "dyn.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov5n.onnx"))[0], str(src))
    names = [n.name for n in onnx.load(str(src)).graph.node]
    images = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:8]
    inputs = cal.calibration_inputs(images, 640, "none")
    params = {}
    for align in (False, True):
        out = tmp_path / f"int8_{align}.onnx"
        kept = quantize_ort.quantize_qdq(
            src, out, inputs, "qdq_minmax", head_patterns(names, True), 30.0, True, 8, align_concat=align
        )
        params[align] = concat_params(out)
        assert (kept["aligned_concat_tensors"] > 0) == align
    assert len(params[True]) >= 10 and params[True].keys() == params[False].keys()
    assert all(len(p) == 1 for p in params[True].values()), params[True]
    assert sum(len(p) > 1 for p in params[False].values()) >= 5
