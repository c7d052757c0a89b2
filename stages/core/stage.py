"""What every stage entry point shares: clean error exit, metrics with the env block."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from .env import environment
from .io import write_json

# Errors that mean bad input or params: printed as one clear line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, RuntimeError)


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(); a user-facing error prints `error: ...` and exits 1."""
    try:
        main()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def write_metrics(path: str | Path, metrics: dict[str, Any], started: float | None = None) -> None:
    """Write a metrics JSON (flat, stable keys first) with the `env` block and stage wall time."""
    out = dict(metrics)
    if started is not None:
        out["stage_seconds"] = round(time.perf_counter() - started, 2)
    out["env"] = environment()
    write_json(path, out)
