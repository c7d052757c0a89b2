"""bench-ov stage: OpenVINO f32 / bf16 / INT8 latency (LATENCY hint, sync) and throughput
(THROUGHPUT hint, AsyncInferQueue) per batch size, with speed-ups over f32."""
from __future__ import annotations

import time
from typing import Any

from .core import bench, params, paths
from .core.dataset import load_split
from .core.plots import bench_pngs, write_csv
from .core.runtimes import MODEL_FILES, OV_PRECISIONS, OvRuntime, ov_supports_bf16
from .core.stage import run, write_metrics

PRECISIONS = OV_PRECISIONS  # f32, bf16, int8 (f32 for float ops), int8_bf16 (bf16 for float ops)


def async_throughput(rt: OvRuntime, x, seconds: float) -> dict[str, Any]:
    """Images/s with an AsyncInferQueue sized to the compiled model's optimal number of requests."""
    import openvino as ov

    nreq = int(rt.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(rt.compiled, nreq)
    x = x.astype(rt.input_dtype, copy=False)
    for _ in range(nreq):  # warm-up: one round on every request
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
    return {"throughput_ips": round(done * x.shape[0] / elapsed, 3), "requests": nreq, "infers": done,
            "streams": str(rt.compiled.get_property("NUM_STREAMS"))}


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "bench", "bench_ov")
    name, b, o = p["model"]["name"], p["bench"], p["bench_ov"]
    inputs = bench.bench_inputs(b["input"], b["batch_sizes"], p["model"]["imgsz"], paths.EVAL_DIR)
    metrics: dict[str, Any] = {"input": b["input"], "warmup": b["warmup"], "runs": b["runs"],
                               "threads": o["threads"], "streams": o["streams"]}
    precisions = list(o["precisions"])
    needs_bf16 = [prec for prec in precisions if PRECISIONS[prec][1] == "bf16"]
    if needs_bf16:
        metrics["bf16_supported"] = ov_supports_bf16()
        if not metrics["bf16_supported"]:  # recorded as unsupported, not a crash
            precisions = [prec for prec in precisions if prec not in needs_bf16]
            metrics["unsupported_precisions"] = ",".join(needs_bf16)

    def load(prec: str, hint: str, batch: int) -> OvRuntime:
        model, hint_prec = PRECISIONS[prec]
        return OvRuntime(MODEL_FILES[model](name), precision=hint_prec, hint=hint, threads=o["threads"],
                         streams=o["streams"], batch=batch)

    rows = []
    for prec in precisions:  # load/compile and first-inference time, batch 1, LATENCY hint
        t0 = time.perf_counter()
        rt = load(prec, "LATENCY", 1)
        metrics[f"{prec}_compile_ms"] = round(1000 * (time.perf_counter() - t0), 2)
        t0 = time.perf_counter()
        rt.infer(inputs[:1])
        metrics[f"{prec}_first_inference_ms"] = round(1000 * (time.perf_counter() - t0), 2)
        metrics[f"{prec}_actual_precision"] = rt.settings()["actual_inference_precision_hint"]

    for n in b["batch_sizes"]:
        x = inputs[:n]
        if "LATENCY" in o["hints"]:
            rts = {prec: load(prec, "LATENCY", n) for prec in precisions}
            fns = {prec: (lambda rt=rt, x=x: rt.infer(x, copy=False)) for prec, rt in rts.items()}
            for prec, times in bench.interleaved(fns, b["warmup"], b["runs"], b["min_seconds"]).items():
                s = bench.summarize(times, n)
                metrics.update(bench.flat(f"{prec}_latency_b{n}", s))
                rows.append({"variant": f"ov_{prec} LATENCY", "batch": n, "p50_ms": s["p50_ms"],
                             "throughput_ips": s["throughput_ips"]})
            del rts, fns
        if "THROUGHPUT" in o["hints"]:
            for prec in precisions:
                r = async_throughput(load(prec, "THROUGHPUT", n), x, o["throughput_seconds"])
                metrics.update(bench.flat(f"{prec}_throughput_b{n}", r))
                rows.append({"variant": f"ov_{prec} THROUGHPUT", "batch": n, "p50_ms": "",
                             "throughput_ips": r["throughput_ips"]})
        for prec in precisions:
            if prec != "f32" and "f32" in precisions:
                key = f"{prec}_latency_b{n}_p50_ms"
                if key in metrics:
                    metrics[f"speedup_{prec}_vs_f32_latency_b{n}"] = round(
                        metrics[f"f32_latency_b{n}_p50_ms"] / metrics[key], 3)
                key = f"{prec}_throughput_b{n}_throughput_ips"
                if key in metrics:
                    metrics[f"speedup_{prec}_vs_f32_throughput_b{n}"] = round(
                        metrics[key] / metrics[f"f32_throughput_b{n}_throughput_ips"], 3)

    overhead = bench.harness_overhead_s()
    metrics["harness_overhead_us"] = round(overhead * 1e6, 4)
    ref = f"{precisions[0]}_latency_b1_p50_ms"
    if ref in metrics:
        metrics["harness_overhead_pct_of_b1"] = round(100 * overhead * 1000 / metrics[ref], 5)
    e2e_prec = "int8" if "int8" in precisions else precisions[0]
    metrics.update(bench.end_to_end(load(e2e_prec, "LATENCY", 1), load_split(paths.EVAL_DIR, b["e2e_images"]),
                                    p["model"]["imgsz"]))
    metrics["e2e_precision"] = e2e_prec
    write_csv(paths.PLOTS / "bench_ov.csv", rows)
    bench_pngs(rows, "bench_ov", "OpenVINO")
    write_metrics(paths.METRICS / "bench_ov.json", metrics, started)


if __name__ == "__main__":
    run(main)
