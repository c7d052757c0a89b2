"""What every stage entry point shares: a clean exit on user error, and its two output files:
the tracked headline metrics (the keys `keys.HEADLINE` names) and the detail file (every other
figure, the machine id and the full env)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yolo_cpu import keys, paths
from yolo_cpu.errors import UserError
from yolo_cpu.io import write_json
from yolo_cpu.measure.env import environment, machine_id


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(); a UserError prints `error: ...` and exits 1. Anything else is a bug in
    our code and keeps its traceback."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def write_results(
    stage: str, figures: dict[str, Any], detail: dict[str, Any] | None = None, started: float | None = None
) -> None:
    """metrics/<stage>.json: the figures `keys.HEADLINE` names for the stage (flat keys a reviewer
    reads); details/<stage>.json: the other figures, `detail`, the machine id, the stage wall time
    and the full `env` block."""
    if stage in keys.HEADLINE:
        write_json(paths.METRICS / f"{stage}.json", {k: v for k, v in figures.items() if keys.is_headline(stage, k)})
    out = {
        **{k: v for k, v in figures.items() if not keys.is_headline(stage, k)},
        **(detail or {}),
        "machine": machine_id(),
    }
    if started is not None:
        out["stage_seconds"] = round(time.perf_counter() - started, 2)
    out["env"] = environment()
    write_json(paths.DETAILS / f"{stage}.json", out)


def read_results(stage: str, root: str | Path = ".") -> dict[str, Any]:
    """A stage's headline metrics merged with its detail file (detail keys never shadow headline)."""
    from yolo_cpu.io import read_json

    root = Path(root)
    return {**read_json(root / paths.DETAILS / f"{stage}.json"), **read_json(root / paths.METRICS / f"{stage}.json")}
