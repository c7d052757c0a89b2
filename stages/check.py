"""check stage (always runs, first): validates every param, the memory they size, the user's model
and dataset before any other stage runs, so a bad one fails here and DVC deletes no other stage's
outputs. Its record (data/check.json) persists through a failed run: DVC keeps it in place."""

from __future__ import annotations

import json

from yolo_cpu import paths
from yolo_cpu.io import write_text
from yolo_cpu.pipeline.preflight import run_checks
from yolo_cpu.pipeline.stage import run


def main() -> None:
    previous = json.loads(paths.CHECK.read_text()) if paths.CHECK.is_file() else {}
    record = run_checks(previous)
    write_text(paths.CHECK, json.dumps(record, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    run(main)
