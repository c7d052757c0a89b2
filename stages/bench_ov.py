"""bench-ov stage: OpenVINO per variant (f32 / bf16 / INT8 / INT8 with bf16 for the ops left float)
and batch size: latency percentiles with the LATENCY hint (synchronous, variants timed side by side)
and images/s with the THROUGHPUT hint (AsyncInferQueue); speed-ups over ov_fp32."""
from __future__ import annotations

import time
from typing import Any

from .core import budget, params, paths
from .core.benchmark import harness_and_end_to_end, latency_round, load_timed, speedups
from .core.dataset import load_split, sample_batch
from .core.io import require_file
from .core.plots import write_series
from .core.stage import run, write_results
from .core.timing import async_throughput
from .core.variants import VARIANTS


def main() -> None:
    started = time.perf_counter()
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

    for n in b["batch_sizes"]:
        if "LATENCY" in o["hints"]:
            h, d = latency_round({v: load(v, "LATENCY", n) for v in variants}, x[:n], b, "{v}_latency_b{n}")
            headline.update({k: val for k, val in h.items() if not k.endswith("_ips")})
            detail.update(d)
        if "THROUGHPUT" in o["hints"]:
            for v in variants:
                rt = load(v, "THROUGHPUT", n)
                r = async_throughput(rt.compiled, x[:n].astype(rt.input_dtype, copy=False), o["throughput_seconds"])
                headline[f"{v}_throughput_b{n}_ips"] = r["throughput_ips"]
                detail.update({f"{v}_throughput_b{n}_{k}": val for k, val in r.items() if k != "throughput_ips"})
    detail.update(speedups(headline, variants, "{v}_latency_b{n}_p50_ms", [1], False, "b1_p50"))
    for n in b["batch_sizes"]:
        headline.update(speedups(headline, variants, "{v}_throughput_b{n}_ips", [n], True, f"throughput_b{n}"))

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
