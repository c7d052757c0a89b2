"""fingerprint stage (always runs): the machine and library fingerprint the benchmarks depend on,
so DVC's run-cache never restores timings measured on another machine or library set."""
from __future__ import annotations

import json

from .core import paths
from .core.env import fingerprint
from .core.io import write_text
from .core.stage import run


def main() -> None:
    text = json.dumps(fingerprint(), indent=2, sort_keys=True) + "\n"
    path = paths.METRICS / "fingerprint.json"
    if not path.exists() or path.read_text() != text:  # unchanged file: nothing downstream reruns
        write_text(path, text)


if __name__ == "__main__":
    run(main)
