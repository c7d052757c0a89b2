"""The detect head in a YOLO graph: where it is (its `/model.N/` index) and the node-name patterns of
the scope INT8 keeps float (the box decode, a DFL, optionally the head's last 1x1 convolutions)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from yolo_cpu.errors import UserError


class QuantizeError(UserError):
    """A quantization that cannot run as asked: no detect head found, a scope that matches nothing,
    a calibration that cannot fit in memory."""


def head_index(node_names: Iterable[str]) -> int:
    """Index N of the detect head: the last `/model.N/` module in the graph."""
    idx = [int(m.group(1)) for n in node_names if (m := re.match(r"^/model\.(\d+)/", n))]
    if not idx:
        raise QuantizeError("no '/model.N/' node names found: cannot locate the detect head")
    return max(idx)


def head_patterns(node_names: Iterable[str], include_convs: bool) -> list[str]:
    """Regexes for the detect head's decode arithmetic (ops directly under /model.N/: sigmoid, mul,
    add, pow, concat, ...), a YOLOv8/YOLO11 head's DFL (reshape, softmax, the fixed 1x1 conv), and
    optionally the head's final 1x1 convolutions (YOLOv5: m.i; YOLOv8/11: cv2.i.2 boxes, cv3.i.2 classes).
    Node names are the same in static and dynamic exports, ONNX and OpenVINO (which may add suffixes)."""
    names = list(node_names)
    n = head_index(names)
    pats = [rf"^/model\.{n}/[^/]+$"]
    dfl = any(x.startswith(f"/model.{n}/dfl/") for x in names)
    if dfl:
        pats.append(rf"^/model\.{n}/dfl/")
    if include_convs:
        pats.append(rf"^/model\.{n}/cv[23]\.\d+/cv[23]\.\d+\.2/Conv" if dfl else rf"^/model\.{n}/.*Conv.*$")
    return pats


def matching(node_names: Iterable[str], patterns: list[str]) -> list[str]:
    rx = [re.compile(p) for p in patterns]
    return [n for n in node_names if any(r.match(n) for r in rx)]
