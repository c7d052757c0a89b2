"""Results of several machines side by side (not a pipeline stage).

  python -m stages.machines snapshot     copy this run's results to results/<machine id>/<model>/
  python -m stages.machines table        results/machines.md and a throughput plot per model, from
                                         every snapshot in results/"""
from __future__ import annotations

import argparse

from .core.machines import RESULTS, snapshot, write_cross_machine
from .core.stage import run


def main() -> None:
    ap = argparse.ArgumentParser(description="Per-machine result snapshots and the cross-machine table.")
    ap.add_argument("command", choices=["snapshot", "table"])
    a = ap.parse_args()
    if a.command == "snapshot":
        print(f"snapshot written to {snapshot()}")
    models = sorted({p.parent.name for p in RESULTS.glob("*/*/fingerprint.json")})
    write_cross_machine(models)
    print(f"{RESULTS / 'machines.md'}: {len(models)} model(s)")


if __name__ == "__main__":
    run(main)
