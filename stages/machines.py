"""Results of several machines side by side (not a pipeline stage).

  python -m stages.machines run [--pull]  this machine's part: (dvc pull,) dvc repro, snapshot, table
  python -m stages.machines snapshot      copy this run's results to results/<machine id>/<model>/
  python -m stages.machines table         results/machines.md and a throughput plot per model, from
                                          every snapshot in results/
`./dev machine` runs `run`; so does each job of .github/workflows/machines.yml."""
from __future__ import annotations

import argparse
import subprocess

from .core.errors import UserError
from .core.machines import RESULTS, snapshot, write_cross_machine
from .core.stage import run


def dvc(*args: str) -> None:
    if subprocess.run(["dvc", *args]).returncode != 0:
        raise UserError(f"`dvc {' '.join(args)}` failed (its output is above)")


def main() -> None:
    ap = argparse.ArgumentParser(description="Per-machine result snapshots and the cross-machine table.")
    ap.add_argument("command", choices=["run", "snapshot", "table"])
    ap.add_argument("--pull", action="store_true", help="run: first pull data and models from the DVC remote")
    a = ap.parse_args()
    if a.command == "run":
        if a.pull and subprocess.run(["dvc", "pull"]).returncode != 0:
            print("machines: dvc pull failed; dvc repro rebuilds what is missing from the mirror or the URLs")
        dvc("repro")
    if a.command in ("run", "snapshot"):
        print(f"snapshot written to {snapshot()}")
    models = sorted({p.parent.name for p in RESULTS.glob("*/*/fingerprint.json")})
    write_cross_machine(models)
    print(f"{RESULTS / 'machines.md'}: {len(models)} model(s)")


if __name__ == "__main__":
    run(main)
