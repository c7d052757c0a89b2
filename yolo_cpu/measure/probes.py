"""Where research probes (scripts/probes/, `yolo-cpu benchmark-app`) put what they measured: one JSON
per probe in results/<machine id>/<model>/probes/, with the machine block and the time it was
measured, beside the snapshot of that machine's pipeline run; never among the tracked metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from yolo_cpu.io import write_json
from yolo_cpu.measure.env import machine_id

RESULTS = Path("results")


def probe_path(name: str, model: str, machine: str, root: Path = RESULTS) -> Path:
    """results/<machine id>/<model>/probes/<name>.json."""
    return root / machine / model / "probes" / f"{name}.json"


def write_probe(
    name: str, model: str, figures: dict[str, Any], out: Path | None = None, machine: dict[str, Any] | None = None
) -> Path:
    """Write a probe's figures (with `machine`, this one's by default, and `measured_at`) to `out` or
    probe_path(); returns it."""
    machine = machine or machine_id()
    dest = out or probe_path(name, model, machine["id"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_json(dest, {**figures, "machine": machine, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    print(f"wrote {dest}")
    return dest
