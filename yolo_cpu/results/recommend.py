"""Which variant to use on the machine that ran the pipeline: for each objective, the best variant
whose mAP50-95 drop against FP32 stays within a budget."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from yolo_cpu import keys
from yolo_cpu.measure.intervals import log_ratio_interval, separable
from yolo_cpu.models.variants import BASELINE, OV_VARIANTS, VARIANTS
from yolo_cpu.results.figures import latency_figure, timing_source

# objective -> (what the figure is, its unit, higher is better)
OBJECTIVES: dict[str, tuple[str, str, bool]] = {
    "latency_p50": ("batch-1 p50 latency", "ms", False),
    "latency_p99": ("batch-1 p99 latency", "ms", False),
    "throughput": ("images/s at the best batch size", "images/s", True),
    "memory": ("peak resident memory", "MiB", False),
}


def best_throughput(m: dict[str, Any], v: str) -> float | None:
    """Images/s at the variant's best batch size: OpenVINO's THROUGHPUT hint, ONNX Runtime's sync runs."""
    return m.get(timing_source(v), {}).get(keys.best_ips(v))


FP32_VARIANTS = tuple(v for v, var in VARIANTS.items() if var.precision == "fp32")  # the baselines a user has


FIGURES: dict[str, Callable[[dict[str, Any], str], float | None]] = {
    "latency_p50": lambda m, v: latency_figure(m, v, 1, "p50_ms"),
    "latency_p99": lambda m, v: latency_figure(m, v, 1, "p99_ms"),
    "throughput": best_throughput,
    "memory": lambda m, v: m.get("memory", {}).get(keys.peak_memory(v)),
}


def map_drops(m: dict[str, Any]) -> dict[str, float]:
    """mAP50-95 points each evaluated variant loses against the FP32 variant of its runtime."""
    ev = m.get("eval_map", {})
    out = {}
    for v in VARIANTS:
        if keys.map50_95(v) in ev:
            base = keys.map50_95(BASELINE.get(v, v))
            out[v] = round(ev[base] - ev[keys.map50_95(v)], 3) if base in ev else None
    return {v: d for v, d in out.items() if d is not None}


TIE_RULE = "the variants tie, and the tie goes to the smaller mAP drop, then the smaller peak memory"


def slices_of(m: dict[str, Any], v: str, objective: str) -> tuple[str, list[float]] | None:
    """(timed group, per-slice figures) behind a variant's latency_p50 or throughput figure: slices
    of one group were timed side by side and pair up; None for objectives without slices."""
    ov = v in OV_VARIANTS
    src = m.get(timing_source(v), {})
    if objective == "latency_p50":
        key = keys.slices(v, 1, "p50_ms")
        return (f"{'ov' if ov else 'ort'}:b1", src[key]) if key in src else None
    if objective == "throughput":
        n = src.get(keys.best_batch(v))
        if n is None:
            return None
        if ov and keys.slices(v, n, "ips") in src:
            return f"ov:throughput_b{n}", src[keys.slices(v, n, "ips")]
        if not ov and keys.slices(v, n, "mean_ms") in src:
            return f"ort:b{n}", [1000.0 * n / t for t in src[keys.slices(v, n, "mean_ms")]]
    return None


def advantage(m: dict[str, Any], best: str, other: str, objective: str) -> tuple[float, float, float] | None:
    """How much better `best` is than `other` on the objective (a ratio > 1 means better) with its 95%
    interval: paired when both were timed in one group (for batch-1 latency, also bench-ov's group
    with ONNX Runtime's FP32 references), else Welch's; None without slices."""
    higher = OBJECTIVES[objective][2]
    if objective == "latency_p50":
        for src in dict.fromkeys((timing_source(best), timing_source(other))):
            a, b = (m.get(src, {}).get(keys.slices(v, 1, "p50_ms")) for v in (best, other))
            if a and b and len(a) == len(b):
                return log_ratio_interval(b, a, True)
    a, b = slices_of(m, best, objective), slices_of(m, other, objective)
    if a is None or b is None:
        return None
    paired = a[0] == b[0] and len(a[1]) == len(b[1])
    return log_ratio_interval(a[1], b[1], paired) if higher else log_ratio_interval(b[1], a[1], paired)


def recommend(m: dict[str, Any], max_map_drop: float) -> dict[str, dict[str, Any]]:
    """{objective: {variant, figure, map_drop, what, unit, runner_up, advantage[_lo/_hi], tie, tied,
    chosen_by}} over the variants within the mAP budget that were measured for that objective; an
    objective nobody qualifies for is left out. When the best figure is not separable from others
    (their advantage interval covers 1), they tie and TIE_RULE picks."""
    drops = map_drops(m)
    out = {}
    for objective, (what, unit, higher) in OBJECTIVES.items():
        scored = sorted(
            ((fig, v) for v, d in drops.items() if d <= max_map_drop and (fig := FIGURES[objective](m, v)) is not None),
            reverse=higher,
        )
        if not scored:
            continue
        best = scored[0][1]
        r: dict[str, Any] = {
            "variant": best,
            "figure": scored[0][0],
            "map_drop": drops[best],
            "what": what,
            "unit": unit,
            "runner_up": None,
            "advantage": None,
            "advantage_lo": None,
            "advantage_hi": None,
            "tie": False,
            "tied": [best],
            "chosen_by": "figure",
        }
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
            r.update(
                tie=True,
                variant=pick,
                figure=FIGURES[objective](m, pick),
                map_drop=drops[pick],
                chosen_by="tie: smaller mAP drop, then smaller memory",
            )
        out[objective] = r
    return out


