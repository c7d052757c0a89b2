"""An exact rewrite of a YOLOv8/YOLO11 detect head's output layout that OpenVINO runs faster.

Ultralytics' ONNX export concatenates each level's box and class convolutions (Concat on channels),
flattens each level (Reshape to [batch, 4*reg_max + classes, -1]), joins the levels (Concat on
anchors) and splits boxes from classes again (Split on channels). The per-level concats run as
reference f32 kernels with layout reorders around them in OpenVINO's CPU plugin. Reshaping each
convolution's output on its own and joining boxes and classes separately computes the same tensors
without them (Ultralytics' own OpenVINO export has that layout)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from yolo_cpu.models.export import constant_tensors


def _axis(node: onnx.NodeProto, default: int = 0) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), default)


def split_head_concats(model: onnx.ModelProto) -> int:
    """Rewrite, in place, every Split(axis 1) of Concat(axis 2) of Reshape([0, C, -1]) of Concat(axis 1)
    of as many inputs as the split has parts (each intermediate read by nothing else) into one
    Reshape per level and part and one Concat(axis 2) per part; returns how many were rewritten."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    readers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    consts = {k: numpy_helper.to_array(v) for k, v in constant_tensors(g).items()}

    def only(tensor: str, op_type: str, axis: int | None = None) -> onnx.NodeProto | None:
        """The node making `tensor` if it is `op_type` (on `axis`) and nothing else reads `tensor`."""
        n = producer.get(tensor)
        ok = n is not None and n.op_type == op_type and readers.get(tensor) == 1
        return n if ok and (axis is None or _axis(n) == axis) else None

    done = 0
    for split in [n for n in g.node if n.op_type == "Split" and _axis(n) == 1 and len(n.input) == 2]:
        sizes = consts.get(split.input[1])
        joined = only(split.input[0], "Concat", axis=2)
        if sizes is None or joined is None or sizes.size != len(split.output):
            continue
        sizes = [int(s) for s in sizes]
        levels = []
        for tensor in joined.input:
            flat = only(tensor, "Reshape")
            shape = consts.get(flat.input[1]) if flat is not None else None
            cat = only(flat.input[0], "Concat", axis=1) if flat is not None else None
            if shape is None or cat is None or shape.tolist() != [0, sum(sizes), -1] or len(cat.input) != len(sizes):
                break
            levels.append((cat, flat))
        else:
            new: list[onnx.NodeProto] = []
            for j, size in enumerate(sizes):
                shape_name = f"{joined.name}_part{j}_shape"
                g.initializer.append(numpy_helper.from_array(np.array([0, size, -1], np.int64), shape_name))
                parts = []
                for cat, flat in levels:
                    parts.append(f"{flat.name}_part{j}_output_0")
                    new.append(helper.make_node("Reshape", [cat.input[j], shape_name], [parts[-1]],
                                                name=f"{flat.name}_part{j}"))
                new.append(helper.make_node("Concat", parts, [split.output[j]], name=f"{joined.name}_part{j}", axis=2))
            gone = [split, joined, *(n for pair in levels for n in pair)]
            removed = {o for n in gone for o in n.output} - set(split.output)
            keep = [n for n in g.node if not any(n is x for x in gone)]
            at = sum(1 for n in g.node[:[i for i, n in enumerate(g.node) if n is split][0]]
                     if not any(n is x for x in gone))
            nodes = keep[:at] + new + keep[at:]
            del g.node[:]
            g.node.extend(nodes)
            kept_info = [v for v in g.value_info if v.name not in removed]
            del g.value_info[:]
            g.value_info.extend(kept_info)
            _drop_unread_constants(g, {i for n in gone for i in n.input})
            done += 1
    return done


def _drop_unread_constants(g: onnx.GraphProto, candidates: set[str]) -> None:
    """Remove the initializers and Constant nodes among `candidates` that no node reads any more."""
    read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    unread = candidates - read
    inits = [i for i in g.initializer if i.name not in unread]
    del g.initializer[:]
    g.initializer.extend(inits)
    nodes = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] in unread)]
    del g.node[:]
    g.node.extend(nodes)
