"""bench-serve stage: what `yolo-cpu serve` sustains with each bundled variant, measured with MLPerf's
LoadGen (SingleStream, Offline, Server at a p99 target) in-process, through Ray Serve's handle and over
HTTP, for each serving config; the best config within the target goes into the bundles (the bundle
stage reads it). The samples are the evaluation images' file bytes, held in memory."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from yolo_cpu import paths
from yolo_cpu.data.dataset import load_split
from yolo_cpu.deploy import packing
from yolo_cpu.io import read_json
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.serve import capacity, summary


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "serve")
    plan = capacity.Plan.from_params(p["serve"])
    samples = [Path(f).read_bytes() for f in load_split(paths.EVAL_DIR, p["serve"]["images"])]
    budget = capacity.Budget(plan.max_seconds)
    variants, headline = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        for variant, target in read_json(paths.DETAILS / "to_serve.json").items():
            print(f"bench-serve: {variant} ({', '.join(target['objectives'])})", flush=True)
            folder = packing.serving_bundle(
                Path(tmp), p["model"]["name"], variant, target["runtime"], target["precision"]
            )
            variants[variant] = {**target, **capacity.measure(folder, samples, plan, budget)}
            headline.update(summary.figures(variant, variants[variant]))
    write_results("bench_serve", headline, {"variants": variants, "plan": p["serve"]}, started)


if __name__ == "__main__":
    run(main)