def tradeoffs(m: dict[str, Any], rec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each recommended objective, the best variant of all on it, budget or not, and what it
    would cost against the recommended one: {fastest, figure, advantage[_lo/_hi] (its figure over the
    recommended's, > 1 better, 95%; no interval where no slices stand behind the figures),
    more_points[_lo/_hi] (the mAP50-95 points it loses beyond the recommended's, from the same paired
    resamples: eval_map's map_differences)}; fastest is the recommended variant itself when nothing
    beats it."""
    drops = map_drops(m)
    differences = m.get("eval_map", {}).get("map_differences", {})
    out: dict[str, dict[str, Any]] = {}
    for objective, r in rec.items():
        higher = OBJECTIVES[objective][2]
        scored = sorted(((fig, v) for v in drops if (fig := FIGURES[objective](m, v)) is not None), reverse=higher)
        fastest = scored[0][1] if scored else r["variant"]
        t: dict[str, Any] = {"fastest": fastest, "figure": FIGURES[objective](m, fastest), "recommended": r["variant"]}
        if fastest != r["variant"]:
            adv = advantage(m, fastest, r["variant"], objective)
            if adv is not None:
                t.update(advantage=round(adv[0], 3), advantage_lo=_bound(adv[1]), advantage_hi=_bound(adv[2]))
            elif t["figure"] and r["figure"]:  # no slices behind the figures (p99, memory): the ratio alone
                t["advantage"] = round(t["figure"] / r["figure"] if higher else r["figure"] / t["figure"], 3)
            d = differences.get(f"{r['variant']}|{fastest}")
            if d is not None:
                t.update(more_points=d[0], more_points_lo=d[1], more_points_hi=d[2])
            else:
                t["more_points"] = round(drops[fastest] - drops[r["variant"]], 3)
        out[objective] = t
    return out


def judgeable(m: dict[str, Any], budget: float) -> dict[str, dict[str, Any]]:
    """The variants whose mAP50-95 drop the evaluation cannot judge against the budget: the drop's
    95% interval is wider than the budget (its half-width exceeds it). For each, the half-width, the
    images behind it and about how many would bring the half-width to the budget (an interval
    narrows as 1/sqrt(N))."""
    ev = m.get("eval_map", {})
    images = ev.get("images")
    out = {}
    for v in map_drops(m):
        lo, hi = ev.get(keys.interval(keys.map_delta(v))[0]), ev.get(keys.interval(keys.map_delta(v))[1])
        if lo is None or hi is None or not images:
            continue
        half = (hi - lo) / 2
        if half > budget:
            out[v] = {
                "half_width": round(half, 3),
                "images": images,
                "images_needed": math.ceil(images * (half / budget) ** 2) if budget > 0 else None,
            }
    return out


def best_fp32(m: dict[str, Any], objective: str) -> str | None:
    """The best FP32 variant of any runtime on the objective (the release model as downloaded too).
    For batch-1 latency, where bench-ov timed ONNX Runtime's FP32 beside its own (fp32_references),
    the pick comes from that group: figures timed side by side, not minutes apart."""
    if objective == "latency_p50":
        ov = m.get("bench_ov", {})
        together = {v: ov[keys.b1_p50(v)] for v in FP32_VARIANTS if keys.b1_p50(v) in ov}
        if len(together) > 1:
            return min(together, key=together.get)
    higher = OBJECTIVES[objective][2]
    scored = [(fig, v) for v in FP32_VARIANTS if (fig := FIGURES[objective](m, v)) is not None]
    return (max(scored) if higher else min(scored))[1] if scored else None


def over_best_fp32(m: dict[str, Any]) -> dict[str, Any]:
    """For latency_p50 and throughput: the best FP32 variant (best_fp32_<objective>) and every
    variant's ratio over it with its 95% interval (keys.over_best_fp32; > 1 is better): paired when
    both were timed in one group, else Welch's."""
    out: dict[str, Any] = {}
    for objective in keys.HEADLINE_OBJECTIVES:
        ref = best_fp32(m, objective)
        if ref is None:
            continue
        out[f"best_fp32_{objective}"] = ref
        for v in VARIANTS:
            if FIGURES[objective](m, v) is None:
                continue
            key = keys.over_best_fp32(v, objective)
            adv = (1.0, math.nan, math.nan) if v == ref else advantage(m, v, ref, objective)
            if adv is not None:
                lo, hi = keys.interval(key)
                out.update({key: round(adv[0], 3), lo: _bound(adv[1]), hi: _bound(adv[2])})
    return out


def _bound(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def as_metrics(
    rec: dict[str, dict[str, Any]], ratios: dict[str, Any], deployments: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Flat metric keys (keys.objective): <objective>_variant / _figure / _map_drop / _tie, the
    advantage over the runner-up with its interval, the recommended variant's ratio over the best FP32
    with its interval (x_best_fp32), for a bundled objective its batch size and end-to-end images/s
    (with their share of model-only); and `ratios` (over_best_fp32)."""
    names = ("variant", "figure", "map_drop", "tie", "advantage", "advantage_lo", "advantage_hi")
    out = {keys.objective(o, k): r[k] for o, r in rec.items() for k in names if r.get(k) is not None}
    for o, r in rec.items():
        mine = keys.over_best_fp32(r["variant"], o)
        if mine in ratios:
            out.update({keys.objective(o, "x_best_fp32" + b): ratios[mine + b] for b in ("", "_lo", "_hi")})
    for o, d in (deployments or {}).items():
        out |= {keys.objective(o, k): d[k] for k in ("batch", "e2e_ips", "e2e_vs_model_only") if d.get(k) is not None}
    return out | ratios
