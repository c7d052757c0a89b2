"""bench-ort stage: ONNX Runtime latency percentiles and images/s per variant and batch size
(variants timed side by side), speed-ups over ort_fp32, load and first-inference times, end to end."""
from __future__ import annotations

import time

from .core import budget, params, paths
from .core.benchmark import harness_and_end_to_end, latency_round, load_timed, speedups
from .core.dataset import load_split, sample_batch
from .core.io import require_file
from .core.plots import write_series
from .core.stage import run, write_results
from .core.variants import VARIANTS


def main() -> None:
    started = time.perf_counter()
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

    for n in b["batch_sizes"]:
        runnable = {v: rt for v, rt in rts.items() if rt.fixed_batch in (None, n)}  # the release model: batch 1
        detail.update({f"{v}_b{n}_supported": v in runnable for v in rts})
        h, d = latency_round(runnable, x[:n], b)
        headline.update(h)
        detail.update(d)
    for k, ratio in speedups(headline, variants, "{v}_b{n}_p50_ms", [1], False, "b1_p50").items():
        (headline if k.startswith("ort_int8") else detail)[k] = ratio  # the release model's: detail
    dynamic = [v for v in variants if rts[v].fixed_batch is None]
    headline.update(speedups(headline, dynamic, "{v}_b{n}_ips", b["batch_sizes"], True, "best_ips"))

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
