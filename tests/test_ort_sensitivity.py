"""Which layers ONNX Runtime INT8 keeps float: SQNR of SiLU under uint8 input quantization."""
import csv

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror

from stages.core import ort_sensitivity as s
from stages.core.stage import read_results


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
