"""How far each variant is from what this CPU can do: the model's operations counted from its ONNX
graph, this CPU's peak operations per second per precision measured with OpenVINO on a large
convolution (f32, bf16, and INT8 through FakeQuantize as NNCF writes it), and each variant's
achieved operations per second as a share of the peak for its precision."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.errors import UserError

# Which peak bounds a variant: the precision its convolutions run in.
PEAK_PRECISION = {
    "ort_fp32_fixed": "f32",
    "ort_fp32": "f32",
    "ort_int8": "int8",
    "ov_fp32": "f32",
    "ov_bf16": "bf16",
    "ov_int8": "int8",
    "ov_int8_bf16": "int8",
    "torch_fp32": "f32",
}
PRECISIONS = ("f32", "bf16", "int8")


class PeakError(UserError):
    """A share of the peak above 100%: the measured peak is not this CPU's limit."""


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def count_macs(onnx_path: str | Path) -> dict[str, Any]:
    """Multiply-accumulates per image of every Conv, ConvTranspose, MatMul and Gemm in an ONNX model,
    from its shapes after ONNX shape inference (a dynamic batch axis counts as one image). Returns
    {"macs": total, "by_op": {op type: macs}, "layers": count, "gflops": 2 * macs / 1e9} (a
    multiply-accumulate is two operations, as Ultralytics counts GFLOPs)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    g = model.graph
    shapes = {v.name: _dims(v) for v in [*g.value_info, *g.input, *g.output]}
    shapes.update({t.name: list(t.dims) for t in g.initializer})
    by_op: Counter[str] = Counter()
    layers = 0
    for node in g.node:
        if node.op_type not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue
        out, x, w = (shapes.get(t) or [] for t in (node.output[0], node.input[0], node.input[1]))
        if node.op_type == "Conv":  # out [N, Cout, H, W]; weight [Cout, Cin/groups, kh, kw]
            needed = out[1:] + w[1:]
        elif node.op_type == "ConvTranspose":  # weight [Cin, Cout/groups, kh, kw]: each input pixel once
            needed = x[1:] + w[1:]
        else:  # [..., M, K] x [K, N] (or batched): per output element K multiply-adds
            needed = out[1:] + x[-2:]
        # per image: a dynamic batch axis (the first) may stay unknown; what the count needs may not
        if not out or not w or not needed or None in needed:
            raise UserError(
                f"{onnx_path}: cannot count {node.op_type} {node.name!r}: its shapes are unknown "
                f"(input {x}, weight {w}, output {out})"
            )
        if node.op_type == "Conv":
            macs = int(np.prod(out[1:])) * int(np.prod(w[1:]))
        elif node.op_type == "ConvTranspose":
            macs = int(np.prod(x[1:])) * int(np.prod(w[1:]))
        else:
            k = x[-1] if node.op_type == "MatMul" or not _attr(node, "transA") else x[-2]
            macs = int(np.prod(out[1:])) * int(k)
        by_op[node.op_type] += macs
        layers += 1
    total = sum(by_op.values())
    return {"macs": total, "by_op": dict(by_op), "layers": layers, "gflops": round(2 * total / 1e9, 3)}


def _attr(node, name: str) -> int:
    return next((a.i for a in node.attribute if a.name == name), 0)


def peak_model(precision: str, channels: int, size: int):
    """An OpenVINO model of one 3x3 convolution, channels -> channels on size x size, same padding:
    f32 weights, or for int8 FakeQuantize on its input (u8 range) and weights (i8 range), the pattern
    NNCF writes and the CPU plugin runs as an int8 convolution. Returns (model, multiply-accumulates)."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, channels, size, size], ov.Type.f32, name="x")
    w = ops.constant(rng.uniform(-1, 1, (channels, channels, 3, 3)).astype(np.float32))
    src, weights = x, w
    if precision == "int8":

        def c(v: float):
            return ops.constant(np.float32(v))

        src = ops.fake_quantize(x, c(0.0), c(2.55), c(0.0), c(2.55), 256)
        weights = ops.fake_quantize(w, c(-1.27), c(1.27), c(-1.27), c(1.27), 255)
    conv = ops.convolution(src, weights, [1, 1], [1, 1], [1, 1], [1, 1])
    relu = ops.relu(conv)
    return ov.Model([relu], [x], f"peak_{precision}"), channels * channels * 9 * size * size


def measure_peak(precision: str, channels: int, size: int, seconds: float, rounds: int = 3) -> dict[str, Any]:
    """Operations per second of the peak model at `precision` with the THROUGHPUT hint (every core,
    an AsyncInferQueue kept full), the best of `rounds` rounds sharing `seconds` (a peak is the most
    the CPU did: a VM's slow spells only lower a round), and the precision the plugin ran its
    convolution in."""
    from yolo_cpu.measure.timing import async_throughput
    from yolo_cpu.runtime.runtimes import ov_core

    model, macs = peak_model(precision, channels, size)
    hint = "bf16" if precision == "bf16" else "f32"
    compiled = ov_core().compile_model(
        model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": hint}
    )
    x = np.random.default_rng(1).uniform(0, 2.55, (1, channels, size, size)).astype(np.float32)
    async_throughput(compiled, x, min(seconds / rounds, 1.0))  # warm-up
    ips = [async_throughput(compiled, x, seconds / rounds)["throughput_ips"] for _ in range(rounds)]
    return {
        "gops": round(2 * macs * max(ips) / 1e9, 2),
        "ips": round(max(ips), 2),
        "rounds_gops": [round(2 * macs * i / 1e9, 2) for i in ips],
        "macs": macs,
        "conv_runs_in": _conv_exec_precision(compiled),
    }


def _conv_exec_precision(compiled) -> str:
    """The precision the compiled model's convolution runs in (f32, bf16, u8 or i8), from its runtime
    graph."""
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) == "Convolution":
            return info["runtimePrecision"].astype(str)
    return "unknown"


def share_of_peak(gflops_per_image: float, images_per_s: float, peak_gops: float, variant: str) -> float:
    """A variant's achieved operations per second over the peak for its precision; above 1 the peak
    was not this CPU's limit, and no share is reported."""
    share = gflops_per_image * images_per_s / peak_gops
    if share > 1.0:
        raise PeakError(
            f"{variant} achieves {gflops_per_image * images_per_s:.1f} G operations/s, more than the "
            f"measured {PEAK_PRECISION.get(variant)} peak of {peak_gops:.1f}: the peak measurement is "
            "not this CPU's limit (raise roofline.channels or roofline.seconds)"
        )
    return round(share, 4)
