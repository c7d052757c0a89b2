"""Markdown of `dvc metrics diff` and `dvc params diff` between two revisions, for pull requests.

  python -m stages.metrics_diff BASE [HEAD]      HEAD defaults to the workspace
The same text the CI workflow posts as a pull-request comment."""
from __future__ import annotations

import argparse
import subprocess
import sys


def dvc_md(kind: str, revs: list[str]) -> str:
    """`dvc <kind> diff --md` output (kind: metrics | params); raises with DVC's message on failure."""
    proc = subprocess.run(["dvc", kind, "diff", *revs, "--md"], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"dvc {kind} diff {' '.join(revs)} failed: {proc.stderr.strip()}")
    lines = proc.stdout.strip().splitlines()
    return "\n".join(lines) if len(lines) > 2 else ""  # a bare header means nothing changed


def render(base: str, head: str | None) -> str:
    revs = [base] + ([head] if head else [])
    against = head or "workspace"
    metrics, params = dvc_md("metrics", revs), dvc_md("params", revs)
    return "\n".join([
        f"## Pipeline metrics: `{base}` → `{against}`", "",
        "### Params changed", "", params or "_No parameter changed._", "",
        "### Metrics changed", "", metrics or "_No metric changed._", "",
        "<sub>Timings are from one run on the CI machine; compare ratios within a run rather than absolute "
        "times across machines (see the `env` block of each metrics file).</sub>", ""])


def main() -> None:
    ap = argparse.ArgumentParser(description="Print the pull-request metrics/params diff as markdown.")
    ap.add_argument("base")
    ap.add_argument("head", nargs="?")
    args = ap.parse_args()
    try:
        print(render(args.base, args.head))
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
