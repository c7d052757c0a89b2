"""fingerprint stage (always runs): the machine and library fingerprint the timing stages depend on.
When it changes, DVC reruns them; a matching run-cache entry can only come from the same fingerprint,
so timings measured on another machine or library set are never restored. The optional export extra's
versions go to a file of their own, which only bench-torch depends on: installing it reruns bench-torch
and leaves the machine id alone."""
from __future__ import annotations

import json

from yolo_cpu import paths
from yolo_cpu.measure.env import extra_versions, fingerprint
from yolo_cpu.io import write_text
from yolo_cpu.pipeline.stage import run


def main() -> None:
    write_text(paths.METRICS / "fingerprint.json", json.dumps(fingerprint(), indent=2, sort_keys=True) + "\n")
    write_text(paths.METRICS / "fingerprint_extra.json", json.dumps(extra_versions(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    run(main)
