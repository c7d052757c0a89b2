"""DVC workflows on the tiny pipeline: no-op repro, what a param change reruns, metrics diff, experiments."""
import json
import re

from conftest import needs_mirror, set_params, sh

pytestmark = needs_mirror
ALL = ["download", "export-dynamic", "convert-IR", "calibrate", "fingerprint", "bench-ort", "bench-ov", "memory",
       "eval-map", "report"]


def changed_stages(repo) -> set[str]:
    """Stages `dvc status` reports as changed (fingerprint is always_changed by design)."""
    status = json.loads(sh(["dvc", "status", "--json"], repo).stdout or "{}")
    return {k.split(":")[-1] for k in status} - {"fingerprint"}


def ran_stages(output: str) -> set[str]:
    """Stages that ran (or were restored from DVC's run-cache) in a `dvc repro` output."""
    return {s for s in ALL if f"Running stage '{s}'" in output or f"Stage '{s}' is cached" in output} - {
        "fingerprint"}


def test_noop_repro_reruns_nothing(pipeline):
    assert changed_stages(pipeline) == set()
    out = sh(["dvc", "repro"], pipeline).stdout
    assert ran_stages(out) == set()
    assert "Stage 'bench-ort' didn't change, skipping" in out


def test_calibration_param_reruns_calibration_and_downstream_only(pipeline):
    set_params(pipeline, {"calibrate": {"subset_size": 10}})
    try:
        assert changed_stages(pipeline) == {"calibrate"}  # downstream stages change once calibrate has run
        out = sh(["dvc", "repro"], pipeline).stdout
        assert ran_stages(out) == {"calibrate", "bench-ort", "bench-ov", "memory", "eval-map", "report"}
    finally:
        sh(["git", "checkout", "params.yaml", "dvc.lock", "metrics", "plots"], pipeline)
        sh(["dvc", "checkout", "--force"], pipeline)
    set_params(pipeline, {"eval": {"iou": 0.6}})
    try:
        assert changed_stages(pipeline) == {"eval-map"}
    finally:
        sh(["git", "checkout", "params.yaml"], pipeline)
    assert changed_stages(pipeline) == set()


def test_bench_param_change_reruns_only_that_benchmark_and_shows_in_metrics_diff(pipeline):
    set_params(pipeline, {"bench_ort": {"intra_threads": 1}})
    assert changed_stages(pipeline) == {"bench-ort"}
    out = sh(["dvc", "repro"], pipeline).stdout
    assert ran_stages(out) == {"bench-ort", "report"}
    diff = json.loads(sh(["dvc", "metrics", "diff", "--json"], pipeline).stdout)
    ort = diff["metrics/bench_ort.json"]
    assert ort["intra_threads"] == {"old": 2, "new": 1, "diff": -1}
    assert "fp32_b1_p50_ms" in ort and "metrics/eval_map.json" not in diff
    params = json.loads(sh(["dvc", "params", "diff", "--json"], pipeline).stdout)
    assert params["params.yaml"]["bench_ort.intra_threads"]["new"] == 1
    sh(["git", "checkout", "params.yaml", "dvc.lock", "metrics", "plots"], pipeline)


def test_experiment_sweep_runs_only_the_benchmark(pipeline):
    out = sh(["dvc", "exp", "run", "-S", "bench_ort.intra_threads=1", "-n", "one-thread"], pipeline).stdout
    assert ran_stages(out) == {"bench-ort", "report"}
    show = sh(["dvc", "exp", "show", "--md", "--no-pager"], pipeline).stdout
    assert "one-thread" in show and "bench_ort.intra_threads" in show
    sh(["dvc", "exp", "remove", "one-thread"], pipeline)


def test_pull_request_diff_markdown(pipeline):
    """The local script prints what the PR workflow posts, for any two revisions."""
    set_params(pipeline, {"bench_ort": {"intra_threads": 1}})
    sh(["dvc", "repro", "bench-ort"], pipeline)
    sh(["git", "commit", "-qam", "one thread"], pipeline)
    try:
        md = sh(["python", "-m", "stages.metrics_diff", "HEAD~1", "HEAD"], pipeline).stdout
        assert "## Pipeline metrics: `HEAD~1` → `HEAD`" in md
        assert re.search(r"\| params.yaml\s+\| bench_ort.intra_threads\s+\| 2\s+\| 1\s+\|", md), md
        assert "metrics/bench_ort.json" in md and "intra_threads" in md and "fp32_b1_p50_ms" in md
        same = sh(["python", "-m", "stages.metrics_diff", "HEAD"], pipeline).stdout
        assert "_No parameter changed._" in same
        bad = sh(["python", "-m", "stages.metrics_diff", "no-such-rev"], pipeline, check=False)
        assert bad.returncode == 1 and "error: dvc metrics diff no-such-rev failed" in bad.stderr
    finally:
        sh(["git", "reset", "-q", "--hard", "HEAD~1"], pipeline)
        sh(["dvc", "checkout", "--force"], pipeline)
