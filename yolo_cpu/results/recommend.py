"""Which variant to use on the machine that ran the pipeline: for each objective, the best variant
whose mAP50-95 drop against FP32 stays within a budget."""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from yolo_cpu.measure.intervals import log_ratio_interval, separable
from yolo_cpu.results.report import latency_figure
from yolo_cpu.models.variants import BASELINE, OV_VARIANTS, VARIANTS

# objective -> (what the figure is, its unit, higher is better)
OBJECTIVES: dict[str, tuple[str, str, bool]] = {
    "latency_p50": ("batch-1 p50 latency", "ms", False),
    "latency_p99": ("batch-1 p99 latency", "ms", False),
    "throughput": ("images/s at the best batch size", "images/s", True),
    "memory": ("peak resident memory", "MiB", False),
}


def best_throughput(m: dict[str, Any], v: str) -> float | None:
    """Best images/s over the batch sizes: OpenVINO's THROUGHPUT hint, ONNX Runtime's sync runs
    (batch sizes from the results, or read off the keys of headline-only results)."""
    src = m.get("bench_ov" if v in OV_VARIANTS else "bench_ort", {})
    key = "{v}_throughput_b{n}_ips" if v in OV_VARIANTS else "{v}_b{n}_ips"
    sizes = src.get("batch_sizes") or sorted({int(b.group(1)) for k in src if (b := re.search(r"_b(\d+)_", k))})
    values = [src[k] for n in sizes if (k := key.format(v=v, n=n)) in src]
    return max(values) if values else None


FIGURES: dict[str, Callable[[dict[str, Any], str], float | None]] = {
    "latency_p50": lambda m, v: latency_figure(m, v, 1, "p50_ms"),
    "latency_p99": lambda m, v: latency_figure(m, v, 1, "p99_ms"),
    "throughput": best_throughput,
    "memory": lambda m, v: m.get("memory", {}).get(f"{v}_rss_peak_mb"),
}


def map_drops(m: dict[str, Any]) -> dict[str, float]:
    """mAP50-95 points each evaluated variant loses against the FP32 variant of its runtime."""
    ev = m.get("eval_map", {})
    out = {}
    for v in VARIANTS:
        if f"{v}_map50_95" in ev:
            base = BASELINE.get(v, v)
            out[v] = round(ev[f"{base}_map50_95"] - ev[f"{v}_map50_95"], 3) if f"{base}_map50_95" in ev else None
    return {v: d for v, d in out.items() if d is not None}


TIE_RULE = "the variants tie, and the tie goes to the smaller mAP drop, then the smaller peak memory"


def slices_of(m: dict[str, Any], v: str, objective: str) -> tuple[str, list[float]] | None:
    """(timed group, per-slice figures) behind a variant's latency_p50 or throughput figure: slices
    of one group were timed side by side and pair up; None for objectives without slices."""
    ov = v in OV_VARIANTS
    src = m.get("bench_ov" if ov else "bench_ort", {})
    if objective == "latency_p50":
        key = f"{v}_latency_b1_slices_p50_ms" if ov else f"{v}_b1_slices_p50_ms"
        return (f"{'ov' if ov else 'ort'}:b1", src[key]) if key in src else None
    if objective == "throughput":
        best = best_throughput(m, v)
        for n in src.get("batch_sizes", []):
            if ov and src.get(f"{v}_throughput_b{n}_ips") == best and f"{v}_throughput_b{n}_slices_ips" in src:
                return f"ov:throughput_b{n}", src[f"{v}_throughput_b{n}_slices_ips"]
            if not ov and src.get(f"{v}_b{n}_ips") == best and f"{v}_b{n}_slices_mean_ms" in src:
                return f"ort:b{n}", [1000.0 * n / t for t in src[f"{v}_b{n}_slices_mean_ms"]]
    return None


def advantage(m: dict[str, Any], best: str, other: str, objective: str) -> tuple[float, float, float] | None:
    """How much better `best` is than `other` on the objective (a ratio > 1 means better) with its 95%
    interval: paired when both were timed in one group, else Welch's; None without slices."""
    a, b = slices_of(m, best, objective), slices_of(m, other, objective)
    if a is None or b is None:
        return None
    paired = a[0] == b[0] and len(a[1]) == len(b[1])
    higher = OBJECTIVES[objective][2]
    return log_ratio_interval(a[1], b[1], paired) if higher else log_ratio_interval(b[1], a[1], paired)


def recommend(m: dict[str, Any], max_map_drop: float) -> dict[str, dict[str, Any]]:
    """{objective: {variant, figure, map_drop, what, unit, runner_up, advantage[_lo/_hi], tie, tied,
    chosen_by}} over the variants within the mAP budget that were measured for that objective; an
    objective nobody qualifies for is left out. When the best figure is not separable from others
    (their advantage interval covers 1), they tie and TIE_RULE picks."""
    drops = map_drops(m)
    out = {}
    for objective, (what, unit, higher) in OBJECTIVES.items():
        scored = sorted(((fig, v) for v, d in drops.items() if d <= max_map_drop
                         and (fig := FIGURES[objective](m, v)) is not None), reverse=higher)
        if not scored:
            continue
        best = scored[0][1]
        r: dict[str, Any] = {"variant": best, "figure": scored[0][0], "map_drop": drops[best], "what": what,
                             "unit": unit, "runner_up": None, "advantage": None, "advantage_lo": None,
                             "advantage_hi": None, "tie": False, "tied": [best], "chosen_by": "figure"}
        for i, (_, other) in enumerate(scored[1:]):
            adv = advantage(m, best, other, objective)
            if i == 0:
                r["runner_up"] = other
                if adv is not None:
                    r.update(advantage=round(adv[0], 3), advantage_lo=_bound(adv[1]), advantage_hi=_bound(adv[2]))
            if adv is not None and not separable(adv[1], adv[2]):
                r["tied"].append(other)
        if len(r["tied"]) > 1:
            memory = FIGURES["memory"]
            pick = min(r["tied"], key=lambda v: (drops[v], memory(m, v) or float("inf")))
            r.update(tie=True, variant=pick, figure=FIGURES[objective](m, pick), map_drop=drops[pick],
                     chosen_by="tie: smaller mAP drop, then smaller memory")
        out[objective] = r
    return out


def _bound(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def as_metrics(rec: dict[str, dict[str, Any]], deployments: dict[str, dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    """Flat metric keys: <objective>_variant / _figure / _map_drop / _tie, the advantage over the
    runner-up with its interval where there is one, and for a bundled objective its batch size and
    end-to-end images/s (with their share of model-only)."""
    keys = ("variant", "figure", "map_drop", "tie", "advantage", "advantage_lo", "advantage_hi")
    out = {f"{objective}_{k}": r[k] for objective, r in rec.items() for k in keys if r.get(k) is not None}
    for objective, d in (deployments or {}).items():
        out |= {f"{objective}_{k}": d[k] for k in ("batch", "e2e_ips", "e2e_vs_model_only") if d.get(k) is not None}
    return out
