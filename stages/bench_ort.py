"""bench-ort stage: ONNX Runtime latency percentiles and images/s per variant and batch size
(variants timed side by side in interleaved slices), speed-ups over ort_fp32 with 95% intervals from
the paired slices, load and first-inference times, end to end, whether the host was noisy."""

from __future__ import annotations

import time
from typing import Any

from yolo_cpu import keys, paths
from yolo_cpu.data.dataset import load_split, sample_batch
from yolo_cpu.io import require_file
from yolo_cpu.measure import budget
from yolo_cpu.measure.benchmark import (
    best_batch_speedup,
    best_figures,
    harness_and_end_to_end,
    host_flags,
    latency_round,
    load_timed,
    ratio_spreads,
    speedup,
    timing_pairs,
)
from yolo_cpu.measure.timing import host_sample
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.results.plots import write_per_image_latency, write_series


def main() -> None:
    started, before = time.perf_counter(), host_sample()
    p = params.load("model", "bench", "bench_ort")
    name, size, b, o = p["model"]["name"], p["model"]["imgsz"], p["bench"], p["bench_ort"]
    opts = {k: o[k] for k in ("intra_threads", "inter_threads", "execution_mode", "graph_optimization")}
    variants, sizes = list(o["variants"]), b["batch_sizes"]
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    budget.check(*budget.needs(p)["bench"])
    x = sample_batch(b["input"], max(sizes), size, paths.EVAL_DIR)
    figures: dict[str, Any] = {"input": b["input"], "batch_sizes": sizes, **opts}
    rts = {}
    for v in variants:
        rts[v], loaded = load_timed(lambda v=v: VARIANTS[v].load(name, **opts), x)
        figures.update({f"{v}_{k}": val for k, val in loaded.items()})

    slices: dict[int, dict[str, list[float]]] = {}  # batch -> variant -> per-slice p50 ms
    ips: dict[int, dict[str, list[float]]] = {}  # batch -> variant -> per-slice images/s
    spreads: dict[str, float] = {}
    for n in sizes:
        runnable = {v: rt for v, rt in rts.items() if rt.fixed_batch in (None, n)}  # the release model: batch 1
        figures.update({f"{v}_b{n}_supported": v in runnable for v in rts})
        f, slices[n] = latency_round(runnable, x[:n], b, f"b{n}")
        figures.update(f)
        ips[n] = {v: [1000.0 * n / t for t in f[keys.slices(v, n, "mean_ms")]] for v in runnable}
        spreads.update(ratio_spreads(f"b{n}", slices[n]))
    figures.update(best_figures(figures, variants, sizes))
    for v, base in timing_pairs(variants):
        if 1 in slices and v in slices[1]:
            figures.update(speedup(slices[1][v], slices[1][base], False, keys.same_runtime_speedup(v, "b1_p50")))
        if rts[v].fixed_batch is None:
            figures.update(best_batch_speedup(ips, figures, v, base, keys.same_runtime_speedup(v, "best_ips")))
    flags, host = host_flags(before, spreads, b)
    figures.update(flags | host)

    e2e = "ort_fp32" if "ort_fp32" in rts else variants[0]
    figures.update(
        harness_and_end_to_end(
            rts[e2e], e2e, load_split(paths.EVAL_DIR, b["e2e_images"]), size, figures.get(keys.b1_p50(variants[0]))
        )
    )
    write_series(
        paths.PLOTS / "bench_ort_ips",
        "batch",
        sizes,
        {v: [figures.get(keys.at_batch(v, n, "ips")) for n in sizes] for v in variants},
        "images/s",
        "ONNX Runtime: images/s by batch size",
    )
    write_per_image_latency(paths.PLOTS / "bench_ort_p50_ms", sizes, variants, figures, "ONNX Runtime")
    write_results("bench_ort", figures, None, started)


if __name__ == "__main__":
    run(main)
