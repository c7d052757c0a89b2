"""bench-ov stage: OpenVINO per variant (f32 / bf16 / INT8 / INT8 with bf16 for the ops left float)
and batch size: latency percentiles with the LATENCY hint (synchronous, variants timed side by side)
and images/s with the THROUGHPUT hint (AsyncInferQueue), each in interleaved slices; speed-ups over
ov_fp32 with 95% intervals from the paired slices; whether the host was noisy meanwhile."""
from __future__ import annotations

import time
from typing import Any

from yolo_cpu.measure import budget
from yolo_cpu.pipeline import params
from yolo_cpu import paths
from yolo_cpu.measure.benchmark import (
    harness_and_end_to_end,
    host_flags,
    latency_round,
    load_timed,
    ratio_spreads,
    speedup,
    throughput_round,
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
    p = params.load("model", "bench", "bench_ov")
    name, size, b, o = p["model"]["name"], p["model"]["imgsz"], p["bench"], p["bench_ov"]
    unsupported = [v for v in o["variants"] if not VARIANTS[v].supported()]
    variants = [v for v in o["variants"] if v not in unsupported]  # bf16 on a CPU without it: recorded
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    budget.check("bench.batch_sizes", b["batch_sizes"], budget.inference_bytes(name, max(b["batch_sizes"])),
                 "the largest benchmark batch")
    x = sample_batch(b["input"], max(b["batch_sizes"]), size, paths.EVAL_DIR)
    headline: dict[str, Any] = {}
    detail: dict[str, Any] = {"input": b["input"], "batch_sizes": b["batch_sizes"], "threads": o["threads"], "streams": o["streams"],
                              "unsupported_variants": unsupported}

    def load(v: str, hint: str, batch: int):
        return VARIANTS[v].load(name, hint=hint, threads=o["threads"], streams=o["streams"], batch=batch)

    for v in variants:  # compile and first-inference time at batch 1, LATENCY hint
        rt, loaded = load_timed(lambda v=v: load(v, "LATENCY", 1), x)
        detail.update({f"{v}_{k}": val for k, val in loaded.items()})
        detail[f"{v}_actual_precision"] = rt.settings()["actual_inference_precision_hint"]

    latency: dict[int, dict[str, list[float]]] = {}      # batch -> variant -> per-slice p50 ms
    throughput: dict[int, dict[str, list[float]]] = {}   # batch -> variant -> per-slice images/s
    spreads: dict[str, float] = {}
    for n in b["batch_sizes"]:
        if "LATENCY" in o["hints"]:
            # batch 1's speed-ups are figures the report quotes: time them to the target; the rest, min_slices
            h, d, latency[n] = latency_round({v: load(v, "LATENCY", n) for v in variants}, x[:n], b,
                                             "{v}_latency_b{n}", None if n == 1 else [])
            headline.update({k: val for k, val in h.items() if not k.endswith("_ips")})
            detail.update(d)
            spreads.update(ratio_spreads(f"latency_b{n}", latency[n]))
        if "THROUGHPUT" in o["hints"]:
            h, d, throughput[n] = throughput_round({v: load(v, "THROUGHPUT", n) for v in variants}, x[:n], b,
                                                   o["throughput_slice_seconds"], "{v}_throughput_b{n}")
            headline.update(h)
            detail.update(d)
            spreads.update(ratio_spreads(f"throughput_b{n}", throughput[n]))
    for v, base in timing_pairs(variants):
        if 1 in latency:
            detail.update(speedup(latency[1][v], latency[1][base], False, f"{v}_speedup_b1_p50"))
        for n, slices in throughput.items():
            headline.update(speedup(slices[v], slices[base], True, f"{v}_speedup_throughput_b{n}"))
    flags, host = host_flags(before, spreads, b)
    headline.update(flags)
    detail.update(host)

    e2e = "ov_int8" if "ov_int8" in variants else variants[0]
    detail.update(harness_and_end_to_end(load(e2e, "LATENCY", 1), e2e, load_split(paths.EVAL_DIR, b["e2e_images"]),
                                         size, headline.get(f"{variants[0]}_latency_b1_p50_ms")))
    for key, label in (("throughput_b{n}_ips", "images/s (THROUGHPUT hint)"),
                       ("latency_b{n}_p50_ms", "p50 latency per batch (ms), LATENCY hint")):
        write_series(paths.PLOTS / f"bench_ov_{key.split('_')[0]}", "batch", b["batch_sizes"],
                     {v: [headline.get(f"{v}_{key.format(n=n)}") for n in b["batch_sizes"]] for v in variants},
                     label, f"OpenVINO: {label}")
    write_results("bench_ov", headline, detail, started)


if __name__ == "__main__":
    run(main)
