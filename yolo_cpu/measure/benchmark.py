"""What bench-ort and bench-ov share: loading each variant with its load and first-inference time,
latency and throughput rounds per batch size in interleaved slices, each variant's best images/s,
speed-ups over the baseline variant with their 95% intervals from the paired slices, the
host's noise flags, and the harness-overhead and end-to-end figures."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu import keys
from yolo_cpu.measure.intervals import log_ratio_interval, log_spread
from yolo_cpu.measure.timing import (
    SliceRun,
    async_throughput,
    harness_overhead_s,
    host_activity,
    median_ms,
    slice_calls,
    sliced,
    summarize,
    warm,
)
from yolo_cpu.models.variants import BASELINE
from yolo_cpu.runtime.predict import end_to_end
from yolo_cpu.runtime.runtimes import Runtime


def load_timed(load: Callable[[], Runtime], x: np.ndarray) -> tuple[Runtime, dict[str, float]]:
    """A runtime from `load()` with its load (compile) time and first batch-1 inference time."""
    t0 = time.perf_counter()
    rt = load()
    load_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    rt.infer(x[:1])
    return rt, {"load_ms": round(load_ms, 2), "first_inference_ms": round(1000 * (time.perf_counter() - t0), 2)}


def timing_pairs(variants: list[str]) -> list[tuple[str, str]]:
    """(variant, baseline) for each variant whose baseline (variants.BASELINE) is timed alongside."""
    return [(v, BASELINE[v]) for v in variants if BASELINE.get(v) in variants]


def group_info(run: SliceRun, name: str) -> dict[str, Any]:
    """Detail figures of one timed group: slices, why it stopped, seconds, and the pairs' half-widths."""
    return {
        f"{name}_slices": len(next(iter(run.slices.values()))),
        f"{name}_stopped_by": run.stopped_by,
        f"{name}_seconds": round(run.seconds, 2),
        **{f"{name}_halfwidth_{pair.replace('/', '_vs_')}": round(w, 4) for pair, w in run.halfwidths.items()},
    }


