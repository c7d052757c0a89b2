"""eval-map's library: a variant's detections on the evaluation split with model-only timing windows
paired in, its speed figures, and the INT8 drop gate."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from yolo_cpu.accuracy.map_bootstrap import drop_verdict
from yolo_cpu.errors import UserError
from yolo_cpu.measure.timing import interleaved
from yolo_cpu.models.variants import INT8_VARIANTS
from yolo_cpu.runtime.predict import (
    Letterboxed,
    PredictTimes,
    letterbox_bytes,
    letterbox_split,
    predict,
)
from yolo_cpu.runtime.runtimes import Runtime


class Int8DropError(UserError):
    """An INT8 variant lost more mAP than eval.max_int8_drop allows."""


def model_only_runs(batch: int, images: int) -> int:
    """Timed model-only calls per window: about `images` images (eval_timing.model_only_images),
    whatever the batch size, and at least 4 calls."""
    return max(4, -(-images // batch))


def timed_window(rt: Runtime, x: np.ndarray, runs: int, bar: tqdm) -> list[float]:
    """One window of timed model-only calls on a real preprocessed batch of the evaluation batch
    size, shown on the variant's progress bar while it runs."""
    bar.set_postfix_str("timing model-only")
    seconds = interleaved({"m": lambda: rt.infer(x, copy=False)}, warmup=1, runs=runs)["m"]
    bar.set_postfix_str("")
    return seconds


def evaluate_paired(
    rt: Runtime,
    source: Sequence[Path] | Letterboxed,
    e: dict[str, Any],
    x: np.ndarray,
    desc: str | None,
    size: int,
    category_ids: Sequence[int] | None,
) -> tuple[list, PredictTimes, list[float]]:
    """Predict in chunks with model-only timing windows before, between and after them, so the two
    figures sample the same minutes of this shared machine (its slow spells last seconds to minutes).
    Detections carry `category_ids` (the ground truth's, by class index). `e` holds conf, iou, max_det,
    batch, prefetch, model_only_windows and model_only_images. Returns detections, summed
    prediction times and every model-only call's seconds."""
    # Chunk bounds on whole batches, so every batch holds the same images as in one unchunked run.
    n_batches = -(-len(source) // e["batch"])
    bounds = np.minimum(np.linspace(0, n_batches, e["model_only_windows"], dtype=int) * e["batch"], len(source))
    dets: list = []
    times = PredictTimes()
    runs = model_only_runs(len(x), e["model_only_images"])
    with tqdm(total=len(source), desc=desc, unit="img", disable=desc is None) as bar:  # one bar per variant
        model_only = timed_window(rt, x, runs, bar)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi == lo:
                continue
            d, t = predict(
                rt,
                source[lo:hi],
                e["batch"],
                e["conf"],
                e["iou"],
                e["max_det"],
                imgsz=size,
                prefetch=e["prefetch"],
                progress=bar,
                category_ids=category_ids,
            )
            dets += d
            times.add(t)
            model_only += timed_window(rt, x, runs, bar)
    return dets, times, model_only


def decode_once(images: list[Path], enabled: bool, size: int) -> tuple[list[Path] | Letterboxed, dict[str, Any]]:
    """With `enabled` (and the letterboxed split fitting in a third of free memory), decode and
    letterbox every image once for all variants. Returns the source for predict and what was done
    (decode_once_seconds is the shared time to charge to the variants)."""
    import psutil

    need = letterbox_bytes(len(images), size)
    free = psutil.virtual_memory().available
    if not enabled or need > free / 3:
        if enabled:
            print(
                f"eval_timing.decode_once: {need / 2**20:.0f} MiB of letterboxed images would not fit in a "
                f"third of the {free / 2**20:.0f} MiB free; decoding per variant instead"
            )
        return images, {"decode_once_used": False, "decode_once_seconds": 0.0}
    t0 = time.perf_counter()
    lbx = letterbox_split(images, size, desc="decode + letterbox (once)")
    shared_s = time.perf_counter() - t0
    return lbx, {
        "decode_once_used": True,
        "decode_once_mib": round(need / 2**20, 1),
        "decode_once_seconds": round(shared_s, 3),
        "decode_once_decode_ms_per_image": round(1000 * lbx.decode_s / max(len(lbx), 1), 3),
        "decode_once_letterbox_ms_per_image": round(1000 * lbx.letterbox_s / max(len(lbx), 1), 3),
    }


def speed_figures(v: str, t: PredictTimes, shared_s: float, model_only_ips: float) -> dict[str, float]:
    """A variant's evaluation speed: images/s of the whole evaluation (the shared decode pass charged
    in its part, shared_s), its ratio to model-only images/s, and seconds per phase."""
    wall = t.wall + shared_s
    ips = t.images / wall
    return {
        f"{v}_images_per_s": round(ips, 3),
        f"{v}_model_only_images_per_s": round(model_only_ips, 3),
        f"{v}_eval_vs_model_only": round(ips / model_only_ips, 3),
        f"{v}_decode_ms_per_image": round(1000 * t.decode / t.images, 3),
        f"{v}_preprocess_ms_per_image": round(1000 * t.preprocess / t.images, 3),
        f"{v}_infer_ms_per_image": round(1000 * t.infer / t.images, 3),
        f"{v}_postprocess_ms_per_image": round(1000 * t.postprocess / t.images, 3),
        f"{v}_non_inference_share": round(1 - t.infer / wall, 3),
    }


def check_int8_drop(metrics: dict[str, Any], max_drop: float | None) -> None:
    """Raise naming the variant when an INT8 variant lost more mAP50-95 points than max_drop (its
    point estimate), saying whether the 95% interval is clearly over or not separable from it."""
    if max_drop is None:
        return
    for v in INT8_VARIANTS:
        drop = -metrics.get(f"{v}_delta_map50_95", 0.0)
        if drop > max_drop:
            lo, hi = metrics.get(f"{v}_delta_map50_95_lo"), metrics.get(f"{v}_delta_map50_95_hi")
            interval = (
                f" (95% interval of the drop {-hi:.2f} to {-lo:.2f}: {drop_verdict(metrics, v, max_drop)})"
                if lo is not None and hi is not None
                else ""
            )
            raise Int8DropError(
                f"{v} loses {drop:.2f} mAP50-95 points against FP32{interval}, more than "
                f"eval.max_int8_drop={max_drop} (metrics were written)"
            )
