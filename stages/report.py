"""report stage: metrics/report.md and its figures (mAP against latency, capacity against offered
rate), from the results files alone: every stage's, the recommendation's and bench-serve's."""

from __future__ import annotations

from yolo_cpu import keys, paths
from yolo_cpu.io import write_text
from yolo_cpu.models.variants import BASELINE
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import read_results, run
from yolo_cpu.results.capacity_plot import capacity_png
from yolo_cpu.results.figures import SOURCES, map_vs_latency
from yolo_cpu.results.recommend import map_drops
from yolo_cpu.results.report import build
from yolo_cpu.results.tradeoff import tradeoff_png


def main() -> None:
    r = params.load("report")["report"]
    results = {s: read_results(s) for s in SOURCES}
    results["recommendation"], results["bench_serve"] = read_results("recommend"), read_results("bench_serve")
    rec = results["recommendation"]["objectives"]
    points = map_vs_latency(results)
    fp32 = [
        results["eval_map"][keys.map50_95(v)] for v in set(BASELINE.values()) if keys.map50_95(v) in results["eval_map"]
    ]
    if points and fp32:
        tradeoff_png(
            paths.PLOTS / "map_vs_latency.png",
            points,
            map_drops(results),
            max(fp32),
            r["max_map_drop"],
            rec.get("latency_p50", {}).get("variant"),
        )
    capacity_png(paths.PLOTS / "capacity.png", results["bench_serve"])
    write_text(paths.METRICS / "report.md", build(results, r["title"]))


if __name__ == "__main__":
    run(main)
