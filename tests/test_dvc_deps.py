"""Every stage declares the library modules its numbers come from, so `dvc repro` reruns it when
one of them changes (a missing dep lets DVC keep, or restore from its run-cache, stale metrics)."""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "stages" / "core"
# Plumbing that does not change what a stage computes: param loading/validation, paths, the
# stage runner, the env block, atomic file writing, plot rendering, the user-error types.
PLUMBING = {"params", "paths", "stage", "env", "io", "plots", "errors"}


def core_imports(path: Path) -> set[str]:
    """Names of stages.core modules that a stages file imports, at any nesting level."""
    in_core = path.parent == CORE
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        dotted = ".".join(p for p in (("core" if in_core else ""), node.module or "") if p)
        if dotted == "core":
            out |= {a.name for a in node.names}
        elif dotted.startswith("core."):
            out.add(dotted.split(".")[1])
    return {m for m in out if (CORE / f"{m}.py").is_file()}


def needed_modules(stage_file: Path) -> set[str]:
    """Transitive stages.core imports of a stage, not looking inside plumbing modules."""
    seen: set[str] = set()
    todo = list(core_imports(stage_file))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            if m not in PLUMBING:
                todo += core_imports(CORE / f"{m}.py")
    return seen - PLUMBING


def python_stages() -> list[tuple[str, dict]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return [(n, s) for n, s in stages.items() if s["cmd"].startswith("python -m stages.")]


def test_import_scan_sees_nested_and_core_relative_imports():
    # eval_map imports evaluate at top level; memory.py imports variants inside a function.
    assert "evaluate" in core_imports(ROOT / "stages" / "eval_map.py")
    assert "variants" in core_imports(CORE / "memory.py")
    assert "coco" in core_imports(CORE / "dataset.py")  # `from . import coco` inside core


@pytest.mark.parametrize("name,stage", python_stages(), ids=[n for n, _ in python_stages()])
def test_stage_declares_the_modules_it_imports(name, stage):
    module = stage["cmd"].split("python -m stages.")[1].split()[0]
    stage_file = ROOT / "stages" / f"{module}.py"
    deps = set(stage.get("deps", []))
    assert f"stages/{module}.py" in deps
    missing = sorted(f"stages/core/{m}.py" for m in needed_modules(stage_file)
                     if f"stages/core/{m}.py" not in deps)
    assert not missing, f"dvc.yaml stage {name!r} imports but does not depend on {missing}"
