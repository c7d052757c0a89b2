"""Paired bootstrap of mAP deltas over images. pycocotools matches detections to ground truth once
per variant (COCOeval.evaluate); each resample then re-weights whole images and re-accumulates
precision and recall from those matches, exactly as COCOeval.accumulate does for all areas at the
largest maxDets, so a resample costs array arithmetic, not a new evaluation. FP32 and a variant are
scored on the same resamples: the delta's interval is the 2.5th-97.5th percentile of their paired
differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yolo_cpu.measure.intervals import against_budget, percentile_interval, resample_counts

REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)  # pycocotools' 101
EPS = np.spacing(1)


@dataclass
class ClassMatches:
    """One category's detections over every image, sorted as COCOeval.accumulate sorts them."""

    image: np.ndarray  # (D,) image index of each detection
    tp: np.ndarray  # (T, D) matched and not ignored, per IoU threshold
    counted: np.ndarray  # (T, D) not ignored (a true or a false positive)
    gt: np.ndarray  # (I,) non-ignored ground truth boxes per image


@dataclass
class Matches:
    """Per-image matches of one set of detections against one ground truth."""

    images: list[int]  # COCO image ids, in the order of the weights' columns
    categories: list[int]  # COCO category ids
    classes: dict[int, ClassMatches]  # category id -> matches (categories with ground truth)


def matches_of(ev: Any) -> Matches:
    """The matches of a COCOeval after evaluate(), at all areas and its largest maxDets."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    max_det = p.maxDets[-1]
    all_area = p.areaRngLbl.index("all")
    classes: dict[int, ClassMatches] = {}
    for k, cat in enumerate(p.catIds):
        base = k * n_area * n_img + all_area * n_img
        scores, image, dtm, dt_ig = [], [], [], []
        gt_count = np.zeros(n_img)
        for i in range(n_img):
            e = ev.evalImgs[base + i]
            if e is None:
                continue
            s = np.asarray(e["dtScores"][:max_det])
            scores.append(s)
            image.append(np.full(s.size, i))
            dtm.append(e["dtMatches"][:, :max_det])
            dt_ig.append(e["dtIgnore"][:, :max_det])
            gt_count[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        if gt_count.sum() == 0:
            continue  # COCOeval leaves such a category out of the mean
        T = len(p.iouThrs)
        if scores:
            s = np.concatenate(scores)
            order = np.argsort(-s, kind="mergesort")
            m = np.concatenate(dtm, axis=1)[:, order]
            ig = np.concatenate(dt_ig, axis=1)[:, order]
            img = np.concatenate(image)[order]
        else:
            m = ig = np.zeros((T, 0))
            img = np.zeros(0, dtype=int)
        classes[cat] = ClassMatches(
            image=img, tp=np.logical_and(m, np.logical_not(ig)), counted=np.logical_not(ig), gt=gt_count
        )
    return Matches(images=list(p.imgIds), categories=list(p.catIds), classes=classes)


def class_ap(c: ClassMatches, weights: np.ndarray) -> np.ndarray:
    """AP50-95 of one category under each row of image weights (R, I): NaN where a row holds none
    of its ground truth. With all weights 1 this is COCOeval's figure.

    Recall only grows at true positives, and the precision envelope's maximum always sits at one, so
    only the true-positive positions are needed: their cumulative true and counted detections under
    each weight row are `weights @ counts`, where counts[i, j] is how many of image i's detections
    stand at or before the j-th true positive."""
    n_img = weights.shape[1]
    npig = weights @ c.gt  # (R,) ground truth in each resample
    ap = np.zeros(weights.shape[0])
    for t in range(c.tp.shape[0]):
        pos = np.flatnonzero(c.tp[t])  # the true positives, in score order
        if pos.size == 0:
            continue
        j = np.arange(pos.size)
        tp_counts = np.zeros((n_img, pos.size))
        tp_counts[c.image[pos], j] = 1.0
        counted = np.flatnonzero(c.counted[t])  # every counted detection falls into the
        col = np.searchsorted(pos, counted, side="left")  # first true positive at or after it
        keep = col < pos.size
        seen = np.zeros((n_img, pos.size))
        np.add.at(seen, (c.image[counted[keep]], col[keep]), 1.0)
        tp = weights @ np.cumsum(tp_counts, axis=1)  # (R, P)
        total = weights @ np.cumsum(seen, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rc = np.nan_to_num(tp / npig[:, None])
        pr = tp / (total + EPS)
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
        reached = np.searchsorted(REC_THRS, rc, side="right")  # thresholds <= recall
        gained = np.diff(reached, axis=1, prepend=0)  # ... first met here
        ap += (pr * gained).sum(axis=1) / REC_THRS.size
    ap /= c.tp.shape[0]
    return np.where(npig > 0, ap, np.nan)


def per_class_ap(m: Matches, weights: np.ndarray) -> dict[int, np.ndarray]:
    """{category id: AP50-95 per weight row}."""
    return {cat: class_ap(c, weights) for cat, c in m.classes.items()}


def mean_ap(per_class: dict[int, np.ndarray]) -> np.ndarray:
    """mAP50-95 per weight row: the mean over categories with ground truth in that row."""
    return np.nanmean(np.stack(list(per_class.values())), axis=0)


@dataclass
class DeltaInterval:
    """A variant's mAP50-95 delta against its reference (points) with the 95% interval, overall
    and per category (with each category's ground-truth instance count)."""

    delta: float
    lo: float
    hi: float
    per_class: dict[int, tuple[float, float, float]]  # category id -> (delta, lo, hi), points
    instances: dict[int, int]


def paired_delta(ref: Matches, var: Matches, resamples: int, seed: int) -> DeltaInterval:
    """The variant's delta against the reference on the same images, with percentile intervals over
    `resamples` paired resamples of the images (seeded: the same resamples for every variant)."""
    if ref.images != var.images:
        raise ValueError("the two sets of matches are over different images")
    n = len(ref.images)
    ones = np.ones((1, n))
    weights = np.vstack([ones, resample_counts(n, resamples, seed)]) if resamples else ones
    a, b = per_class_ap(ref, weights), per_class_ap(var, weights)
    d_all = 100 * (mean_ap(b) - mean_ap(a))
    lo, hi = percentile_interval(d_all[1:]) if resamples else (np.nan, np.nan)
    per: dict[int, tuple[float, float, float]] = {}
    for cat in a:
        d = 100 * (b[cat] - a[cat])
        clo, chi = percentile_interval(d[1:]) if resamples else (np.nan, np.nan)
        per[cat] = (float(d[0]), float(clo), float(chi))
    return DeltaInterval(
        float(d_all[0]), float(lo), float(hi), per, {cat: int(c.gt.sum()) for cat, c in ref.classes.items()}
    )


def pairwise_differences(matches: dict[str, Matches], resamples: int, seed: int) -> dict[str, list[float | None]]:
    """{"a|b": [a's mAP50-95 minus b's (points), 95% interval]} for every pair of variants, from the
    same seeded resamples of the images as paired_delta: what one variant gives up against another,
    for any two (not only a variant against its FP32)."""
    names = list(matches)
    if not names:
        return {}
    n = len(matches[names[0]].images)
    if any(m.images != matches[names[0]].images for m in matches.values()):
        raise ValueError("the sets of matches are over different images")
    weights = np.vstack([np.ones((1, n)), resample_counts(n, resamples, seed)]) if resamples else np.ones((1, n))
    maps = {v: mean_ap(per_class_ap(m, weights)) for v, m in matches.items()}
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = 100 * (maps[a] - maps[b])
            lo, hi = percentile_interval(d[1:]) if resamples else (np.nan, np.nan)
            out[f"{a}|{b}"] = [_r(d[0]), _r(lo), _r(hi)]
            out[f"{b}|{a}"] = [_r(-d[0]), _r(-hi), _r(-lo)]
    return out


def point_map(m: Matches) -> float:
    """mAP50-95 (0-1) on all images: equals COCOeval's stats[0] (a test holds it to that)."""
    return float(mean_ap(per_class_ap(m, np.ones((1, len(m.images)))))[0])


def names_of(gt: dict[str, Any], categories: Sequence[int]) -> dict[int, str]:
    name = {c["id"]: c["name"] for c in gt["categories"]}
    return {c: name[c] for c in categories}


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 3)


