"""bench-ort stage: ONNX Runtime latency/throughput of the fixed, dynamic FP32 and INT8 models."""
from __future__ import annotations

import time

from .core import bench, params, paths
from .core.dataset import load_split
from .core.plots import bench_pngs, write_csv
from .core.runtimes import MODEL_FILES, OrtRuntime
from .core.stage import run, write_metrics

MODEL_KEYS = {"fixed": "fixed", "fp32": "fp32", "int8": "int8_onnx"}


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "bench", "bench_ort")
    name, b, o = p["model"]["name"], p["bench"], p["bench_ort"]
    opts = {k: o[k] for k in ("intra_threads", "inter_threads", "execution_mode", "graph_optimization")}
    inputs = bench.bench_inputs(b["input"], b["batch_sizes"], p["model"]["imgsz"], paths.EVAL_DIR)
    metrics: dict = {"input": b["input"], "warmup": b["warmup"], "runs": b["runs"], **opts}
    rts = {}
    for m in o["models"]:
        t0 = time.perf_counter()
        rt = OrtRuntime(MODEL_FILES[MODEL_KEYS[m]](name), **opts)
        metrics[f"{m}_load_ms"] = round(1000 * (time.perf_counter() - t0), 2)
        t0 = time.perf_counter()
        rt.infer(inputs[:1])
        metrics[f"{m}_first_inference_ms"] = round(1000 * (time.perf_counter() - t0), 2)
        rts[m] = rt

    rows = []
    for n in b["batch_sizes"]:
        x = inputs[:n]
        fns = {}
        for m, rt in rts.items():
            if rt.fixed_batch is not None and rt.fixed_batch != n:
                metrics[f"{m}_b{n}_supported"] = False
                rows.append({"variant": f"ort_{m}", "batch": n, "p50_ms": "", "throughput_ips": ""})
                continue
            fns[m] = (lambda rt=rt, x=x: rt.infer(x, copy=False))
        for m, times in bench.interleaved(fns, b["warmup"], b["runs"], b["min_seconds"]).items():
            s = bench.summarize(times, n)
            metrics[f"{m}_b{n}_supported"] = True
            metrics.update(bench.flat(f"{m}_b{n}", s))
            rows.append({"variant": f"ort_{m}", "batch": n, "p50_ms": s["p50_ms"],
                         "throughput_ips": s["throughput_ips"]})
    for m in ("int8", "fixed"):
        if m in rts and "fp32" in rts and f"{m}_b1_p50_ms" in metrics:
            metrics[f"speedup_{m}_vs_fp32_b1_p50"] = round(metrics["fp32_b1_p50_ms"] / metrics[f"{m}_b1_p50_ms"], 3)

    first = next(iter(rts.values()))
    overhead = bench.harness_overhead_s()
    metrics["harness_overhead_us"] = round(overhead * 1e6, 4)
    ref = f"{next(iter(rts))}_b1_p50_ms"
    if ref in metrics:
        metrics["harness_overhead_pct_of_b1"] = round(100 * overhead * 1000 / metrics[ref], 5)
    e2e_rt = rts.get("fp32", first)
    metrics.update(bench.end_to_end(e2e_rt, load_split(paths.EVAL_DIR, b["e2e_images"]), p["model"]["imgsz"]))
    metrics["e2e_model"] = str(e2e_rt.model_path)
    write_csv(paths.PLOTS / "bench_ort.csv", rows)
    bench_pngs(rows, "bench_ort", "ONNX Runtime")
    write_metrics(paths.METRICS / "bench_ort.json", metrics, started)


if __name__ == "__main__":
    run(main)
