"""Images to COCO-format detections with a runtime: decoding, the shared preprocessing, batched
inference, NMS, with per-phase timings; decode-once splits for several variants; the end-to-end timing."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from yolo_cpu.accuracy.scoring import to_coco
from yolo_cpu.data import coco
from yolo_cpu.runtime.postprocess import select_candidates, suppress
from yolo_cpu.runtime.preprocess import (
    ImageReadError,
    Letterbox,
    letterbox,
    preprocess,
    read_image,
    to_tensor,
)
from yolo_cpu.runtime.runtimes import Runtime


@dataclass
class PredictTimes:
    """Seconds spent per phase over a whole prediction run."""

    decode: float = 0.0
    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0
    images: int = 0
    wall: float = 0.0  # elapsed; less than the sum of phases when decoding overlaps inference
    skipped: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.decode + self.preprocess + self.infer + self.postprocess

    def add(self, other: PredictTimes) -> None:
        """Accumulate another run's phases (a prediction run done in chunks)."""
        for k in ("decode", "preprocess", "infer", "postprocess", "images", "wall"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.skipped += other.skipped


@dataclass
class _Prepared:
    ids: list[int]
    x: np.ndarray | None
    letterboxes: list
    skipped: list[str]
    decode_s: float
    preprocess_s: float
    count: int


@dataclass
class Letterboxed:
    """A split decoded and letterboxed once (uint8, size x size), reused by every variant."""

    ids: list[int]
    images: list[np.ndarray]
    letterboxes: list[Letterbox]
    skipped: list[str]
    decode_s: float
    letterbox_s: float

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, s: slice) -> Letterboxed:
        """A contiguous part of the split (images shared, not copied); decode times stay with the whole."""
        return Letterboxed(self.ids[s], self.images[s], self.letterboxes[s], [], 0.0, 0.0)


def letterbox_bytes(n_images: int, imgsz: int) -> int:
    """Memory a Letterboxed split of n_images holds."""
    return n_images * imgsz * imgsz * 3


def _decode_letterbox(path: Path, imgsz: int) -> tuple[np.ndarray, Letterbox, float, float] | ImageReadError:
    """One image decoded and letterboxed, with both phases' seconds; a read error is returned, not raised."""
    t0 = time.perf_counter()
    try:
        img = read_image(path)
    except ImageReadError as e:
        return e
    t1 = time.perf_counter()
    lb_img, lb = letterbox(img, imgsz)
    return lb_img, lb, t1 - t0, time.perf_counter() - t1


def letterbox_split(
    image_paths: Sequence[Path],
    imgsz: int = 640,
    bad_input: str = "error",
    desc: str | None = None,
    workers: int | None = None,
) -> Letterboxed:
    """Decode and letterbox every image once (the first half of `preprocess`), on `workers` threads
    (default: one per core; OpenCV releases the GIL). Images keep their input order."""
    out = Letterboxed([], [], [], [], 0.0, 0.0)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        done = pool.map(_decode_letterbox, image_paths, [imgsz] * len(image_paths))
        for p, r in tqdm(zip(image_paths, done), total=len(image_paths), desc=desc, unit="img", disable=desc is None):
            if isinstance(r, ImageReadError):
                if bad_input == "error":
                    raise r
                out.skipped.append(str(r))
                continue
            lb_img, lb, decode_s, letterbox_s = r
            out.decode_s += decode_s
            out.letterbox_s += letterbox_s
            out.ids.append(coco.image_id(p))
            out.images.append(lb_img)
            out.letterboxes.append(lb)
    return out


def _pad(x: np.ndarray, n: int, rt: Runtime, batch: int) -> np.ndarray:
    """Pad a short last batch with zeros for a fixed-batch model."""
    if rt.fixed_batch is not None and n < batch:
        x = np.concatenate([x, np.zeros((batch - n, *x.shape[1:]), x.dtype)])
    return x


def _prepare(chunk: Sequence[Path], rt: Runtime, batch: int, imgsz: int, bad_input: str) -> _Prepared:
    """Decode and preprocess one batch of image files."""
    t0 = time.perf_counter()
    imgs, ids, skipped = [], [], []
    for p in chunk:
        try:
            imgs.append(read_image(p))
            ids.append(coco.image_id(p))
        except ImageReadError as e:
            if bad_input == "error":
                raise
            skipped.append(str(e))
    t1 = time.perf_counter()
    x, lbs = preprocess(imgs, imgsz) if imgs else (None, [])
    x = _pad(x, len(imgs), rt, batch) if x is not None else None
    return _Prepared(ids, x, lbs, skipped, t1 - t0, time.perf_counter() - t1, len(chunk))


def _prepare_letterboxed(src: Letterboxed, lo: int, hi: int, rt: Runtime, batch: int, out: np.ndarray) -> _Prepared:
    """One batch of an already letterboxed split: only the tensor conversion (into `out`) is left."""
    t0 = time.perf_counter()
    x = _pad(to_tensor(src.images[lo:hi], out), hi - lo, rt, batch)
    return _Prepared(src.ids[lo:hi], x, src.letterboxes[lo:hi], [], 0.0, time.perf_counter() - t0, hi - lo)


