"""Timing harness: warm-up, interleaved timed runs, percentile statistics, harness overhead, and
OpenVINO's asynchronous throughput."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


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


def async_throughput(compiled, x: np.ndarray, seconds: float) -> dict[str, Any]:
    """Images/s of an OpenVINO compiled model with an AsyncInferQueue sized to its optimal number
    of requests, after one warm-up round on every request."""
    import openvino as ov

    nreq = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(compiled, nreq)
    for _ in range(nreq):
        queue.start_async({0: x}, share_inputs=True)
    queue.wait_all()
    done = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(nreq):
            queue.start_async({0: x}, share_inputs=True)
        done += nreq
    queue.wait_all()
    elapsed = time.perf_counter() - t0
    return {"throughput_ips": round(done * x.shape[0] / elapsed, 3), "requests": nreq, "infers": done,
            "streams": str(compiled.get_property("NUM_STREAMS"))}
