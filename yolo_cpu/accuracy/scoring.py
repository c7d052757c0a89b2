"""COCO-format detections and their pycocotools bbox mAP (all classes or a class subset)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from yolo_cpu.data import coco
from yolo_cpu.runtime.postprocess import Detections

MAP_KEYS = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")


def to_coco(img_id: int, d: Detections, category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One image's detections as COCO result dicts (xywh boxes); class index -> category_ids[index]
    (None: the index itself, a custom dataset's own ids)."""
    xywh = d.boxes.astype(np.float64)
    xywh[:, 2:] -= xywh[:, :2]
    cats = (d.classes if category_ids is None else np.asarray(category_ids)[d.classes]).tolist()
    return [
        {"image_id": img_id, "category_id": c, "bbox": b, "score": s}
        for b, s, c in zip(np.round(xywh, 3).tolist(), np.round(d.scores.astype(np.float64), 5).tolist(), cats)
    ]


def evaluated(gt: dict[str, Any], dets: list[dict[str, Any]]):
    """pycocotools' COCOeval (bbox, its default params, every image of `gt`) after evaluate(): the
    per-image matches, before accumulation. `dets` may be empty."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"info": {}, **gt}
        coco_gt.createIndex()
        if dets:
            coco_dt = coco_gt.loadRes(dets)
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = sorted(coco_gt.getImgIds())
        ev.evaluate()
    return ev


def coco_map(
    gt: dict[str, Any],
    dets: list[dict[str, Any]],
    class_indices: Sequence[int] | None = None,
    per_class: bool = True,
    ev: Any = None,
) -> dict[str, Any]:
    """pycocotools bbox evaluation. With class_indices (indices into the ground truth's categories),
    ground truth and detections are both restricted to those classes. Returns mAP figures (0-1) and
    per-class AP50-95 by class name. `ev`: evaluated(gt, dets) when the caller already has it (for
    all classes), so the matching runs once."""
    name_of = {c["id"]: c["name"] for c in gt["categories"]}
    if class_indices is not None:
        ids = coco.Classes.from_gt(gt).ids
        keep = {ids[i] for i in class_indices}
        gt = coco.restrict_gt(gt, list(class_indices))
        dets = [d for d in dets if d["category_id"] in keep]
    keys = MAP_KEYS
    if not dets or not gt["annotations"]:  # nothing detected: AP 0 for every class that has ground truth
        present = {a["category_id"] for a in gt["annotations"]}
        return {**{k: 0.0 for k in keys}, "per_class": {n: 0.0 for c, n in name_of.items() if c in present}}
    ev = ev if ev is not None and class_indices is None else evaluated(gt, dets)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
        ev.summarize()
    out: dict[str, Any] = {k: float(max(v, 0.0)) for k, v in zip(keys, ev.stats[:6])}
    if per_class:
        prec = ev.eval["precision"]  # [iou, recall, class, area, maxdet]
        out["per_class"] = {}
        for k, cat_id in enumerate(ev.params.catIds):
            p = prec[:, :, k, 0, -1]
            p = p[p > -1]
            if p.size:
                out["per_class"][name_of[cat_id]] = float(p.mean())
    return out
