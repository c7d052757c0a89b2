"""report stage: metrics/report.md, the mAP-against-latency figure, the recommendation for this
machine and every variant's ratio over the best FP32 (metrics/report.json), from the results files alone."""
from __future__ import annotations

from yolo_cpu import keys, paths
from yolo_cpu.io import write_text
from yolo_cpu.models.variants import BASELINE
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import read_results, run, write_results
from yolo_cpu.results.answer import answer
from yolo_cpu.results.recommend import as_metrics, map_drops
from yolo_cpu.results.report import SOURCES, build, map_vs_latency
from yolo_cpu.results.tradeoff import tradeoff_png


def main() -> None:
    r = params.load("report")["report"]
    results = {s: read_results(s) for s in SOURCES}
    summary = results["recommendation"] = answer(results, r["max_map_drop"])
    rec = summary["objectives"]
    points = map_vs_latency(results)
    fp32 = [results["eval_map"][keys.map50_95(v)] for v in set(BASELINE.values())
            if keys.map50_95(v) in results["eval_map"]]
    if points and fp32:
        tradeoff_png(paths.PLOTS / "map_vs_latency.png", points, map_drops(results), max(fp32), r["max_map_drop"],
                     rec.get("latency_p50", {}).get("variant"))
    write_text(paths.METRICS / "report.md", build(results, r["title"]))
    write_results("report", as_metrics(rec, summary["over_best_fp32"], summary["deployments"]), summary)


if __name__ == "__main__":
    run(main)
