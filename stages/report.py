"""report stage: metrics/report.md, the mAP-against-latency figure, the recommendation for this
machine and every variant's ratio over the best FP32 (metrics/report.json), from the results files alone."""
from __future__ import annotations

from yolo_cpu.pipeline import params
from yolo_cpu import keys, paths
from yolo_cpu.io import write_text
from yolo_cpu.results.tradeoff import tradeoff_png
from yolo_cpu.accuracy.map_bootstrap import drop_verdict
from yolo_cpu.results.deployment import deployments
from yolo_cpu.results.recommend import TIE_RULE, as_metrics, map_drops, over_best_fp32, recommend
from yolo_cpu.models.variants import BASELINE
from yolo_cpu.results.report import SOURCES, build, map_vs_latency, mixed_host_conditions, shares_of_peak
from yolo_cpu.pipeline.stage import read_results, run, write_results


def main() -> None:
    r = params.load("report")["report"]
    results = {s: read_results(s) for s in SOURCES}
    rec = recommend(results, r["max_map_drop"])
    results["recommendation"] = {"max_map_drop": r["max_map_drop"], "map_drops": map_drops(results),
                                 "map_verdicts": {v: drop_verdict(results["eval_map"], v, r["max_map_drop"])
                                                  for v in map_drops(results) if v in BASELINE},
                                 "tie_rule": TIE_RULE, "objectives": rec, "over_best_fp32": over_best_fp32(results),
                                 "shares_of_peak": shares_of_peak(results),
                                 "deployments": deployments(results, rec),
                                 "mixed_host_conditions": mixed_host_conditions(results)}
    points = map_vs_latency(results)
    fp32 = [results["eval_map"][keys.map50_95(v)] for v in set(BASELINE.values())
            if keys.map50_95(v) in results["eval_map"]]
    if points and fp32:
        tradeoff_png(paths.PLOTS / "map_vs_latency.png", points, map_drops(results), max(fp32), r["max_map_drop"],
                     rec.get("latency_p50", {}).get("variant"))
    write_text(paths.METRICS / "report.md", build(results, r["title"]))
    summary = results["recommendation"]
    write_results("report", as_metrics(rec, summary["over_best_fp32"], summary["deployments"]), summary)


if __name__ == "__main__":
    run(main)
