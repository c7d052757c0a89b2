"""What two revisions hold, read for the pull-request comment: `dvc metrics/params diff` between them,
and the detail file beside a metrics file at a revision (git show) or in the workspace."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from yolo_cpu.errors import UserError

RECOMMENDATION_FILES = ("metrics/recommend.json", "metrics/report.json")  # the report stage held it before


def dvc_json(kind: str, revs: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """`dvc <kind> diff --json --all`: {file: {key: {old, new[, diff]}}}; raises with DVC's message."""
    proc = subprocess.run(["dvc", kind, "diff", *revs, "--json", "--all"], capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"dvc {kind} diff {' '.join(revs)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "{}")


def recommendation_details(rev: str | None) -> dict[str, Any]:
    return next((d for f in RECOMMENDATION_FILES if (d := details_at(rev, f))), {})


def details_at(rev: str | None, metrics_file: str) -> dict[str, Any]:
    """The detail file beside a metrics file at a git revision (None: the workspace); {} if absent."""
    path = metrics_file.replace("metrics/", "details/", 1)
    if rev is None:
        try:
            return json.loads(open(path).read())
        except (OSError, ValueError):
            return {}
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout) if proc.returncode == 0 else {}
    except ValueError:
        return {}
