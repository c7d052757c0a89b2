"""Run a variant over images and score it with pycocotools (all classes or a class subset)."""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from . import coco
from .postprocess import postprocess
from .preprocess import ImageReadError, preprocess, read_image
from .runtimes import Runtime


@dataclass
class PredictTimes:
    """Seconds spent per phase over a whole prediction run."""

    decode: float = 0.0
    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0
    images: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.decode + self.preprocess + self.infer + self.postprocess


def predict(rt: Runtime, image_paths: Sequence[Path], batch: int = 8, conf: float = 0.001, iou: float = 0.65,
            max_det: int = 300, bad_input: str = "error", desc: str | None = None,
            imgsz: int = 640) -> tuple[list[dict[str, Any]], PredictTimes]:
    """COCO-format detections (category ids 1-90, xywh boxes) for every image, with phase timings."""
    if rt.fixed_batch is not None:
        batch = rt.fixed_batch
    dets: list[dict[str, Any]] = []
    times = PredictTimes()
    clock = time.perf_counter
    with tqdm(total=len(image_paths), desc=desc, unit="img", disable=desc is None) as bar:
        for start in range(0, len(image_paths), batch):
            chunk = image_paths[start : start + batch]
            t0 = clock()
            imgs, ids = [], []
            for p in chunk:
                try:
                    imgs.append(read_image(p))
                    ids.append(coco.image_id(p))
                except ImageReadError as e:
                    if bad_input == "error":
                        raise
                    times.skipped.append(str(e))
            t1 = clock()
            if not imgs:
                continue
            x, lbs = preprocess(imgs, imgsz)
            if rt.fixed_batch is not None and len(imgs) < batch:
                x = np.concatenate([x, np.zeros((batch - len(imgs), *x.shape[1:]), x.dtype)])
            t2 = clock()
            y = rt.infer(x)[: len(imgs)]
            t3 = clock()
            for img_id, d in zip(ids, postprocess(y, lbs, conf, iou, max_det)):
                xywh = d.boxes.copy()
                xywh[:, 2:] -= xywh[:, :2]
                dets.extend(
                    {"image_id": img_id, "category_id": coco.CATEGORY_IDS[c], "bbox": [round(float(v), 3) for v in b],
                     "score": round(float(s), 5)}
                    for b, s, c in zip(xywh, d.scores, d.classes)
                )
            t4 = clock()
            times.decode += t1 - t0
            times.preprocess += t2 - t1
            times.infer += t3 - t2
            times.postprocess += t4 - t3
            times.images += len(imgs)
            bar.update(len(chunk))
    return dets, times


def coco_map(gt: dict[str, Any], dets: list[dict[str, Any]], class_indices: Sequence[int] | None = None,
             per_class: bool = True) -> dict[str, Any]:
    """pycocotools bbox evaluation. With class_indices, ground truth and detections are both
    restricted to those classes. Returns mAP figures (0-1) and per-class AP50-95."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if class_indices is not None:
        gt = coco.restrict_gt(gt, list(class_indices))
        keep = {coco.CATEGORY_IDS[i] for i in class_indices}
        dets = [d for d in dets if d["category_id"] in keep]
    keys = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")
    if not dets or not gt["annotations"]:
        return {**{k: 0.0 for k in keys}, "per_class": {}}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"info": {}, **gt}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = sorted(coco_gt.getImgIds())
        ev.evaluate()
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
                out["per_class"][coco.NAMES[coco.CLASS_OF_CATEGORY[cat_id]]] = float(p.mean())
    return out


def calibration_validator(held_out: list[Path], size: int):
    """(validation items, validate(compiled_model, items) -> mAP50-95) on held-out calibration images
    with their labels, for NNCF's accuracy-controlled quantization. Never the evaluation split."""

    items, gt_items = [], []
    for p in held_out:
        img = read_image(p)
        labels = coco.parse_labels(p.parent.parent / "labels" / f"{p.stem}.txt")
        gt_items.append((coco.image_id(p), p.name, img.shape[1], img.shape[0], labels))
        x, lbs = preprocess([img], size)
        items.append((coco.image_id(p), x, lbs))
    gt = coco.gt_from_labels(gt_items)

    def validate(compiled_model, data) -> float:
        dets = []
        for img_id, x, lbs in data:
            y = compiled_model(x)[0]
            for d in postprocess(np.asarray(y), lbs, 0.001, 0.65, 300):
                xywh = d.boxes.copy()
                xywh[:, 2:] -= xywh[:, :2]
                dets += [{"image_id": img_id, "category_id": coco.CATEGORY_IDS[c], "bbox": b.tolist(),
                          "score": float(s)} for b, s, c in zip(xywh, d.scores, d.classes)]
        return coco_map(gt, dets, per_class=False)["map50_95"]

    return items, validate
