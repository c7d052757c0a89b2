"""memory stage: resident memory per runtime and precision, each in a fresh subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from .core import params, paths
from .core.io import require_file
from .core.plots import bar_png, write_csv
from .core.runtimes import VARIANTS
from .core.stage import run, write_metrics

PHASES = ("rss_start_mb", "rss_after_import_mb", "rss_after_load_mb", "rss_after_warmup_mb", "rss_peak_mb")


def probe(variant: str, model_name: str, warmup: int) -> dict:
    """Run stages.core.memprobe in a fresh interpreter and parse its JSON line."""
    proc = subprocess.run([sys.executable, "-m", "stages.core.memprobe", variant, model_name, str(warmup)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe for {variant} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "memory")
    name, m = p["model"]["name"], p["memory"]
    metrics: dict = {"warmup": m["warmup"]}
    rows = []
    for v in m["variants"]:
        metrics[f"{v}_supported"] = VARIANTS[v].supported()
        if not metrics[f"{v}_supported"]:  # bf16 on a CPU without it: recorded, not a crash
            continue
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
        r = probe(v, name, m["warmup"])
        if r["heavy_modules_loaded"]:
            raise RuntimeError(f"memory probe for {v} imported {r['heavy_modules_loaded']}")
        metrics.update({f"{v}_{k}": val for k, val in r.items() if k != "heavy_modules_loaded"})
        rows.append({"variant": v, **{k: r[k] for k in PHASES}, "model_mb": round(r["model_bytes"] / 2**20, 2)})
    write_csv(paths.PLOTS / "memory.csv", rows)
    bar_png(paths.PLOTS / "memory.png", [r["variant"] for r in rows],
            {ph.removeprefix("rss_").removesuffix("_mb"): [r[ph] for r in rows] for ph in PHASES},
            "resident memory (MiB)", "Memory per runtime and precision")
    write_metrics(paths.METRICS / "memory.json", metrics, started)


if __name__ == "__main__":
    run(main)
