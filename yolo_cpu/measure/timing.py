"""Timing harness: warm-up, interleaved timed runs, percentile statistics, harness overhead, and
OpenVINO's asynchronous throughput."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.measure.intervals import log_ratio_interval, relative_halfwidth


def summarize(seconds: list[float] | np.ndarray, batch: int) -> dict[str, float]:
    """Latency statistics in ms per batch, per-image latency and throughput (images/s)."""
    t = np.asarray(seconds, dtype=np.float64) * 1000.0
    if t.size == 0:
        raise ValueError("no timings to summarize")
    out = {
        "mean_ms": t.mean(),
        "std_ms": t.std(ddof=1) if t.size > 1 else 0.0,
        "min_ms": t.min(),
        "p50_ms": np.percentile(t, 50),
        "p90_ms": np.percentile(t, 90),
        "p99_ms": np.percentile(t, 99),
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


@dataclass
class SliceRun:
    """What sliced() measured: each configuration's slice results in order (slice i of every
    configuration ran in the same round), and why it stopped."""

    slices: dict[str, list[Any]]
    stopped_by: str  # "precision" (every pair's interval narrow enough), "time cap", "slices"
    seconds: float
    halfwidths: dict[str, float] = field(default_factory=dict)  # "var/base" -> relative half-width at the stop


def sliced(
    fns: dict[str, Callable[[], Any]],
    figure: Callable[[Any], float],
    min_slices: int,
    pairs: list[tuple[str, str]] = (),
    target: float = 0.0,
    max_seconds: float = 0.0,
    done: Callable[[dict[str, list[Any]]], bool] | None = None,
) -> SliceRun:
    """Run each configuration's slice function once per round, all configurations in every round
    (the first one rotating), so a slow phase of the host hits them alike and slice i of each pairs
    up. After min_slices rounds, stop once every (variant, base) pair's ratio of figure(slice) has a
    95% interval of relative half-width <= target, or max_seconds have passed (the cap), whichever
    comes first; without pairs or target, after min_slices rounds (and `done`, if given)."""
    order = list(fns)
    out: dict[str, list[Any]] = {k: [] for k in order}
    t0 = time.perf_counter()
    rounds = 0
    while True:
        start = rounds % len(order)
        for k in order[start:] + order[:start]:
            out[k].append(fns[k]())
        rounds += 1
        if rounds < min_slices or (done is not None and not done(out)):
            continue
        elapsed = time.perf_counter() - t0
        if not pairs or target <= 0:
            return SliceRun(out, "slices", elapsed)
        widths = {
            f"{v}/{b}": relative_halfwidth(
                *log_ratio_interval([figure(s) for s in out[v]], [figure(s) for s in out[b]])
            )
            for v, b in pairs
        }
        if all(w <= target for w in widths.values()):
            return SliceRun(out, "precision", elapsed, widths)
        if elapsed >= max_seconds:
            return SliceRun(out, "time cap", elapsed, widths)


def median_ms(seconds: list[float]) -> float:
    """A latency slice's figure: its median call in ms."""
    return 1000.0 * float(np.median(seconds))


def interleaved(
    fns: dict[str, Callable[[], Any]], warmup: int, runs: int, min_seconds: float = 0.0, rounds: int = 5
) -> dict[str, list[float]]:
    """Time several configurations side by side: warm each up, then alternate them in `rounds`
    slices so machine noise hits all alike; every call's seconds per configuration. With
    min_seconds, slices repeat until each configuration has run that long.

    Each slice starts with one untimed call: after a switch, the previous configuration's thread
    pool may still be spinning (ONNX Runtime's workers spin after a run) and caches are cold."""
    warm(fns, warmup)
    per_slice = max(1, runs // rounds)

    def enough(out: dict[str, list[list[float]]]) -> bool:
        return all(sum(map(len, v)) >= runs and sum(map(sum, v)) >= min_seconds for v in out.values())

    run = sliced(
        {k: slice_calls(fn, per_slice, len(fns) > 1) for k, fn in fns.items()}, median_ms, min_slices=1, done=enough
    )
    return {k: [t for s in v for t in s] for k, v in run.slices.items()}


def warm(fns: dict[str, Callable[[], Any]], warmup: int) -> None:
    for fn in fns.values():
        for _ in range(warmup):
            fn()


def slice_calls(fn: Callable[[], Any], calls: int, lead_in: bool) -> Callable[[], list[float]]:
    """A latency slice: one untimed call when configurations alternate (lead_in), then `calls` timed calls."""

    def one_slice() -> list[float]:
        if lead_in:
            fn()
        return time_calls(fn, calls)

    return one_slice


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
    return {
        "throughput_ips": round(done * x.shape[0] / elapsed, 3),
        "requests": nreq,
        "infers": done,
        "streams": str(compiled.get_property("NUM_STREAMS")),
    }


def host_sample() -> dict[str, float]:
    """The host's CPU time counters (jiffies, all CPUs: total, busy, steal), this process's own CPU
    time (its threads and waited-for children, in jiffies) and the 1-minute load average."""
    sample = {
        "total": 0.0,
        "busy": 0.0,
        "steal": 0.0,
        "own": _own_jiffies(),
        "load_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
    }
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return sample
    values = [float(v) for v in fields[1:9]] + [0.0] * 8  # user nice system idle iowait irq softirq steal
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    sample.update(total=sum(values[:8]), busy=user + nice + system + irq + softirq, steal=steal)
    return sample


def _own_jiffies() -> float:
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * os.sysconf("SC_CLK_TCK")


def host_activity(before: dict[str, float]) -> dict[str, float]:
    """What the host did since `before` (a host_sample): the share of all CPU time stolen by the
    hypervisor, the share other processes used (busy time not this process's: a second job on the
    machine), and the 1-minute load average at the start and now."""
    after = host_sample()
    total = after["total"] - before["total"]
    steal = 100.0 * (after["steal"] - before["steal"]) / total if total > 0 else 0.0
    others = (after["busy"] - before["busy"]) - (after["own"] - before["own"])
    other = max(0.0, 100.0 * others / total) if total > 0 else 0.0
    return {
        "host_steal_pct": round(steal, 3),
        "host_other_cpu_pct": round(other, 2),
        "host_load_1m_start": round(before["load_1m"], 2),
        "host_load_1m_end": round(after["load_1m"], 2),
    }
