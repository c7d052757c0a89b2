"""report stage: metrics/report.md and the mAP-against-latency figure, from the results files alone."""
from __future__ import annotations

from .core import params, paths
from .core.io import write_text
from .core.plots import scatter_png
from .core.report import SOURCES, build, map_vs_latency
from .core.stage import read_results, run


def main() -> None:
    title = params.load("report")["report"]["title"]
    results = {s: read_results(s) for s in SOURCES}
    points = map_vs_latency(results)
    if points:
        scatter_png(paths.PLOTS / "map_vs_latency.png", points, "batch-1 p50 latency (ms)", "mAP50-95 (%)",
                    "Accuracy against latency per variant")
    write_text(paths.METRICS / "report.md", build(results, title))


if __name__ == "__main__":
    run(main)
