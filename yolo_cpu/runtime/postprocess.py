"""Vectorized YOLO output decoding and exact greedy NMS in numpy.

Handles YOLOv5's layout [N, anchors, 5 + classes] (xywh, objectness, class scores) and the
YOLOv8/YOLO11 layout [N, 4 + classes, anchors] (xywh, class scores, no objectness)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yolo_cpu.runtime.preprocess import Letterbox, scale_boxes_back

MAX_WH = 7680  # class offset for class-aware NMS in one pass (YOLOv5's value)
MAX_NMS = 30000  # most candidates that enter NMS, highest scores first (YOLOv5's value)


@dataclass
class Detections:
    """Final detections of one image: xyxy boxes, scores, class indices (0-79)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def detect_layout(pred: np.ndarray) -> str:
    """'v5' for [N, anchors, 5+nc], 'v8' for [N, 4+nc, anchors]; anchors outnumber channels."""
    if pred.ndim != 3:
        raise ValueError(f"expected a 3-D YOLO output [N, A, C] or [N, C, A], got shape {pred.shape}")
    return "v8" if pred.shape[1] < pred.shape[2] else "v5"


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def candidates(
    pred_one: np.ndarray, layout: str, conf: float, multi_label: bool = True, classes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (xyxy, input pixels), scores and classes above `conf` for one image's raw output."""
    # Kept anchors are gathered whole with np.take (a copy; about twice as fast as 2-D fancy indexing).
    if layout == "v8":
        rows = np.flatnonzero(pred_one[4:].max(0) > conf)
        sub = np.take(pred_one, rows, axis=1).T  # [rows, 4 + nc]
        scores_m = sub[:, 4:]
    else:
        rows = np.flatnonzero(pred_one[:, 4] > conf)
        sub = np.take(pred_one, rows, axis=0)
        scores_m = sub[:, 5:] * sub[:, 4:5]  # class score x objectness, contiguous
    xywh = sub[:, :4]
    if multi_label:
        flat = np.flatnonzero(scores_m > conf)  # row-major, as np.nonzero
        r, c = np.divmod(flat, scores_m.shape[1])
        # One flat gather (2-D fancy indexing costs twice as much); a v8 view is copied first.
        scores = np.ascontiguousarray(scores_m).ravel().take(flat)
    else:
        c = scores_m.argmax(1)
        r = np.arange(len(c))
        scores = scores_m[r, c]
        ok = scores > conf
        r, c, scores = r[ok], c[ok], scores[ok]
    if classes is not None:
        ok = np.isin(c, classes)
        r, c, scores = r[ok], c[ok], scores[ok]
    # Converted per anchor row, then gathered: a row often yields several candidates (one per class).
    boxes = np.take(xywh_to_xyxy(xywh.astype(np.float32, copy=False)), r, axis=0)
    return boxes, scores.astype(np.float32, copy=False), c.astype(np.int64, copy=False)


def _intersections(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, clamp_h: bool = True) -> np.ndarray:
    """Intersection areas [len(a), len(b)] of xyxy boxes given as coordinate columns, via outer ops.
    clamp_h=False skips clamping the height: disjoint pairs may then come out negative, not zero."""
    w = np.minimum.outer(ax2, bx2)
    w -= np.maximum.outer(ax1, bx1)
    np.maximum(w, 0, out=w)
    h = np.minimum.outer(ay2, by2)
    h -= np.maximum.outer(ay1, by1)
    if clamp_h:
        np.maximum(h, 0, out=h)
    w *= h
    return w


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix [len(a), len(b)] of xyxy boxes."""
    ax1, ay1, ax2, ay2 = a.T
    bx1, by1, bx2, by2 = b.T
    inter = _intersections(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
    area_sum = np.add.outer((ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1))
    return inter / np.maximum(area_sum - inter, 1e-9)


def _overlap_mask(ax1, ay1, ax2, ay2, a_wt, bx1, by1, bx2, by2, b_wt) -> np.ndarray:
    """IoU(a_i, b_j) > thr without the division: inter > wt_i + wt_j, where wt = area * thr / (1 + thr)
    (see `_overlap_weights`). An unclamped negative intersection never passes (weights are >= 0)."""
    return _intersections(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, clamp_h=False) > np.add.outer(a_wt, b_wt)


def _overlap_weights(x1, y1, x2, y2, thr: float) -> np.ndarray:
    """Per-box area * thr / (1 + thr): IoU > thr  <=>  inter > thr * (area_a + area_b - inter)
    <=>  inter > wt_a + wt_b."""
    return (x2 - x1) * (y2 - y1) * np.float32(thr / (1 + thr))


@functools.lru_cache(maxsize=4)
def _strict_upper(n: int) -> np.ndarray:
    """[n, n] bool, True above the diagonal (read-only, shared)."""
    m = np.triu(np.ones((n, n), dtype=bool), 1)
    m.flags.writeable = False
    return m


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float, max_det: int = 300, block: int = 128) -> np.ndarray:
    """Exact greedy NMS of xyxy boxes (x2 >= x1, y2 >= y1): indices of kept boxes, highest score first.

    Works on blocks of score-sorted boxes: a block is first cut by the boxes already kept, then
    resolved inside by a fixpoint iteration of the greedy rule, which equals the sequential
    greedy pass (the rule is triangular, so its fixpoint is unique)."""
    if not 0 < block < 256:
        raise ValueError(f"nms: block must be 1-255 (the fixpoint counts suppressors in uint8), got {block}")
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = np.take(boxes, order, axis=0).T.copy()  # four contiguous coordinate rows
    wt = _overlap_weights(x1, y1, x2, y2, iou_thr)
    kept = np.empty(0, dtype=np.int64)
    upper = _strict_upper(block)
    for start in range(0, len(order), block):
        blk = slice(start, start + block)
        cols = (x1[blk], y1[blk], x2[blk], y2[blk], wt[blk])
        if kept.size:
            k = (x1[kept], y1[kept], x2[kept], y2[kept], wt[kept])
            idx = np.nonzero(~_overlap_mask(*k, *cols).any(0))[0]
        else:
            idx = np.arange(len(cols[0]))
        if idx.size:
            sub = tuple(c[idx] for c in cols)
            over = _overlap_mask(*sub, *sub)
            over &= upper[: len(idx), : len(idx)]  # only a higher-scoring box suppresses
            over = over.view(np.uint8)
            keep = np.ones(len(idx), dtype=bool)
            while True:
                new = (keep.view(np.uint8) @ over) == 0
                if np.array_equal(new, keep):
                    break
                keep = new
            kept = np.concatenate([kept, start + idx[keep]])
        if kept.size >= max_det:
            break
    return order[kept[:max_det]]


Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]  # xyxy boxes (input pixels), scores, classes


def select_candidates(
    pred: np.ndarray, conf: float = 0.25, classes: Sequence[int] | None = None, multi_label: bool = True
) -> list[Candidates]:
    """First half of postprocess: per image, the (at most MAX_NMS best) candidates above `conf`.
    Copies what it keeps, so `pred` may be reused afterwards."""
    pred = np.asarray(pred, dtype=np.float32)
    layout = detect_layout(pred)
    cls_filter = None if classes is None else np.asarray(list(classes), dtype=np.int64)
    out = []
    for i in range(pred.shape[0]):
        boxes, scores, cls = candidates(pred[i], layout, conf, multi_label, cls_filter)
        if len(scores) > MAX_NMS:
            top = np.argsort(-scores, kind="stable")[:MAX_NMS]
            boxes, scores, cls = boxes[top], scores[top], cls[top]
        out.append((boxes, scores, cls))
    return out


def suppress(
    cands: Sequence[Candidates], letterboxes: Sequence[Letterbox] | None, iou: float = 0.45, max_det: int = 300
) -> list[Detections]:
    """Second half of postprocess: class-aware NMS, boxes mapped back to original pixels."""
    out = []
    for i, (boxes, scores, cls) in enumerate(cands):
        keep = nms(boxes + (cls[:, None] * MAX_WH).astype(np.float32), scores, iou, max_det)
        b = boxes[keep]
        if letterboxes is not None:
            b = scale_boxes_back(b, letterboxes[i])
        out.append(Detections(b, scores[keep], cls[keep]))
    return out


def postprocess(
    pred: np.ndarray,
    letterboxes: Sequence[Letterbox] | None,
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    multi_label: bool = True,
) -> list[Detections]:
    """Raw batch output -> per-image detections, class-aware NMS, boxes in original pixels
    (or in network-input pixels when `letterboxes` is None)."""
    return suppress(select_candidates(pred, conf, classes, multi_label), letterboxes, iou, max_det)


def match_rate(ref: Sequence[Detections], test: Sequence[Detections], iou_thr: float = 0.5) -> float:
    """Share of `ref` detections that `test` has too (same class, IoU >= iou_thr, one-to-one greedy)."""
    total = matched = 0
    for r, t in zip(ref, test):
        total += len(r)
        if not len(r) or not len(t):
            continue
        iou = box_iou(r.boxes, t.boxes)
        iou[r.classes[:, None] != t.classes[None, :]] = 0
        used = np.zeros(len(t), dtype=bool)
        for i in np.argsort(-r.scores):
            cand = np.where(~used & (iou[i] >= iou_thr))[0]
            if cand.size:
                used[cand[np.argmax(iou[i, cand])]] = True
                matched += 1
    return matched / total if total else 1.0
