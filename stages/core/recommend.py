"""Which variant to use on the machine that ran the pipeline: for each objective, the best variant
whose mAP50-95 drop against FP32 stays within a budget."""
from __future__ import annotations

import re
from typing import Any, Callable

from .report import latency_figure
from .variants import BASELINE, OV_VARIANTS, VARIANTS

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


def recommend(m: dict[str, Any], max_map_drop: float) -> dict[str, dict[str, Any]]:
    """{objective: {variant, figure, map_drop, what, unit}} over the variants within the mAP budget that were
    measured for that objective; an objective nobody qualifies for is left out."""
    drops = map_drops(m)
    out = {}
    for objective, (_, _, higher) in OBJECTIVES.items():
        scored = [(fig, v) for v, d in drops.items() if d <= max_map_drop
                  and (fig := FIGURES[objective](m, v)) is not None]
        if scored:
            fig, v = max(scored) if higher else min(scored)
            what, unit, _ = OBJECTIVES[objective]
            out[objective] = {"variant": v, "figure": fig, "map_drop": drops[v], "what": what, "unit": unit}
    return out


def as_metrics(rec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Flat metric keys: <objective>_variant / _figure / _map_drop."""
    return {f"{objective}_{k}": r[k] for objective, r in rec.items() for k in ("variant", "figure", "map_drop")}
