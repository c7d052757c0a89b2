"""Headline metrics stay short and flat (what `dvc metrics diff` and a pull request show), detail
goes to details/, and user errors are told apart from bugs."""

import json
from pathlib import Path

import pytest
import yaml
from conftest import needs_mirror

from yolo_cpu import keys, paths
from yolo_cpu.errors import UserError
from yolo_cpu.measure.env import machine_id
from yolo_cpu.pipeline import stage

ROOT = Path(__file__).resolve().parents[1]
MAX_HEADLINE_NUMBERS = 64  # "about 60": per variant mAP, its change, p50, images/s, ratios, memory; the peaks


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


@needs_mirror
def test_headline_metrics_are_few_flat_and_name_the_machine_once(pipeline):
    """The pipeline's tracked metrics: flat keys that keys.HEADLINE names, at most
    MAX_HEADLINE_NUMBERS numbers in all, the machine once (metrics/fingerprint.json); each figure in
    exactly one of metrics/ and details/, the machine block and env in details/."""
    total = 0
    for f in tracked_metrics_files(pipeline):
        m = json.loads(f.read_text())
        assert all(not isinstance(v, (dict, list)) for v in m.values()), f"{f.name}: nested values"
        assert all(keys.is_headline(f.stem, k) for k in m), f.name
        total += numbers(m)
        if f.stem == "fingerprint":
            assert set(m) == {"machine_id", "cpu", "software_id"} and m["machine_id"] == machine_id()["id"]
            continue
        d = json.loads((pipeline / paths.DETAILS / f.name).read_text())
        assert d["machine"] == machine_id() and "cpu_model" in d["env"], f.name  # the tiny pipeline ran here
        assert not set(m) & set(d), f"{f.name}: {sorted(set(m) & set(d))} in both files"
    assert 40 < total <= MAX_HEADLINE_NUMBERS, f"{total} numeric keys in the tracked metrics files"


def test_write_results_splits_by_the_key_module(tmp_path, monkeypatch):
    """Any figure a stage passes lands in metrics/ only when keys.HEADLINE names it; a stage without
    headline figures writes no metrics file."""
    monkeypatch.chdir(tmp_path)
    stage.write_results("memory", {"ov_int8_rss_peak_mb": 170.5, "ov_int8_rss_start_mb": 20.0}, {"warmup": 3})
    assert json.loads((tmp_path / "metrics/memory.json").read_text()) == {"ov_int8_rss_peak_mb": 170.5}
    d = json.loads((tmp_path / "details/memory.json").read_text())
    assert d["ov_int8_rss_start_mb"] == 20.0 and d["warmup"] == 3 and "ov_int8_rss_peak_mb" not in d
    stage.write_results("bundle", {"latency_p50_bundle_mb": 3.0})
    assert not (tmp_path / "metrics/bundle.json").exists()
    assert json.loads((tmp_path / "details/bundle.json").read_text())["latency_p50_bundle_mb"] == 3.0


def test_describe_puts_keys_into_words():
    assert keys.describe("ov_int8_b1_p50_ms") == "ov_int8: p50 latency at batch 1 (ms)"
    assert keys.describe("ov_int8_bf16_best_ips") == "ov_int8_bf16: images/s at its best batch size"
    assert keys.describe("ort_int8_latency_p50_x_best_fp32") == "ort_int8: latency p50 over the best FP32 (x)"
    assert keys.describe("ov_int8_delta_map50_95_lo") == "ov_int8: mAP50-95 change against FP32 (points) (95% low)"
    assert keys.describe("throughput_variant") == "recommended for throughput"


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
