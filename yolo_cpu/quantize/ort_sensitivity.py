"""Which layers ONNX Runtime's INT8 should keep in float.

ORT's QLinearConv must quantize each conv's output, and in YOLO that output is the SiLU's input.
Where its range is wide (early layers reach 100+), the 8-bit step wipes out the SiLU's curve near
zero; measured on yolov5n, that costs most of ORT INT8's mAP loss, while OpenVINO (which keeps conv
outputs in higher precision) does not lose it. So we measure, per SiLU, the signal-to-quantization-
noise ratio of SiLU(x) against SiLU(quantized x) under the uint8 range ORT's calibration will pick,
and keep the least precise layers in float. Separately, convs with very few input channels (the
RGB stem) run slower in ORT's int8 kernel than in float, so they stay float too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEM_MAX_INPUT_CHANNELS = 4  # measured: the 3-channel 6x6 stem conv is 2.4x slower in ORT int8 than float


@dataclass(frozen=True)
class SiluLayer:
    """A Conv whose output x feeds x * Sigmoid(x)."""

    tensor: str  # the conv output (SiLU input)
    nodes: tuple[str, ...]  # conv, sigmoid, mul


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def silu_layers(model) -> list[SiluLayer]:
    """Conv -> Sigmoid -> Mul(x, sigmoid(x)) patterns of an ONNX model."""
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = []
    for n in model.graph.node:
        if n.op_type != "Sigmoid":
            continue
        x, conv = n.input[0], producer.get(n.input[0])
        muls = [m for m in consumers.get(n.output[0], []) if m.op_type == "Mul" and set(m.input) == {x, n.output[0]}]
        if conv is not None and conv.op_type == "Conv" and len(muls) == 1:
            out.append(SiluLayer(x, (conv.name, n.name, muls[0].name)))
    return out


def stem_nodes(model, layers: list[SiluLayer]) -> list[str]:
    """Convs with at most STEM_MAX_INPUT_CHANNELS input channels, with their SiLU nodes."""
    weights = {i.name: i for i in model.graph.initializer}
    stem = {
        n.name
        for n in model.graph.node
        if n.op_type == "Conv" and n.input[1] in weights and weights[n.input[1]].dims[1] <= STEM_MAX_INPUT_CHANNELS
    }
    nodes = set(stem)
    for layer in layers:
        if layer.nodes[0] in stem:
            nodes.update(layer.nodes)
    return sorted(nodes)


def uint8_params(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point ONNX Runtime derives from a calibrated range (0 always representable)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    return scale, int(np.clip(np.round(-lo / scale), 0, 255))


def fake_quant(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.clip(np.round(x / scale) + zero_point, 0, 255) - zero_point) * scale


def silu_sqnr_db(values_per_image, n_tensors: int) -> np.ndarray:
    """SQNR (dB) of SiLU under uint8 quantization of its input, per tensor.

    `values_per_image` is a callable returning a fresh iterator over images, each a list of
    n_tensors arrays. Ranges are the mean of per-image min/max (ORT's CalibMovingAverage)."""
    lo, hi, n = np.zeros(n_tensors), np.zeros(n_tensors), 0
    for vals in values_per_image():
        lo += [float(v.min()) for v in vals]
        hi += [float(v.max()) for v in vals]
        n += 1
    if n == 0:
        raise ValueError("no images to measure SiLU sensitivity on")
    params = [uint8_params(a / n, b / n) for a, b in zip(lo, hi)]
    signal, noise = np.zeros(n_tensors), np.zeros(n_tensors)
    for vals in values_per_image():
        for i, v in enumerate(vals):
            y = silu(v)
            signal[i] += float(np.mean(y * y))
            noise[i] += float(np.mean((silu(fake_quant(v, *params[i])) - y) ** 2))
    return 10.0 * np.log10(np.maximum(signal, 1e-30) / np.maximum(noise, 1e-30))


def probe(model, names: list[str], inputs: list[np.ndarray]):
    """A callable giving a fresh iterator over `inputs`: per input, the values of tensors `names`
    of an ONNX model (loaded, float), from one ONNX Runtime session with those as extra outputs."""
    import onnx
    import onnxruntime as ort

    probed = onnx.ModelProto()
    probed.CopyFrom(model)
    have = {o.name for o in probed.graph.output}
    probed.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in names if t not in have)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(probed.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = probed.graph.input[0].name
    return lambda: (sess.run(names, {feed: x}) for x in inputs)


def measure_silu_sqnr(model, inputs: list[np.ndarray]) -> dict[str, float]:
    """SQNR (dB) per SiLU input tensor of an ONNX model (loaded, float) on preprocessed inputs."""
    names = [layer.tensor for layer in silu_layers(model)]
    db = silu_sqnr_db(probe(model, names, inputs), len(names))
    return {t: round(float(d), 2) for t, d in zip(names, db)}


# Ops whose quantized output takes its input's scale and zero point in ORT's QDQ quantizer
# (QDQDirect8BitOp, QDQResize, QDQMaxPool, QDQSplit, QDQPad): a range override on their output is moot.
SHARED_PARAMS_OPS = {
    "Resize",
    "MaxPool",
    "AveragePool",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Slice",
    "Split",
    "Pad",
}


def concat_groups(model, exclude: set[str]) -> list[set[str]]:
    """Tensors that must share one uint8 scale and zero point so that each quantized Concat (not in
    `exclude`) copies its inputs instead of requantizing them: every input and the output of each,
    followed up through ops that pass their input's parameters on (an upsample's input, say);
    groups that share a tensor merged."""
    consts = {i.name for i in model.graph.initializer} | {
        o for n in model.graph.node if n.op_type == "Constant" for o in n.output
    }
    producer = {o: n for n in model.graph.node for o in n.output}
    groups: list[set[str]] = []
    for n in model.graph.node:
        if n.op_type != "Concat" or n.name in exclude or any(i in consts for i in n.input):
            continue
        group = {*n.input, n.output[0]}
        for t in list(group):
            while (p := producer.get(t)) is not None and p.op_type in SHARED_PARAMS_OPS and p.name not in exclude:
                t = p.input[0]
                group.add(t)
        for g in [g for g in groups if g & group]:
            group |= g
            groups.remove(g)
        groups.append(group)
    return groups


def shared_concat_ranges(model, inputs: list[np.ndarray], exclude: set[str]) -> dict[str, list[dict[str, float]]]:
    """ORT TensorQuantOverrides giving every tensor of a concat group (concat_groups) the group's
    range: the union of its tensors' ranges, each the mean of per-image min/max as calibration takes it."""
    groups = concat_groups(model, exclude)
    names = sorted(set().union(*groups)) if groups else []
    if not names:
        return {}
    lo, hi, n = np.zeros(len(names)), np.zeros(len(names)), 0
    for vals in probe(model, names, inputs)():
        lo += [float(v.min()) for v in vals]
        hi += [float(v.max()) for v in vals]
        n += 1
    rng = {t: (a / n, b / n) for t, a, b in zip(names, lo, hi)}
    out = {}
    for g in groups:
        # numpy float32 values: ORT's compute_scale_zp reads their dtype
        shared = {"rmin": np.float32(min(rng[t][0] for t in g)), "rmax": np.float32(max(rng[t][1] for t in g))}
        out.update({t: [dict(shared)] for t in g})
    return out


def float_layers(
    model, inputs: list[np.ndarray], min_sqnr_db: float, float_stem: bool
) -> tuple[list[str], dict[str, float]]:
    """Node names to keep float (imprecise SiLU layers and the stem) and the SQNR of every SiLU layer."""
    layers = silu_layers(model)
    sqnr = measure_silu_sqnr(model, inputs) if layers else {}
    nodes = set(stem_nodes(model, layers)) if float_stem else set()
    for layer in layers:
        if sqnr.get(layer.tensor, np.inf) < min_sqnr_db:
            nodes.update(layer.nodes)
    return sorted(nodes), sqnr
