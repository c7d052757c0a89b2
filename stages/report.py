"""report stage: metrics/report.md and the mAP-against-latency figure, from the metrics files alone."""
from __future__ import annotations

from .core import params, paths
from .core.io import read_json, write_text
from .core.plots import scatter_png
from .core.report import build, map_vs_latency
from .core.stage import run

SOURCES = ("download", "export", "convert", "calibrate", "bench_ort", "bench_ov", "memory", "eval_map")


def main() -> None:
    title = params.load("report")["report"]["title"]
    metrics = {s: read_json(paths.METRICS / f"{s}.json") for s in SOURCES}
    points = map_vs_latency(metrics)
    if points:
        scatter_png(paths.PLOTS / "map_vs_latency.png", points, "batch-1 p50 latency (ms)", "mAP50-95 (%)",
                    "Accuracy against latency per variant")
    write_text(paths.METRICS / "report.md", build(metrics, title))


if __name__ == "__main__":
    run(main)
