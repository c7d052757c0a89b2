"""The pull-request comment between two revisions: headline tables, then every changed metric
folded away; absolute timings only when both ran on the same machine.

  python -m stages.metrics_diff BASE [HEAD]      HEAD defaults to the workspace
The same text the CI workflow posts as a pull-request comment."""
from __future__ import annotations

import argparse

from .core.prdiff import render
from .core.stage import run


def main() -> None:
    ap = argparse.ArgumentParser(description="Print the pull-request metrics/params diff as markdown.")
    ap.add_argument("base")
    ap.add_argument("head", nargs="?")
    args = ap.parse_args()
    print(render(args.base, args.head))


if __name__ == "__main__":
    run(main)
