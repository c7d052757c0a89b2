"""Every stage declares the library modules its numbers come from, so `dvc repro` reruns it when
one of them changes (a missing dep lets DVC keep, or restore from its run-cache, stale metrics).
dvc.yaml's code deps are generated from the import graph (yolo_cpu.pipeline.deps, ./dev deps)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from yolo_cpu.pipeline.deps import code_deps, library_imports, rewrite

ROOT = Path(__file__).resolve().parents[1]


def python_stages() -> list[tuple[str, dict]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return [(n, s) for n, s in stages.items() if s["cmd"].startswith("python -m stages.")]


def test_import_scan_sees_nested_and_package_imports():
    # eval_map imports evaluate at top level; memory.py imports variants inside a function.
    assert "yolo_cpu.accuracy.evaluate" in library_imports(ROOT / "stages" / "eval_map.py")
    assert "yolo_cpu.models.variants" in library_imports(ROOT / "yolo_cpu" / "measure" / "memory.py")
    assert "yolo_cpu.data.coco" in library_imports(ROOT / "yolo_cpu" / "data" / "dataset.py")
    assert "yolo_cpu.keys" in library_imports(ROOT / "stages" / "bench_ort.py")  # `from yolo_cpu import keys`


def test_committed_dvc_yaml_equals_the_generated_one():
    text = (ROOT / "dvc.yaml").read_text()
    assert rewrite(text) == text, "dvc.yaml's code deps differ from the import graph: run ./dev deps"


def test_rewrite_adds_a_new_import_and_drops_a_removed_one(tmp_path):
    """The generator follows the code: a stage that starts importing a module gains it as a dep, one
    that stops loses it; data deps stay as written."""
    for d in ("stages", "yolo_cpu/a"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "yolo_cpu/a/one.py").write_text("X = 1\n")
    (tmp_path / "yolo_cpu/a/two.py").write_text("from yolo_cpu.a import one\n")
    (tmp_path / "stages/s.py").write_text("from yolo_cpu.a import two\n")
    text = "stages:\n  s:\n    cmd: python -m stages.s\n    deps:\n      - yolo_cpu/a/gone.py\n      - data/x\n"
    out = rewrite(text, tmp_path)
    assert out.splitlines()[4:] == [
        "      - stages/s.py",
        "      - yolo_cpu/a/one.py",
        "      - yolo_cpu/a/two.py",
        "      - data/x",
    ]
    assert code_deps("s", tmp_path) == ["stages/s.py", "yolo_cpu/a/one.py", "yolo_cpu/a/two.py"]


@pytest.mark.parametrize("name,stage", python_stages(), ids=[n for n, _ in python_stages()])
def test_stage_module_and_metrics_file_share_its_name(name, stage):
    module = stage["cmd"].split("python -m stages.")[1].split()[0]
    assert module == name.lower().replace("-", "_")
    files = [next(iter(m)) if isinstance(m, dict) else m for m in stage.get("metrics", [])]
    assert files in ([], [f"metrics/{module}.json"])


def test_no_library_module_imports_a_stage():
    for path in (ROOT / "yolo_cpu").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not any(n == "stages" or n.startswith("stages.") for n in names), path
