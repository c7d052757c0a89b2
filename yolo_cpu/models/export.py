"""Make a fixed-batch ONNX dynamic in its batch axis by graph rewrite, and check it numerically."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from yolo_cpu.errors import UserError

BATCH_DIM = "batch"


class ExportError(UserError):
    """A model that cannot be loaded or made dynamic; the message names the file or node."""


@dataclass
class RewriteInfo:
    already_dynamic: bool
    reshapes_rewritten: int
    opset: int
    nodes: int


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load and check an ONNX file; a corrupt or non-ONNX file raises ExportError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"model not found: {path}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # protobuf DecodeError, ValidationError, ...
        raise ExportError(f"{path} is not a valid ONNX model: {e}") from e
    if not model.graph.input or not model.graph.output:
        raise ExportError(f"{path} has no graph inputs or outputs")
    return model


def _is_dynamic(vi: onnx.ValueInfoProto) -> bool:
    dims = vi.type.tensor_type.shape.dim
    return bool(dims) and not dims[0].HasField("dim_value")


def constant_tensors(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Constant tensors by output name: initializers and Constant nodes' values."""
    out = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out[node.output[0]] = attr.t
    return out


def make_batch_dynamic(model: onnx.ModelProto) -> tuple[onnx.ModelProto, RewriteInfo]:
    """Copy of `model` whose input and outputs have a symbolic batch axis and whose Reshape
    constants no longer hard-code batch 1 (leading 1 becomes 0: copy the input's batch)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    info = RewriteInfo(_is_dynamic(graph.input[0]), 0, opset, len(graph.node))
    if info.already_dynamic:
        return model, info
    consts = constant_tensors(graph)
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        tensor = consts.get(node.input[1])
        if tensor is None:
            continue  # computed at run time from Shape: already follows the batch
        shape = numpy_helper.to_array(tensor)
        if shape.size == 0 or shape[0] in (0, -1):
            continue
        if shape[0] != 1:
            raise ExportError(f"Reshape node '{node.name}' hard-codes a leading dimension of {shape[0]} "
                              f"(shape {shape.tolist()}); cannot make the batch axis dynamic")
        shape = shape.copy()
        shape[0] = 0
        tensor.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), tensor.name))
        info.reshapes_rewritten += 1
    for vi in list(graph.input[:1]) + list(graph.output):
        dim = vi.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = BATCH_DIM
    del graph.value_info[:]
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model)
    except Exception as e:
        raise ExportError(f"rewritten model fails ONNX checks: {e}") from e
    return model, info


def max_abs_diff_batched(fixed_run, dynamic_run, images: np.ndarray, batch_sizes: list[int]) -> dict[int, float]:
    """For each N: max |dynamic(batch of N) - concat(N runs of fixed at batch 1)|."""
    if len(images) < max(batch_sizes):
        raise ValueError(f"need {max(batch_sizes)} images to verify, got {len(images)}")
    singles = np.concatenate([fixed_run(images[i : i + 1]) for i in range(max(batch_sizes))])
    out = {}
    for n in batch_sizes:
        got = dynamic_run(images[:n])
        if got.shape[0] != n:
            raise ExportError(f"dynamic model returned batch {got.shape[0]} for an input batch of {n}")
        out[n] = float(np.abs(got - singles[:n]).max())
    return out
