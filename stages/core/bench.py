"""Timing harness: warm-up, interleaved timed runs, percentile statistics, harness overhead."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .dataset import load_images, load_split
from .preprocess import preprocess

STATS = ("mean", "std", "min", "p50", "p90", "p99", "max")


def summarize(seconds: list[float] | np.ndarray, batch: int) -> dict[str, float]:
    """Latency statistics in ms per batch, per-image latency and throughput (images/s)."""
    t = np.asarray(seconds, dtype=np.float64) * 1000.0
    if t.size == 0:
        raise ValueError("no timings to summarize")
    out = {
        "mean_ms": t.mean(), "std_ms": t.std(ddof=1) if t.size > 1 else 0.0, "min_ms": t.min(),
        "p50_ms": np.percentile(t, 50), "p90_ms": np.percentile(t, 90), "p99_ms": np.percentile(t, 99),
        "max_ms": t.max(),
    }
    out["per_image_ms"] = out["mean_ms"] / batch
    out["throughput_ips"] = 1000.0 * batch / out["mean_ms"]
    out["runs"] = int(t.size)
    return {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def time_calls(fn: Callable[[], Any], runs: int) -> list[float]:
    """Wall time of `runs` calls of fn, monotonic high-resolution clock."""
    clock = time.perf_counter
    out = []
    for _ in range(runs):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def interleaved(fns: dict[str, Callable[[], Any]], warmup: int, runs: int, min_seconds: float = 0.0,
                rounds: int = 5) -> dict[str, list[float]]:
    """Time several configurations side by side: warm each up, then alternate them in `rounds`
    so machine noise hits all alike. With min_seconds, rounds repeat until each has run that long.

    Each round starts with one untimed call: after a switch, the previous configuration's thread
    pool may still be spinning (ONNX Runtime's workers spin after a run) and caches are cold."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    per_round = max(1, runs // rounds)
    while True:
        for k, fn in fns.items():
            if len(fns) > 1:
                fn()
            times[k] += time_calls(fn, per_round)
        if all(len(v) >= runs and sum(v) >= min_seconds for v in times.values()):
            return times


def harness_overhead_s(runs: int = 20000) -> float:
    """Seconds the timing loop adds per call: time_calls on a no-op minus a bare loop of the same."""
    noop = lambda: None  # noqa: E731
    t0 = time.perf_counter()
    time_calls(noop, runs)
    harness = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(runs):
        noop()
    bare = time.perf_counter() - t0
    return max(harness - bare, 0.0) / runs


def bench_inputs(kind: str, batch_sizes: list[int], size: int, split_dir: Path, seed: int = 0) -> np.ndarray:
    """Inputs for the largest batch: real preprocessed eval images (default) or seeded random."""
    n = max(batch_sizes)
    if kind == "random":
        return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)
    paths = load_split(split_dir)
    imgs, _, _ = load_images([paths[i % len(paths)] for i in range(n)])
    return preprocess(imgs, size)[0]


def flat(prefix: str, stats: dict[str, Any]) -> dict[str, Any]:
    """{'p50_ms': 3} -> {'<prefix>_p50_ms': 3}: flat, stable metric keys for `dvc metrics diff`."""
    return {f"{prefix}_{k}": v for k, v in stats.items()}


def end_to_end(rt, image_paths: list[Path], size: int) -> dict[str, float]:
    """Batch-1 decoded-image-to-detections time per image, split by phase (deployment conf 0.25)."""
    from .evaluate import predict

    predict(rt, image_paths[:2], batch=1, conf=0.25, iou=0.45, imgsz=size)  # warm-up
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
