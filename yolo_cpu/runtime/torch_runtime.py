"""PyTorch eager on CPU behind the runtime interface (the export extra): an Ultralytics .pt as its own
module, or an ONNX graph run node by node with torch ops.

The ONNX path is ours because both registry converters (onnx2torch 1.5.15, onnx2pytorch 0.6.0) import
torchvision at import time, and the registry's torchvision 0.28 wheel is linked against CUDA torch: its
_C.so does not load beside the CPU torch 2.13 build ("operator torchvision::nms does not exist"). It
covers the ops YOLOv5/YOLOv8/YOLO11 exports use; any other op is a clear error naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from yolo_cpu.errors import UserError
from yolo_cpu.runtime.runtimes import Runtime


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _reshape(x: torch.Tensor, shape: torch.Tensor, allowzero: int = 0) -> torch.Tensor:
    dims = _ints(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _slice(x: torch.Tensor, starts, ends, axes=None, steps=None) -> torch.Tensor:
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st != 1:
            raise UserError(f"Slice with step {st} is not supported by the torch graph runner")
        n = x.shape[a]
        index[a] = slice(max(-n, min(s, n)), max(-n, min(e, n)))
    return x[tuple(index)]


def _split(
    x: torch.Tensor,
    split: torch.Tensor | None = None,
    *,
    axis: int = 0,
    num_outputs: int = 0,
    split_attr: list[int] | None = None,
    outputs: int = 1,
) -> tuple[torch.Tensor, ...]:
    sizes = _ints(split) if split is not None else split_attr
    if sizes is None:
        return torch.chunk(x, num_outputs or outputs, dim=axis)
    return torch.split(x, sizes, dim=axis)


def _resize(x: torch.Tensor, roi=None, scales=None, sizes=None, *, mode: bytes = b"nearest", **_: Any) -> torch.Tensor:
    if mode != b"nearest":
        raise UserError(f"Resize mode {mode.decode()} is not supported by the torch graph runner")
    if sizes is not None and sizes.numel():
        return F.interpolate(x, size=_ints(sizes)[2:], mode="nearest")
    factors = [float(s) for s in scales.tolist()[2:]]
    return F.interpolate(x, scale_factor=factors, mode="nearest")


def _maxpool(x: torch.Tensor, *, kernel_shape, strides=None, pads=None, ceil_mode=0, dilations=None) -> torch.Tensor:
    pads = pads or [0] * (2 * len(kernel_shape))
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        x = F.pad(x, [p for i in reversed(range(half)) for p in (pads[i], pads[i + half])], value=float("-inf"))
        pads = [0] * len(pads)
    return F.max_pool2d(x, kernel_shape, strides or kernel_shape, pads[:half], dilations or 1, bool(ceil_mode))


_DTYPES = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.BOOL: torch.bool,
}

# op -> f(inputs, attributes, number of outputs); inputs are tensors or None for an empty name.
_OPS: dict[str, Callable[..., Any]] = {
    "Sigmoid": lambda i, a, n: torch.sigmoid(i[0]),
    "SiLU": lambda i, a, n: F.silu(i[0]),
    "Mul": lambda i, a, n: i[0] * i[1],
    "Add": lambda i, a, n: i[0] + i[1],
    "Sub": lambda i, a, n: i[0] - i[1],
    "Div": lambda i, a, n: i[0] / i[1],
    "Pow": lambda i, a, n: torch.pow(i[0], i[1]),
    "Floor": lambda i, a, n: torch.floor(i[0]),
    "MatMul": lambda i, a, n: torch.matmul(i[0], i[1]),
    "Concat": lambda i, a, n: torch.cat(i, dim=a["axis"]),
    "MaxPool": lambda i, a, n: _maxpool(i[0], **a),
    "Resize": lambda i, a, n: _resize(*i, **a),
    "Reshape": lambda i, a, n: _reshape(i[0], i[1], a.get("allowzero", 0)),
    "Transpose": lambda i, a, n: i[0].permute(a["perm"]),
    "Split": lambda i, a, n: _split(
        *i, axis=a.get("axis", 0), num_outputs=a.get("num_outputs", 0), split_attr=a.get("split"), outputs=n
    ),
    "Slice": lambda i, a, n: _slice(*i),
    "Softmax": lambda i, a, n: torch.softmax(i[0], dim=a.get("axis", -1)),
    "Shape": lambda i, a, n: torch.tensor(i[0].shape, dtype=torch.int64),
    "Cast": lambda i, a, n: i[0].to(_DTYPES[a["to"]]),
    "Unsqueeze": lambda i, a, n: i[0].reshape(_unsqueezed(i[0].shape, _ints(i[1]) if len(i) > 1 else a["axes"])),
    "Gather": lambda i, a, n: torch.index_select(i[0], a.get("axis", 0), i[1].reshape(-1)).reshape(
        (*i[0].shape[: a.get("axis", 0)], *i[1].shape, *i[0].shape[a.get("axis", 0) + 1 :])
    ),
    "Identity": lambda i, a, n: i[0],
}


def _unsqueezed(shape: torch.Size, axes: list[int]) -> list[int]:
    out = list(shape)
    for axis in sorted(a % (len(shape) + len(axes)) for a in axes):
        out.insert(axis, 1)
    return out


def _silu_pairs(graph: onnx.GraphProto) -> dict[str, tuple[str, str]]:
    """{Sigmoid node name: (x, its Mul's output)} for every x * sigmoid(x) whose sigmoid feeds nothing else."""
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for i in node.input:
            users.setdefault(i, []).append(node)
    pairs = {}
    for node in graph.node:
        if node.op_type == "Sigmoid" and len(use := users.get(node.output[0], [])) == 1:
            mul = use[0]
            if mul.op_type == "Mul" and set(mul.input) == {node.input[0], node.output[0]}:
                pairs[node.name] = (node.input[0], mul.output[0])
    return pairs


class OnnxGraphModule(torch.nn.Module):
    """An ONNX model's graph as a torch module: convolutions as nn.Conv2d (oneDNN), every other node
    the matching torch op, run in the graph's (topological) order."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        model = onnx.load(str(path))
        graph = model.graph
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.consts: dict[str, torch.Tensor] = {
            i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer
        }
        self.convs = torch.nn.ModuleDict()
        self.steps: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        unknown = sorted({n.op_type for n in graph.node} - set(_OPS) - {"Conv", "Constant", "SiLU"})
        if unknown:
            raise UserError(
                f"{path}: the PyTorch baseline runs ONNX graphs of the ops YOLO exports use; "
                f"{unknown} are not among them (give an Ultralytics .pt as model.source instead)"
            )
        silu = _silu_pairs(graph)  # Sigmoid + Mul: the nn.SiLU the export expanded, one op again
        silu_input = dict(v[::-1] for v in silu.values())
        for k, node in enumerate(graph.node):
            a = _attrs(node)
            if node.name in silu:
                continue
            if node.output[0] in silu_input:
                self.steps.append(("SiLU", [silu_input[node.output[0]]], list(node.output), {}))
            elif node.op_type == "Constant":
                self.consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            elif node.op_type == "Conv":
                self.convs[str(k)] = self._conv(node, a)
                self.steps.append(("Conv", [node.input[0]], list(node.output), {"index": str(k)}))
            else:
                self.steps.append((node.op_type, list(node.input), list(node.output), a))

        for node in graph.node:  # forms of known ops not covered (after the constants are known)
            a = _attrs(node)
            step = node.input[4] if node.op_type == "Slice" and len(node.input) > 4 else ""
            if (
                (node.op_type == "Resize" and a.get("mode", b"nearest") != b"nearest")
                or (
                    node.op_type == "Conv"
                    and (
                        a.get("pads", [0] * 4)[:2] != a.get("pads", [0] * 4)[2:]
                        or a.get("auto_pad", b"NOTSET") != b"NOTSET"
                    )
                )
                or (step in self.consts and bool((self.consts[step] != 1).any()))
            ):
                raise UserError(
                    f"{path}: {node.op_type} node {node.name} uses a form the PyTorch baseline's "
                    "ONNX runner does not cover (Resize other than nearest, asymmetric or auto Conv "
                    "padding, Slice steps); give an Ultralytics .pt as model.source instead"
                )

        # Free each intermediate after its last use, as a module's forward does (keeping them all
        # alive was 1.6x slower on yolov8n at batch 2 in a 10-run check).
        last = {name: k for k, (_, inputs, _, _) in enumerate(self.steps) for name in inputs}
        keep = set(self.consts) | {self.output_name, ""}
        self.drop = [
            {n for n in inputs if last.get(n) == k and n not in keep} for k, (_, inputs, _, _) in enumerate(self.steps)
        ]

    def _conv(self, node: onnx.NodeProto, a: dict[str, Any]) -> torch.nn.Conv2d:
        w = self.consts[node.input[1]]
        pads = a.get("pads", [0, 0, 0, 0])  # symmetric: checked in __init__
        conv = torch.nn.Conv2d(
            w.shape[1] * a.get("group", 1),
            w.shape[0],
            tuple(w.shape[2:]),
            stride=tuple(a.get("strides", [1, 1])),
            padding=tuple(pads[:2]),
            dilation=tuple(a.get("dilations", [1, 1])),
            groups=a.get("group", 1),
            bias=len(node.input) > 2 and bool(node.input[2]),
        )
        conv.weight.data = w.float()
        if conv.bias is not None:
            conv.bias.data = self.consts[node.input[2]].float()
        return conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {**self.consts, self.input_name: x}
        for (op, inputs, outputs, a), drop in zip(self.steps, self.drop):
            if op == "Conv":
                result: Any = self.convs[a["index"]](values[inputs[0]])
            else:
                result = _OPS[op]([values[i] if i else None for i in inputs], a, len(outputs))
            if isinstance(result, torch.Tensor):
                result = (result,)
            values.update(zip(outputs, result))
            for name in drop:
                del values[name]
        return values[self.output_name]


def ultralytics_module(pt: Path) -> torch.nn.Module:
    """The .pt's own module, BatchNorm fused as in its ONNX export, float32, eval mode; its forward
    returns the raw head output (what the ONNX export outputs), not the training tuple."""
    from ultralytics import YOLO

    net = YOLO(str(pt)).model.fuse().float().eval()

    class RawOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.net(x)
            return y[0] if isinstance(y, (tuple, list)) else y

    return RawOutput()


class TorchRuntime(Runtime):
    """PyTorch eager, float32, inference mode, `threads` intra-op threads (0 = torch's default)."""

    kind = "pytorch"

    def __init__(self, model_path: str | Path, threads: int = 0) -> None:
        super().__init__(model_path, threads=threads)
        if threads:
            torch.set_num_threads(threads)
        # Both files were read and checked by earlier stages (download, export): a failure here is a bug.
        if self.model_path.suffix.lower() == ".pt":
            self.module, self.source = ultralytics_module(self.model_path), "Ultralytics module of the .pt"
        else:
            self.module, self.source = OnnxGraphModule(self.model_path).eval(), "ONNX graph in torch ops"
        self._shape = [None, 3, None, None]
        self._dtype = np.dtype(np.float32)

    def _run(self, batch: np.ndarray, copy: bool) -> np.ndarray:
        with torch.inference_mode():
            return self.module(torch.from_numpy(batch)).numpy()

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "module": self.source,
            "torch": torch.__version__,
            "actual_threads": torch.get_num_threads(),
            "onednn": torch.backends.mkldnn.is_available(),
        }
