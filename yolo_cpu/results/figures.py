"""Figures looked up in the stages' merged results (headline metrics with their detail files): the
stages a document reads, where a variant's timings live, its timing figure at a batch size, and the
share of this CPU's peak it reaches."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.measure.roofline import PEAK_PRECISION, PeakError, share_of_peak
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS

SOURCES = (
    "download",
    "export_dynamic",
    "convert_ir",
    "calibrate",
    "quantize_ov",
    "quantize_ort",
    "bench_ort",
    "bench_ov",
    "bench_deploy",
    "bench_torch",
    "memory",
    "eval_map",
    "roofline",
)


TIMING_STAGES = ("bench_ort", "bench_ov")  # the stages whose figures the ratios over the best FP32 combine


def timing_source(variant: str) -> str:
    """The results source of a variant's timings: bench_ov or bench_ort."""
    return "bench_ov" if variant in OV_VARIANTS else "bench_ort"


def latency_figure(m: dict[str, Any], variant: str, n: int, figure: str) -> Any:
    """A variant's synchronous timing figure at batch n (keys.at_batch), from bench-ov or bench-ort."""
    return m.get(timing_source(variant), {}).get(keys.at_batch(variant, n, figure))


def batch_sizes(m: dict[str, Any]) -> list[int]:
    return sorted({n for src in ("bench_ort", "bench_ov") for n in m.get(src, {}).get("batch_sizes", [])})


def map_vs_latency(m: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """{variant: (batch-1 p50 ms, mAP50-95)} for every variant measured by both stages."""
    ev = m.get("eval_map", {})
    out = {}
    for v in VARIANTS:
        lat, ap = latency_figure(m, v, 1, "p50_ms"), ev.get(keys.map50_95(v))
        if lat is not None and ap is not None:
            out[v] = (lat, ap)
    return out


def shares_of_peak(m: dict[str, Any]) -> dict[str, float | None]:
    """{variant: achieved operations per second at its best images/s over this CPU's peak for its
    precision}; None where that would exceed the peak (share_of_peak refuses: the peak is not this
    CPU's limit)."""
    roof = m.get("roofline", {})
    out: dict[str, float | None] = {}
    for v in VARIANTS:
        ips, peak = m.get(timing_source(v), {}).get(keys.best_ips(v)), roof.get(f"peak_{PEAK_PRECISION[v]}_gops")
        if ips and peak and roof.get("model_gflops"):
            try:
                out[v] = share_of_peak(roof["model_gflops"], ips, peak, v)
            except PeakError:
                out[v] = None
    return out
