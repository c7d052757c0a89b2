"""recommend stage: the recommendation for this machine (the best variant per objective within the
mAP budget, its trade-offs, what to deploy) and every variant's ratio over the best FP32
(metrics/recommend.json), from the results files alone; details/to_serve.json names the bundled
variants with their runtime and precision, all bench-serve depends on."""

from __future__ import annotations

from yolo_cpu import paths
from yolo_cpu.deploy.packing import to_serve
from yolo_cpu.io import write_json
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import read_results, run, write_results
from yolo_cpu.results.answer import answer
from yolo_cpu.results.figures import SOURCES
from yolo_cpu.results.recommend import as_metrics


def main() -> None:
    budget = params.load("report")["report"]["max_map_drop"]
    summary = answer({s: read_results(s) for s in SOURCES}, budget)
    write_results(
        "recommend", as_metrics(summary["objectives"], summary["over_best_fp32"], summary["deployments"]), summary
    )
    write_json(paths.DETAILS / "to_serve.json", to_serve(summary))


if __name__ == "__main__":
    run(main)