def latency_round(
    rts: dict[str, Runtime],
    x: np.ndarray,
    b: dict[str, Any],
    group: str,
    pairs: list[tuple[str, str]] | None = None,
    ips_figure: str = "ips",
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Time the runtimes side by side at batch len(x) in interleaved slices (bench params `b`: warmup,
    slice_runs, min_slices, target_halfwidth, max_seconds), until the batch-p50 ratios of each variant
    to its baseline are known within the target or the cap. `pairs` (default: each variant with its
    baseline) are the ratios whose precision decides when to stop; none: after bench.min_slices.
    Returns the figures (keys.at_batch: p50, p90, p99, mean ... ms per batch, per-image ms, images/s
    as `ips_figure`, and every slice's median and mean ms; the group's slices and stop reason under
    `group`) and {variant: per-slice median ms}."""
    n = len(x)
    fns = {v: (lambda rt=rt: rt.infer(x, copy=False)) for v, rt in rts.items()}
    warm(fns, b["warmup"])
    run = sliced(
        {v: slice_calls(fn, b["slice_runs"], len(fns) > 1) for v, fn in fns.items()},
        median_ms,
        b["min_slices"],
        timing_pairs(list(rts)) if pairs is None else pairs,
        b["target_halfwidth"],
        b["max_seconds"],
    )
    figures: dict[str, Any] = group_info(run, group)
    medians: dict[str, list[float]] = {}
    for v, slices in run.slices.items():
        s = summarize([t for sl in slices for t in sl], n)
        figures[keys.at_batch(v, n, ips_figure)] = s.pop("throughput_ips")
        figures.update({keys.at_batch(v, n, k): val for k, val in s.items()})
        medians[v] = [round(median_ms(sl), 4) for sl in slices]
        figures[keys.slices(v, n, "p50_ms")] = medians[v]
        figures[keys.slices(v, n, "mean_ms")] = [round(1000 * float(np.mean(sl)), 4) for sl in slices]
    return figures, medians


def throughput_round(
    rts: dict[str, Any], x: np.ndarray, b: dict[str, Any], slice_seconds: float
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """OpenVINO images/s with an AsyncInferQueue per variant at batch len(x), in interleaved slices of
    slice_seconds (each after one untimed round of requests), stopped like latency_round. Figures:
    images/s (keys.at_batch 'ips', the slices' mean), the request settings and every slice's images/s
    (group throughput_b<n>); also returns {variant: per-slice images/s}."""
    n = len(x)
    infos: dict[str, dict[str, Any]] = {}

    def one_slice(v: str, rt: Any) -> Callable[[], float]:
        xv = x.astype(rt.input_dtype, copy=False)

        def measure() -> float:
            r = async_throughput(rt.compiled, xv, slice_seconds)
            infos.setdefault(v, {k: val for k, val in r.items() if k not in ("throughput_ips", "infers")})
            infos[v]["infers"] = infos[v].get("infers", 0) + r["infers"]
            return r["throughput_ips"]

        return measure

    run = sliced(
        {v: one_slice(v, rt) for v, rt in rts.items()},
        float,
        b["min_slices"],
        timing_pairs(list(rts)),
        b["target_halfwidth"],
        b["max_seconds"],
    )
    figures: dict[str, Any] = group_info(run, f"throughput_b{n}")
    for v, ips in run.slices.items():
        figures[keys.at_batch(v, n, "ips")] = round(float(np.mean(ips)), 3)
        figures.update({keys.at_batch(v, n, f"throughput_{k}"): val for k, val in infos[v].items()})
        figures[keys.slices(v, n, "ips")] = [round(i, 3) for i in ips]
    return figures, {v: list(map(float, ips)) for v, ips in run.slices.items()}


def best_figures(figures: dict[str, Any], variants: list[str], sizes: list[int], ips: str = "ips") -> dict[str, Any]:
    """Each variant's images/s at its best batch size and that batch size (keys.best_ips, best_batch),
    from the per-batch images/s in `figures` (keys.at_batch figure `ips`)."""
    out: dict[str, Any] = {}
    for v in variants:
        measured = {n: figures[k] for n in sizes if (k := keys.at_batch(v, n, ips)) in figures}
        if measured:
            n = max(measured, key=measured.get)
            out[keys.best_ips(v)], out[keys.best_batch(v)] = measured[n], n
    return out


def interval_keys(name: str, ratio: float, lo: float, hi: float) -> dict[str, float | None]:
    """{name, name_lo, name_hi} rounded; None bounds when the slices were too few for an interval."""
    return {
        name: round(ratio, 3),
        f"{name}_lo": None if math.isnan(lo) else round(lo, 3),
        f"{name}_hi": None if math.isnan(hi) else round(hi, 3),
    }


def speedup(
    mine: list[float], base: list[float], higher_is_faster: bool, name: str, paired: bool = True
) -> dict[str, float | None]:
    """A speed-up and its 95% interval from per-slice figures: paired slices give the per-slice ratio's
    geometric mean and t interval; unpaired (different timed groups), Welch's interval."""
    num, den = (mine, base) if higher_is_faster else (base, mine)
    return interval_keys(name, *log_ratio_interval(num, den, paired))


def best_batch_speedup(
    slices: dict[int, dict[str, list[float]]], figures: dict[str, Any], v: str, base: str, name: str
) -> dict[str, float | None]:
    """Images/s speed-up of v at its best batch size over base at its own, the best batch sizes the
    ones best_figures recorded in `figures`: paired when both peak at the same batch size (one timed
    group), else unpaired. slices: {batch: {variant: per-slice images/s}}."""
    best = {u: figures[keys.best_batch(u)] for u in (v, base)}
    paired = best[v] == best[base]
    out = speedup(slices[best[v]][v], slices[best[base]][base], True, name, paired)
    out[f"{name}_batch"] = best[v]
    return out


def host_flags(before: dict[str, float], spreads: dict[str, float], b: dict[str, Any]) -> tuple[dict, dict]:
    """Whether the host was noisy while timing: (headline, detail). Detail: steal share, other
    processes' CPU share and load average over the stage, the largest spread of the paired slice
    ratios, and why the run is noisy: that spread over bench.noisy_spread, steal over
    bench.noisy_steal_pct, or other processes over bench.noisy_other_cpu_pct (a second job slows
    every variant alike, so the ratios can stay tight while every absolute figure is off)."""
    host = host_activity(before)
    worst = max(spreads.items(), key=lambda kv: kv[1]) if spreads else ("", 0.0)
    reasons = [
        why
        for why, hit in (
            (f"paired ratio spread {worst[1]:.3f} > bench.noisy_spread", worst[1] > b["noisy_spread"]),
            (
                f"steal {host['host_steal_pct']:.1f}% > bench.noisy_steal_pct",
                host["host_steal_pct"] > b["noisy_steal_pct"],
            ),
            (
                f"other processes used {host['host_other_cpu_pct']:.1f}% of the CPU > bench.noisy_other_cpu_pct",
                host["host_other_cpu_pct"] > b["noisy_other_cpu_pct"],
            ),
        )
        if hit
    ]
    return {"noisy_run": bool(reasons)}, {
        **host,
        "noisy_reasons": reasons,
        "ratio_spread_max": round(worst[1], 4),
        "ratio_spread_max_pair": worst[0],
        "ratio_spreads": spreads,
    }


def ratio_spreads(group: str, slices: dict[str, list[float]]) -> dict[str, float]:
    """{group:variant/base: spread of the per-slice log ratios} for the group's pairs."""
    return {
        f"{group}:{v}/{base}": round(log_spread(np.divide(slices[v], slices[base])), 4)
        for v, base in timing_pairs(list(slices))
    }


def harness_and_end_to_end(
    rt: Runtime, variant: str, images: list[Path], size: int, ref_p50_ms: float | None
) -> dict[str, Any]:
    """Detail figures: the timing loop's own cost per call (and its share of batch-1 p50), and the
    batch-1 end-to-end time of `variant` split by phase."""
    overhead = harness_overhead_s()
    out: dict[str, Any] = {"harness_overhead_us": round(overhead * 1e6, 4)}
    if ref_p50_ms:
        out["harness_overhead_pct_of_b1"] = round(100 * overhead * 1000 / ref_p50_ms, 5)
    out.update(end_to_end(rt, images, size))
    out["e2e_variant"] = variant
    return out