def predict(
    rt: Runtime,
    images: Sequence[Path] | Letterboxed,
    batch: int = 8,
    conf: float = 0.001,
    iou: float = 0.65,
    max_det: int = 300,
    bad_input: str = "error",
    desc: str | None = None,
    imgsz: int = 640,
    prefetch: bool = False,
    progress: tqdm | None = None,
    category_ids: Sequence[int] | None = None,
) -> tuple[list[dict[str, Any]], PredictTimes]:
    """COCO-format detections (xywh boxes; class index -> category_ids[index], or the index itself
    when None) for every image, with phase timings.

    `images` is a list of files (decoded here) or a Letterboxed split (decoded once for all variants).
    prefetch=True prepares the next batch and finishes (NMS) the previous one in threads while
    this one is inferred. `progress`: an open progress bar to advance instead of a new one (`desc`)."""
    if rt.fixed_batch is not None:
        batch = rt.fixed_batch
    if isinstance(images, Letterboxed):
        # Two input buffers in turn: one is inferred while the next batch is written to the other.
        size = images.images[0].shape[0] if len(images) else imgsz
        bufs = [np.empty((batch, 3, size, size), np.float32) for _ in range(2 if len(images) > batch else 1)]
        jobs = [
            (_prepare_letterboxed, (images, i, min(i + batch, len(images)), rt, batch, bufs[k % len(bufs)]))
            for k, i in enumerate(range(0, len(images), batch))
        ]
    else:
        jobs = [(_prepare, (images[i : i + batch], rt, batch, imgsz, bad_input)) for i in range(0, len(images), batch)]
    dets: list[dict[str, Any]] = []
    times = PredictTimes()

    def finish(cands: list, prep: _Prepared) -> float:
        """NMS + COCO conversion of one batch; returns its seconds."""
        t0 = time.perf_counter()
        for img_id, d in zip(prep.ids, suppress(cands, prep.letterboxes, iou, max_det)):
            dets.extend(to_coco(img_id, d, category_ids))
        return time.perf_counter() - t0

    wall0 = time.perf_counter()
    bar_cm = (
        contextlib.nullcontext(progress)
        if progress is not None
        else tqdm(total=len(images), desc=desc, unit="img", disable=desc is None)
    )
    with bar_cm as bar, ThreadPoolExecutor(max_workers=1) as pre_pool, ThreadPoolExecutor(max_workers=1) as post_pool:
        pending = pre_pool.submit(jobs[0][0], *jobs[0][1]) if prefetch and jobs else None
        finishing = None
        for i, (fn, args) in enumerate(jobs):
            if pending is not None:
                prep = pending.result()
                pending = pre_pool.submit(jobs[i + 1][0], *jobs[i + 1][1]) if i + 1 < len(jobs) else None
            else:
                prep = fn(*args)
            times.decode += prep.decode_s
            times.preprocess += prep.preprocess_s
            times.skipped += prep.skipped
            bar.update(prep.count)
            if prep.x is None:
                continue
            t0 = time.perf_counter()
            y = rt.infer(prep.x, copy=False)[: len(prep.ids)]
            t1 = time.perf_counter()
            cands = select_candidates(y, conf)  # copies what it keeps: y may be overwritten next call
            times.infer += t1 - t0
            times.postprocess += time.perf_counter() - t1
            times.images += len(prep.ids)
            if prefetch:  # NMS of this batch overlaps the next batch's inference
                if finishing is not None:
                    times.postprocess += finishing.result()
                finishing = post_pool.submit(finish, cands, prep)
            else:
                times.postprocess += finish(cands, prep)
        if finishing is not None:
            times.postprocess += finishing.result()
    times.wall = time.perf_counter() - wall0
    return dets, times


def end_to_end(rt: Runtime, image_paths: list[Path], size: int) -> dict[str, float]:
    """Batch-1 image-file-to-detections time per image, split by phase, at deployment settings
    (conf 0.25, IoU 0.45), after a two-image warm-up."""
    predict(rt, image_paths[:2], batch=1, conf=0.25, iou=0.45, imgsz=size)
    _, t = predict(rt, image_paths, batch=1, conf=0.25, iou=0.45, imgsz=size)
    n = max(t.images, 1)
    return {
        "e2e_decode_ms": round(1000 * t.decode / n, 3),
        "e2e_preprocess_ms": round(1000 * t.preprocess / n, 3),
        "e2e_infer_ms": round(1000 * t.infer / n, 3),
        "e2e_postprocess_ms": round(1000 * t.postprocess / n, 3),
        "e2e_total_ms": round(1000 * t.total / n, 3),
        "e2e_total_without_decode_ms": round(1000 * (t.total - t.decode) / n, 3),
        "e2e_images": t.images,
    }