def delta_keys(v: str, d: DeltaInterval) -> dict[str, float | None]:
    """Headline keys of a variant's mAP50-95 delta interval (points): {v}_delta_map50_95_lo / _hi."""
    return {f"{v}_delta_map50_95_lo": _r(d.lo), f"{v}_delta_map50_95_hi": _r(d.hi)}


def per_class_rows(d: DeltaInterval, names: dict[int, str]) -> list[dict[str, Any]]:
    """Per category: name, delta, its interval (points) and ground-truth instances, worst first."""
    rows = [
        {"class": names[cat], "delta": _r(dc), "delta_lo": _r(lo), "delta_hi": _r(hi), "instances": d.instances[cat]}
        for cat, (dc, lo, hi) in d.per_class.items()
    ]
    return sorted(rows, key=lambda r: r["delta"])


def drop_verdict(metrics: dict[str, Any], v: str, budget: float) -> str:
    """Where v's mAP50-95 drop stands against a budget, from its delta's 95% interval: 'within',
    'over' or 'not separable' (intervals.against_budget); from the point drop alone without one."""
    delta = metrics.get(f"{v}_delta_map50_95")
    lo, hi = metrics.get(f"{v}_delta_map50_95_lo"), metrics.get(f"{v}_delta_map50_95_hi")
    if delta is None:
        return "not measured"
    if lo is None or hi is None:
        return "within" if -delta <= budget else "over"
    return against_budget(-hi, -lo, budget)
