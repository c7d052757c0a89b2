"""What bench-ort and bench-ov share: loading each variant with its load and first-inference time,
latency rounds per batch size split into headline and detail figures, speed-ups over the baseline
variant, and the harness-overhead and end-to-end figures."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .predict import end_to_end
from .runtimes import Runtime
from .timing import harness_overhead_s, interleaved, summarize
from .variants import BASELINE

HEADLINE_STATS = ("p50_ms", "p99_ms")  # p90 and the rest: detail


def load_timed(load: Callable[[], Runtime], x: np.ndarray) -> tuple[Runtime, dict[str, float]]:
    """A runtime from `load()` with its load (compile) time and first batch-1 inference time."""
    t0 = time.perf_counter()
    rt = load()
    load_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    rt.infer(x[:1])
    return rt, {"load_ms": round(load_ms, 2), "first_inference_ms": round(1000 * (time.perf_counter() - t0), 2)}


def latency_round(rts: dict[str, Runtime], x: np.ndarray, b: dict[str, Any], prefix: str = "{v}_b{n}"
                  ) -> tuple[dict[str, float], dict[str, Any]]:
    """Time the runtimes side by side at batch len(x) (alternating rounds, bench params `b`).
    Headline: p50/p99 ms and images/s; detail: the other statistics (p90, mean, min, max, ...). Keys: prefix + '_' + figure."""
    n = len(x)
    fns = {v: (lambda rt=rt: rt.infer(x, copy=False)) for v, rt in rts.items()}
    headline: dict[str, float] = {}
    detail: dict[str, Any] = {}
    for v, seconds in interleaved(fns, b["warmup"], b["runs"], b["min_seconds"]).items():
        s = summarize(seconds, n)
        key = prefix.format(v=v, n=n)
        headline.update({f"{key}_{k}": s[k] for k in HEADLINE_STATS})
        headline[f"{key}_ips"] = s["throughput_ips"]
        detail.update({f"{key}_{k}": val for k, val in s.items() if k not in HEADLINE_STATS})
    return headline, detail


def speedups(m: dict[str, Any], variants: list[str], key: str, batch_sizes: list[int], higher_is_faster: bool,
             name: str) -> dict[str, float]:
    """{variant}_speedup_{name} for each variant whose baseline (variants.BASELINE) was measured too:
    the variant's best figure key.format(v=..., n=...) over `batch_sizes` against the baseline's best."""
    pick = max if higher_is_faster else min
    out = {}
    for v in variants:
        base = BASELINE.get(v)
        mine = [m[k] for n in batch_sizes if (k := key.format(v=v, n=n)) in m]
        ref = [m[k] for n in batch_sizes if (k := key.format(v=base, n=n)) in m]
        if base in variants and mine and ref:
            ratio = pick(mine) / pick(ref) if higher_is_faster else pick(ref) / pick(mine)
            out[f"{v}_speedup_{name}"] = round(ratio, 3)
    return out


def harness_and_end_to_end(rt: Runtime, variant: str, images: list[Path], size: int, ref_p50_ms: float | None
                           ) -> dict[str, Any]:
    """Detail figures: the timing loop's own cost per call (and its share of batch-1 p50), and the
    batch-1 end-to-end time of `variant` split by phase."""
    overhead = harness_overhead_s()
    out: dict[str, Any] = {"harness_overhead_us": round(overhead * 1e6, 4)}
    if ref_p50_ms:
        out["harness_overhead_pct_of_b1"] = round(100 * overhead * 1000 / ref_p50_ms, 5)
    out.update(end_to_end(rt, images, size))
    out["e2e_variant"] = variant
    return out
