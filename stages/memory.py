"""memory stage: resident memory per variant (before import, after import, load, warm-up, peak),
each measured in a fresh interpreter."""

from __future__ import annotations

import time

from yolo_cpu import paths
from yolo_cpu.io import require_file
from yolo_cpu.measure.memory import PHASES, probe
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.results.plots import bar_png, write_csv


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "memory")
    name, m = p["model"]["name"], p["memory"]
    unsupported = [v for v in m["variants"] if not VARIANTS[v].supported()]  # bf16 without CPU support
    variants = [v for v in m["variants"] if v not in unsupported]
    headline: dict = {}
    detail: dict = {"warmup": m["warmup"], "unsupported_variants": unsupported}
    rows = []
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
        r = probe(v, name, m["warmup"])
        headline[f"{v}_rss_peak_mb"] = r["rss_peak_mb"]
        detail.update({f"{v}_{k}": val for k, val in r.items() if k not in ("rss_peak_mb", "heavy_modules_loaded")})
        rows.append({"variant": v, **{k: r[k] for k in PHASES}, "model_mb": round(r["model_bytes"] / 2**20, 2)})
    write_csv(paths.PLOTS / "memory.csv", rows)
    bar_png(
        paths.PLOTS / "memory.png",
        [r["variant"] for r in rows],
        {ph.removeprefix("rss_").removesuffix("_mb"): [r[ph] for r in rows] for ph in PHASES},
        "resident memory (MiB)",
        "Resident memory per variant by phase (a fresh process each)",
    )
    write_results("memory", headline, detail, started)


if __name__ == "__main__":
    run(main)
