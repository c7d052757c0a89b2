"""bench-ort stage: ONNX Runtime latency percentiles and images/s per variant and batch size
(variants timed side by side in interleaved slices), speed-ups over ort_fp32 with 95% intervals from
the paired slices, load and first-inference times, end to end, whether the host was noisy."""
from __future__ import annotations

import time

from yolo_cpu.measure import budget
from yolo_cpu.pipeline import params
from yolo_cpu import paths
from yolo_cpu.measure.benchmark import (
    best_batch_speedup,
    harness_and_end_to_end,
    host_flags,
    latency_round,
    load_timed,
    ratio_spreads,
    speedup,
    timing_pairs,
)
from yolo_cpu.data.dataset import load_split, sample_batch
from yolo_cpu.io import require_file
from yolo_cpu.results.plots import write_series
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.measure.timing import host_sample
from yolo_cpu.models.variants import VARIANTS


def main() -> None:
    started, before = time.perf_counter(), host_sample()
    p = params.load("model", "bench", "bench_ort")
    name, size, b, o = p["model"]["name"], p["model"]["imgsz"], p["bench"], p["bench_ort"]
    opts = {k: o[k] for k in ("intra_threads", "inter_threads", "execution_mode", "graph_optimization")}
    variants = list(o["variants"])
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    budget.check("bench.batch_sizes", b["batch_sizes"], budget.inference_bytes(name, max(b["batch_sizes"])),
                 "the largest benchmark batch")
    x = sample_batch(b["input"], max(b["batch_sizes"]), size, paths.EVAL_DIR)
    headline: dict = {}
    detail: dict = {"input": b["input"], "batch_sizes": b["batch_sizes"], **opts}
    rts = {}
    for v in variants:
        rts[v], loaded = load_timed(lambda v=v: VARIANTS[v].load(name, **opts), x)
        detail.update({f"{v}_{k}": val for k, val in loaded.items()})

    slices: dict[int, dict[str, list[float]]] = {}      # batch -> variant -> per-slice p50 ms
    ips: dict[int, dict[str, list[float]]] = {}         # batch -> variant -> per-slice images/s
    spreads: dict[str, float] = {}
    for n in b["batch_sizes"]:
        runnable = {v: rt for v, rt in rts.items() if rt.fixed_batch in (None, n)}  # the release model: batch 1
        detail.update({f"{v}_b{n}_supported": v in runnable for v in rts})
        h, d, slices[n] = latency_round(runnable, x[:n], b)
        headline.update(h)
        detail.update(d)
        ips[n] = {v: [1000.0 * n / t for t in d[f"{v}_b{n}_slices_mean_ms"]] for v in runnable}
        spreads.update(ratio_spreads(f"b{n}", slices[n]))
    for v, base in timing_pairs(variants):
        if 1 in slices and v in slices[1]:  # the release model's: detail
            ratio = speedup(slices[1][v], slices[1][base], False, f"{v}_speedup_b1_p50")
            (headline if v == "ort_int8" else detail).update(ratio)
        if rts[v].fixed_batch is None:
            headline.update(best_batch_speedup(ips, v, base, f"{v}_speedup_best_ips"))
    flags, host = host_flags(before, spreads, b)
    headline.update(flags)
    detail.update(host)

    e2e = "ort_fp32" if "ort_fp32" in rts else variants[0]
    detail.update(harness_and_end_to_end(rts[e2e], e2e, load_split(paths.EVAL_DIR, b["e2e_images"]), size,
                                         headline.get(f"{variants[0]}_b1_p50_ms")))
    for figure, label in (("ips", "images/s"), ("p50_ms", "p50 latency per batch (ms)")):
        write_series(paths.PLOTS / f"bench_ort_{figure}", "batch", b["batch_sizes"],
                     {v: [headline.get(f"{v}_b{n}_{figure}") for n in b["batch_sizes"]] for v in variants},
                     label, f"ONNX Runtime: {label}")
    write_results("bench_ort", headline, detail, started)


if __name__ == "__main__":
    run(main)
