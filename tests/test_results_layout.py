"""Headline metrics stay short and flat (what `dvc metrics diff` and a pull request show), detail
goes to details/, and user errors are told apart from bugs."""
import json
from pathlib import Path

import pytest
import yaml
from conftest import needs_mirror

from yolo_cpu import paths
from yolo_cpu.pipeline import stage
from yolo_cpu.measure.env import machine_id
from yolo_cpu.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
MAX_HEADLINE_NUMBERS = 200


def tracked_metrics_files(root: Path) -> list[Path]:
    """Every metrics file dvc.yaml declares: the top-level list and each stage's `metrics:`."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    files = list(spec.get("metrics", []))
    for s in spec["stages"].values():
        files += [next(iter(m)) if isinstance(m, dict) else m for m in s.get("metrics", [])]
    return [root / f for f in files]


def numbers(d) -> int:
    if isinstance(d, dict):
        return sum(numbers(v) for v in d.values())
    if isinstance(d, list):
        return sum(numbers(v) for v in d)
    return int(isinstance(d, (int, float)) and not isinstance(d, bool))


def test_committed_headline_metrics_fit_the_budget():
    """The committed results of a full default run: at most MAX_HEADLINE_NUMBERS numeric keys in all,
    flat keys, a compact machine id and no env block."""
    files = tracked_metrics_files(ROOT)
    total = 0
    for f in files:
        m = json.loads(f.read_text())
        assert "env" not in m and set(m["machine"]) == {"cpu", "cores", "id", "software"}, f
        assert all(not isinstance(v, (dict, list)) for k, v in m.items() if k != "machine"), f"{f}: nested values"
        total += numbers(m)
        detail = json.loads((ROOT / paths.DETAILS / f.name).read_text())
        assert "cpu_model" in detail["env"], f"{f.name}: detail file without the env block"
    assert 100 < total <= MAX_HEADLINE_NUMBERS, f"{total} numeric keys in {len(files)} tracked metrics files"


@needs_mirror
def test_each_stage_writes_headline_and_detail(pipeline):
    for f in tracked_metrics_files(pipeline):
        m, d = json.loads(f.read_text()), json.loads((pipeline / paths.DETAILS / f.name).read_text())
        assert m["machine"] == machine_id()  # this machine: the tiny pipeline ran here
        both = (set(m) - {"machine"}) & set(d)
        assert "env" in d and not both, f"{f.name}: {sorted(both)} in both files"


def test_user_error_is_one_line_and_a_bug_keeps_its_traceback(capsys):
    def bad_input():
        raise UserError("params.yaml: eval.iou = 2.0: must be float <= 1")

    with pytest.raises(SystemExit) as e:
        stage.run(bad_input)
    assert e.value.code == 1 and capsys.readouterr().err == "error: params.yaml: eval.iou = 2.0: must be float <= 1\n"

    def bug():
        return {}["missing"]

    with pytest.raises(KeyError):  # not swallowed into an `error:` line
        stage.run(bug)
    with pytest.raises(ValueError):
        stage.run(lambda: int("x"))
