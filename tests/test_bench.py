"""Timing statistics and the harness, and the bench-ort / bench-ov / memory stage results."""

import csv

import numpy as np
import pytest
from conftest import needs_mirror

from yolo_cpu.measure import timing
from yolo_cpu.pipeline.stage import read_results


def test_summarize_known_answers():
    s = timing.summarize([i / 1000 for i in range(1, 101)], batch=2)  # 1..100 ms
    assert s["mean_ms"] == 50.5 and s["min_ms"] == 1 and s["max_ms"] == 100 and s["runs"] == 100
    assert s["p50_ms"] == 50.5 and s["p90_ms"] == pytest.approx(90.1) and s["p99_ms"] == pytest.approx(99.01)
    assert s["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1), abs=1e-3)
    assert s["per_image_ms"] == 25.25 and s["throughput_ips"] == pytest.approx(2000 / 50.5, abs=1e-3)
    one = timing.summarize([0.004], batch=1)
    assert one["std_ms"] == 0 and one["throughput_ips"] == 250
    with pytest.raises(ValueError):
        timing.summarize([], 1)


def test_interleaved_discards_warmup_and_alternates():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = timing.interleaved(fns, warmup=3, runs=10, rounds=5)
    assert len(times["a"]) == 10 and len(times["b"]) == 10
    assert calls[:6] == ["a"] * 3 + ["b"] * 3  # warm-up, not timed
    # then rounds of 2 timed calls each, alternating, each round led by one untimed call
    assert calls[6:12] == ["a", "a", "a", "b", "b", "b"] and len(calls) == 6 + 5 * 6
    slow = timing.interleaved({"s": lambda: None}, warmup=0, runs=2, min_seconds=0.001, rounds=1)
    assert len(slow["s"]) >= 2


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@needs_mirror
def test_bench_ort_results(pipeline):
    m = read_results("bench_ort", pipeline)
    assert m["ort_fp32_fixed_b1_supported"] is True and m["ort_fp32_fixed_b2_supported"] is False
    assert "ort_fp32_fixed_b2_p50_ms" not in m  # the release model runs batch 1 only: recorded, not timed
    for v in ("ort_fp32", "ort_int8"):
        for n in (1, 2):
            s = {k: m[f"{v}_b{n}_{k}"] for k in ("mean_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
            assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
            assert m[f"{v}_b{n}_runs"] == m[f"b{n}_slices"] >= 3  # tiny params: one call per slice
            assert len(m[f"{v}_b{n}_slices_p50_ms"]) == m[f"b{n}_slices"]
            assert m[f"{v}_b{n}_ips"] == pytest.approx(1000 * n / s["mean_ms"], rel=1e-3)
        assert m[f"{v}_load_ms"] > 0 and m[f"{v}_first_inference_ms"] > 0
    assert m["b1_stopped_by"] in ("precision", "time cap")
    # the paired speed-up agrees with an independent estimate, the ratio of the pooled p50s, and sits
    # inside its interval
    pooled = m["ort_fp32_b1_p50_ms"] / m["ort_int8_b1_p50_ms"]
    assert m["ort_int8_speedup_b1_p50_lo"] / 1.1 <= pooled <= m["ort_int8_speedup_b1_p50_hi"] * 1.1
    for k in ("ort_int8_speedup_b1_p50", "ort_int8_speedup_best_ips"):
        assert m[f"{k}_lo"] <= m[k] <= m[f"{k}_hi"]
    best = max((1, 2), key=lambda n: m[f"ort_int8_b{n}_ips"])  # the best batch, from the per-batch figures
    assert m["ort_int8_speedup_best_ips_batch"] == m["ort_int8_best_ips_batch"] == best
    assert m["ort_int8_best_ips"] == m[f"ort_int8_b{best}_ips"]
    assert isinstance(m["noisy_run"], bool) and 0 <= m["host_steal_pct"] <= 100
    assert m["e2e_variant"] == "ort_fp32" and m["e2e_images"] == 2
    assert m["e2e_total_ms"] == pytest.approx(
        sum(m[f"e2e_{k}_ms"] for k in ("decode", "preprocess", "infer", "postprocess")), abs=0.01
    )
    ips = rows(pipeline / "plots/bench_ort_ips.csv")  # wide: one column per variant
    assert [r["batch"] for r in ips] == ["1", "2"] and list(ips[0]) == [
        "batch",
        "ort_fp32_fixed",
        "ort_fp32",
        "ort_int8",
    ]
    assert float(ips[1]["ort_int8"]) == m["ort_int8_b2_ips"] and ips[1]["ort_fp32_fixed"] == ""
    assert (pipeline / "plots/bench_ort_ips.png").read_bytes()[:4] == b"\x89PNG"


@needs_mirror
def test_bench_ov_results(pipeline):
    m = read_results("bench_ov", pipeline)
    variants = ["ov_fp32", "ov_int8"] + ([] if m["unsupported_variants"] else ["ov_bf16", "ov_int8_bf16"])
    assert m["ov_fp32_actual_precision"] == "f32" and m["ov_int8_actual_precision"] == "f32"
    for v in variants:
        for n in (1, 2):
            assert 0 < m[f"{v}_b{n}_p50_ms"] <= m[f"{v}_b{n}_p90_ms"] <= m[f"{v}_b{n}_p99_ms"]
            assert m[f"{v}_b{n}_throughput_requests"] >= 1 and m[f"{v}_b{n}_throughput_infers"] >= 1
            assert len(m[f"{v}_b{n}_slices_ips"]) == m[f"throughput_b{n}_slices"]
        assert m[f"{v}_best_ips"] == max(m[f"{v}_b{n}_ips"] for n in (1, 2))
        if v != "ov_fp32":  # the paired speed-up against the ratio of the slices' mean images/s
            k = f"{v}_speedup_ips_b2"
            pooled = m[f"{v}_b2_ips"] / m["ov_fp32_b2_ips"]
            assert m[f"{k}_lo"] / 1.1 <= pooled <= m[f"{k}_hi"] * 1.1 and m[f"{k}_lo"] <= m[k] <= m[f"{k}_hi"]
    if m["unsupported_variants"]:
        assert m["unsupported_variants"] == ["ov_bf16", "ov_int8_bf16"]
    else:
        assert m["ov_bf16_actual_precision"] == "bf16" and m["ov_int8_bf16_actual_precision"] == "bf16"
    per_image = rows(pipeline / "plots/bench_ov_latency.csv")  # the latency plot is per image
    assert float(per_image[1]["ov_int8"]) == pytest.approx(m["ov_int8_b2_p50_ms"] / 2, abs=1e-4)


@needs_mirror
def test_memory_results(pipeline):
    m = read_results("memory", pipeline)
    for v in ("ort_fp32", "ort_int8", "ov_fp32", "ov_int8"):
        start, imp, load, warm, peak = (
            m[f"{v}_rss_{k}_mb"] for k in ("start", "after_import", "after_load", "after_warmup", "peak")
        )
        assert 0 < start < imp < load and peak >= max(start, imp, load, warm)
        assert m[f"{v}_model_bytes"] > 1e6
    assert m["ort_int8_model_bytes"] < m["ort_fp32_model_bytes"] and m["ov_int8_model_bytes"] < m["ov_fp32_model_bytes"]
    assert {r["variant"] for r in rows(pipeline / "plots/memory.csv")} >= {"ort_fp32", "ov_int8"}


def _spin_elsewhere(seconds: float):
    """A process that keeps one core busy (not reaped until the caller waits for it)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", f"import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass"]
    )


def test_other_processes_cpu_is_measured_apart_from_this_one_s():
    """Oracle: a second process known to keep one of the cores busy shows up as other processes' CPU
    (about 1 / cores of all CPU time), while this process keeping a core busy itself does not; the first
    flags the run noisy and says why."""
    import os
    import time

    from yolo_cpu.measure.benchmark import host_flags

    cores = os.cpu_count() or 1
    before = timing.host_sample()
    spinner = _spin_elsewhere(1.5)
    time.sleep(1.5)
    loaded = timing.host_activity(before)
    spinner.wait()
    before = timing.host_sample()
    t = time.time()
    while time.time() - t < 1.5:
        pass
    own = timing.host_activity(before)
    assert loaded["host_other_cpu_pct"] > 0.6 * 100 / cores and own["host_other_cpu_pct"] < 0.3 * 100 / cores
    b = {"noisy_spread": 0.3, "noisy_steal_pct": 5, "noisy_other_cpu_pct": 5}
    before = timing.host_sample()
    spinner = _spin_elsewhere(1.0)
    time.sleep(1.0)
    flags, detail = host_flags(before, {"b1:x/y": 0.01}, b)  # ratios tight, as under a uniform load
    spinner.wait()
    assert flags == {"noisy_run": True} and "other processes used" in detail["noisy_reasons"][0]


@needs_mirror
def test_a_timing_stage_rerun_beside_another_job_is_flagged_and_the_report_says_so(pipeline, tmp_path):
    """The case that once went unflagged: only bench-ort rerun while another job keeps the cores busy
    (uniform, so its slice ratios stay tight). It is flagged noisy with the other processes' share, and
    the report, combining it with the quiet bench-ov, says the two were timed under different conditions."""
    import os
    import shutil

    from conftest import set_params, sh

    repo = tmp_path / "repo"
    shutil.copytree(pipeline, repo, symlinks=True)
    set_params(repo, {"bench": {"noisy_spread": 100.0}})  # tiny runs' 3 slices spread widely: judge the load alone
    sh(["dvc", "repro", "-f", "-s", "bench-ov"], repo)
    assert read_results("bench_ov", repo)["noisy_run"] is False, read_results("bench_ov", repo)["noisy_reasons"]
    spinners = [_spin_elsewhere(120) for _ in range(os.cpu_count() or 1)]
    try:
        sh(["dvc", "repro", "-f", "-s", "bench-ort"], repo)
    finally:
        for s in spinners:
            s.kill()
            s.wait()
    sh(["dvc", "repro", "-s", "recommend"], repo)
    sh(["dvc", "repro", "-s", "report"], repo)
    ort = read_results("bench_ort", repo)
    assert ort["noisy_run"] is True and ort["host_other_cpu_pct"] > 20
    assert any("other processes used" in r for r in ort["noisy_reasons"])
    report = (repo / "metrics" / "report.md").read_text()
    assert "**Timings from different host conditions.** bench_ort ran on a noisy host" in report
    assert read_results("recommend", repo)["mixed_host_conditions"].startswith("**Timings from different")
