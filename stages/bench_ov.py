"""bench-ov stage: OpenVINO per variant (f32 / bf16 / INT8 / INT8 with bf16 for the ops left float)
and batch size: latency percentiles with the LATENCY hint (synchronous, variants timed side by side)
and images/s with the THROUGHPUT hint (AsyncInferQueue), each in interleaved slices; speed-ups over
ov_fp32 with 95% intervals from the paired slices; whether the host was noisy meanwhile. ONNX Runtime's
FP32 references (bench_ov.fp32_references) join the batch-1 LATENCY group, so the report's ratios
over the best FP32 of any runtime pair up there."""

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
    throughput_round,
    timing_pairs,
)
from yolo_cpu.measure.timing import host_sample
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.results.plots import write_per_image_latency, write_series


def main() -> None:
    started, before = time.perf_counter(), host_sample()
    p = params.load("model", "bench", "bench_ov")
    name, size, b, o = p["model"]["name"], p["model"]["imgsz"], p["bench"], p["bench_ov"]
    refs = list(o["fp32_references"])  # ONNX Runtime FP32 with its default settings, in the batch-1 group
    unsupported = [v for v in o["variants"] if not VARIANTS[v].supported()]
    variants = [v for v in o["variants"] if v not in unsupported]  # bf16 on a CPU without it: recorded
    sizes = b["batch_sizes"]
    for v in variants + refs:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    budget.check(*budget.needs(p)["bench"])
    x = sample_batch(b["input"], max(sizes), size, paths.EVAL_DIR)
    figures: dict[str, Any] = {
        "input": b["input"],
        "batch_sizes": sizes,
        "threads": o["threads"],
        "streams": o["streams"],
        "unsupported_variants": unsupported,
    }

    def load(v: str, hint: str, batch: int):
        return VARIANTS[v].load(name, hint=hint, threads=o["threads"], streams=o["streams"], batch=batch)

    for v in variants:  # compile and first-inference time at batch 1, LATENCY hint
        rt, loaded = load_timed(lambda v=v: load(v, "LATENCY", 1), x)
        figures.update({f"{v}_{k}": val for k, val in loaded.items()})
        figures[f"{v}_actual_precision"] = rt.settings()["actual_inference_precision_hint"]

    latency: dict[int, dict[str, list[float]]] = {}  # batch -> variant -> per-slice p50 ms
    throughput: dict[int, dict[str, list[float]]] = {}  # batch -> variant -> per-slice images/s
    spreads: dict[str, float] = {}
    for n in sizes:
        if "LATENCY" in o["hints"]:
            # batch 1's speed-ups are figures the report quotes: time them to the target; the rest, min_slices
            rts = {v: load(v, "LATENCY", n) for v in variants}
            if n == 1:  # the FP32 references: each variant's ratio over the best FP32 pairs up in this group
                rts |= {r: VARIANTS[r].load(name) for r in refs}
            f, latency[n] = latency_round(
                rts, x[:n], b, f"latency_b{n}", None if n == 1 else [], ips_figure="latency_hint_ips"
            )
            del rts
            figures.update(f)
            spreads.update(ratio_spreads(f"latency_b{n}", latency[n]))
        if "THROUGHPUT" in o["hints"]:
            f, throughput[n] = throughput_round(
                {v: load(v, "THROUGHPUT", n) for v in variants}, x[:n], b, o["throughput_slice_seconds"]
            )
            figures.update(f)
            spreads.update(ratio_spreads(f"throughput_b{n}", throughput[n]))
    figures.update(best_figures(figures, variants, sizes, "ips" if throughput else "latency_hint_ips"))
    for v, base in timing_pairs(variants):
        if 1 in latency:
            figures.update(speedup(latency[1][v], latency[1][base], False, keys.same_runtime_speedup(v, "b1_p50")))
        for n, slices in throughput.items():
            figures.update(speedup(slices[v], slices[base], True, keys.same_runtime_speedup(v, f"ips_b{n}")))
        if throughput:
            figures.update(best_batch_speedup(throughput, figures, v, base, keys.same_runtime_speedup(v, "best_ips")))
    flags, host = host_flags(before, spreads, b)
    figures.update(flags | host)

    e2e = "ov_int8" if "ov_int8" in variants else variants[0]
    figures.update(
        harness_and_end_to_end(
            load(e2e, "LATENCY", 1),
            e2e,
            load_split(paths.EVAL_DIR, b["e2e_images"]),
            size,
            figures.get(keys.b1_p50(variants[0])),
        )
    )
    write_series(
        paths.PLOTS / "bench_ov_throughput",
        "batch",
        sizes,
        # every declared variant keeps its column (empty where this CPU cannot run it): dvc.yaml's plots name them
        {v: [figures.get(keys.at_batch(v, n, "ips")) for n in sizes] for v in o["variants"]},
        "images/s (THROUGHPUT hint)",
        "OpenVINO: images/s by batch size (THROUGHPUT hint)",
    )
    write_per_image_latency(paths.PLOTS / "bench_ov_latency", sizes, o["variants"], figures, "OpenVINO (LATENCY hint)")
    write_results("bench_ov", figures, None, started)


if __name__ == "__main__":
    run(main)
