"""Every stage declares the library modules its numbers come from, so `dvc repro` reruns it when
one of them changes (a missing dep lets DVC keep, or restore from its run-cache, stale metrics)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Plumbing that does not change what a stage computes: param loading/validation, paths, the
# stage runner, the env block, atomic file writing, plot rendering and its colours, the user-error types.
PLUMBING = {"yolo_cpu.pipeline.params", "yolo_cpu.paths", "yolo_cpu.pipeline.stage",
            "yolo_cpu.measure.env", "yolo_cpu.io", "yolo_cpu.results.plots", "yolo_cpu.results.colours",
            "yolo_cpu.errors"}


def module_file(dotted: str) -> Path | None:
    """The file of a yolo_cpu module (not a package), or None."""
    path = ROOT / (dotted.replace(".", "/") + ".py")
    return path if path.is_file() else None


def library_imports(path: Path) -> set[str]:
    """Dotted names of the yolo_cpu modules a file imports, at any nesting level."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("yolo_cpu"):
            for alias in node.names:  # `from yolo_cpu.data import coco` names a module
                sub = f"{node.module}.{alias.name}"
                out.add(sub if module_file(sub) else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("yolo_cpu")}
    return {m for m in out if module_file(m)}


def needed_modules(stage_file: Path) -> set[str]:
    """Transitive yolo_cpu imports of a stage, not looking inside plumbing modules."""
    seen: set[str] = set()
    todo = list(library_imports(stage_file))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            if m not in PLUMBING:
                todo += library_imports(module_file(m))
    return seen - PLUMBING


def python_stages() -> list[tuple[str, dict]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return [(n, s) for n, s in stages.items() if s["cmd"].startswith("python -m stages.")]


def test_import_scan_sees_nested_and_package_imports():
    # eval_map imports evaluate at top level; memory.py imports variants inside a function.
    assert "yolo_cpu.accuracy.evaluate" in library_imports(ROOT / "stages" / "eval_map.py")
    assert "yolo_cpu.models.variants" in library_imports(ROOT / "yolo_cpu" / "measure" / "memory.py")
    assert "yolo_cpu.data.coco" in library_imports(ROOT / "yolo_cpu" / "data" / "dataset.py")


@pytest.mark.parametrize("name,stage", python_stages(), ids=[n for n, _ in python_stages()])
def test_stage_declares_the_modules_it_imports(name, stage):
    module = stage["cmd"].split("python -m stages.")[1].split()[0]
    stage_file = ROOT / "stages" / f"{module}.py"
    deps = set(stage.get("deps", []))
    assert f"stages/{module}.py" in deps
    missing = sorted(str(module_file(m).relative_to(ROOT)) for m in needed_modules(stage_file)
                     if str(module_file(m).relative_to(ROOT)) not in deps)
    assert not missing, f"dvc.yaml stage {name!r} imports but does not depend on {missing}"


def test_no_library_module_imports_a_stage():
    for path in (ROOT / "yolo_cpu").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n == "stages" or n.startswith("stages.") for n in names), path
