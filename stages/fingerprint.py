"""fingerprint stage (always runs): the machine and library fingerprint the timing stages depend on.
metrics/fingerprint.json names the machine once for a reader (hardware id, CPU, software id; the ids
change whenever any part of the fingerprint does, so the timing stages depend on it); the full
fingerprint is details/fingerprint.json. When it changes, DVC reruns the timing stages; a matching
run-cache entry can only come from the same fingerprint, so timings measured on another machine or
library set are never restored. The optional export extra's versions go to a file of their own, which
only bench-torch depends on: installing it reruns bench-torch and leaves the machine id alone."""

from __future__ import annotations

import json

from yolo_cpu import paths
from yolo_cpu.io import write_text
from yolo_cpu.measure.env import compact, extra_versions, fingerprint
from yolo_cpu.pipeline.stage import run


def _write(path, d) -> None:
    write_text(path, json.dumps(d, indent=2, sort_keys=True) + "\n")


def main() -> None:
    fp = fingerprint()
    _write(paths.DETAILS / "fingerprint.json", fp)
    _write(paths.METRICS / "fingerprint.json", compact(fp))
    _write(paths.DETAILS / "fingerprint_extra.json", extra_versions())


if __name__ == "__main__":
    run(main)
