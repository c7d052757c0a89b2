"""dvc.yaml's code dependencies, generated from the import graph: each Python stage depends on its
entry point and every library module it imports, directly or through other modules, except plumbing
(modules that cannot change what a stage computes). Generated rather than written by hand so a new
import can never leave a stage stale; per module rather than per subpackage so a change reruns only
the stages whose numbers can move. `python -m yolo_cpu.pipeline.deps` rewrites dvc.yaml in place
(./dev deps); a test checks the committed file equals the generated one."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Plumbing that does not change what a stage computes: param loading/validation, paths, the stage
# runner, the env block, atomic file writing, plot rendering and its colours, the user-error types.
PLUMBING = {
    "yolo_cpu.pipeline.params",
    "yolo_cpu.paths",
    "yolo_cpu.pipeline.stage",
    "yolo_cpu.measure.env",
    "yolo_cpu.io",
    "yolo_cpu.results.plots",
    "yolo_cpu.results.colours",
    "yolo_cpu.errors",
}
CODE_DEP = re.compile(r"^      - (?:stages|yolo_cpu)/\S+\.py\b")


def module_file(dotted: str, root: Path = ROOT) -> Path | None:
    """The file of a yolo_cpu module, or of a package named directly (its __init__.py), or None."""
    base = root / dotted.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def library_imports(path: Path, root: Path = ROOT) -> set[str]:
    """Dotted names of the yolo_cpu modules a file imports, at any nesting level."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("yolo_cpu"):
            for alias in node.names:  # `from yolo_cpu.data import coco` names a module
                sub = f"{node.module}.{alias.name}"
                out.add(sub if module_file(sub, root) else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("yolo_cpu")}
    return {m for m in out if module_file(m, root)}


def needed_modules(stage_file: Path, root: Path = ROOT) -> set[str]:
    """Transitive yolo_cpu imports of a stage, plumbing left out (but not what plumbing imports: the
    stage runner's keys module decides which figures a metrics file holds)."""
    seen: set[str] = set()
    todo = list(library_imports(stage_file, root))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += library_imports(module_file(m, root), root)
    return seen - PLUMBING


def code_deps(module: str, root: Path = ROOT) -> list[str]:
    """stages/<module>.py and the library files it needs, as dvc.yaml lists them."""
    stage_file = root / "stages" / f"{module}.py"
    return [
        f"stages/{module}.py",
        *sorted(str(module_file(m, root).relative_to(root)) for m in needed_modules(stage_file, root)),
    ]


def rewrite(text: str, root: Path = ROOT) -> str:
    """dvc.yaml with each Python stage's code deps replaced by code_deps(); other deps (data, models,
    results files) and everything else kept as written."""
    out: list[str] = []
    module = None
    for line in text.splitlines():
        if re.match(r"^  \S.*:\s*(#.*)?$", line):
            module = None
        if (m := re.match(r"^    cmd: python -m stages\.(\w+)", line)) is not None:
            module = m.group(1)
        if module and CODE_DEP.match(line):
            continue
        out.append(line)
        if module and line.rstrip() == "    deps:":
            out += [f"      - {d}" for d in code_deps(module, root)]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    path = ROOT / "dvc.yaml"
    text = path.read_text()
    new = rewrite(text)
    if "--check" in argv:
        print("dvc.yaml code deps are up to date" if new == text else "dvc.yaml code deps differ: run ./dev deps")
        return int(new != text)
    path.write_text(new)
    print(f"{path}: code deps {'unchanged' if new == text else 'rewritten'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
