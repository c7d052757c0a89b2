"""bundle stage: for each bundled recommendation (batch-1 latency, throughput), a self-contained
folder under bundles/: the model files and a metadata.yaml in Ultralytics' layout plus how to run it,
what it measured on this machine and how to serve it (bench-serve's best config within its p99 target)."""

from __future__ import annotations

import time

from yolo_cpu import paths
from yolo_cpu.deploy import packing
from yolo_cpu.io import atomic_path
from yolo_cpu.pipeline.stage import read_results, run, write_results
from yolo_cpu.serve.summary import serve_sections


def main() -> None:
    started = time.perf_counter()
    recommendation, download, evaluation = read_results("recommend"), read_results("download"), read_results("eval_map")
    sections = serve_sections(read_results("bench_serve"))
    with atomic_path(paths.BUNDLES) as tmp:
        tmp.mkdir()
        written = packing.pack(tmp, recommendation, download, evaluation, sections)
    headline = {f"{objective}_bundle_mb": round(w.pop("bytes") / 2**20, 2) for objective, w in written.items()}
    for w in written.values():
        w.pop("path")
    write_results("bundle", headline, {"bundles": written}, started)
    for objective, w in written.items():
        print(f"{objective}: {w['folder']} ({w['variant']}, batch {w['batch']}, {w['precision']})")


if __name__ == "__main__":
    run(main)
