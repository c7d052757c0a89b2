"""Timing statistics, the harness, and the bench-ort / bench-ov / memory stage outputs."""
import csv
import json

import numpy as np
import pytest

from conftest import needs_mirror
from stages.core import bench


def test_summarize_known_answers():
    s = bench.summarize([i / 1000 for i in range(1, 101)], batch=2)  # 1..100 ms
    assert s["mean_ms"] == 50.5 and s["min_ms"] == 1 and s["max_ms"] == 100 and s["runs"] == 100
    assert s["p50_ms"] == 50.5 and s["p90_ms"] == pytest.approx(90.1) and s["p99_ms"] == pytest.approx(99.01)
    assert s["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1), abs=1e-3)
    assert s["per_image_ms"] == 25.25 and s["throughput_ips"] == pytest.approx(2000 / 50.5, abs=1e-3)
    one = bench.summarize([0.004], batch=1)
    assert one["std_ms"] == 0 and one["throughput_ips"] == 250
    with pytest.raises(ValueError):
        bench.summarize([], 1)


def test_interleaved_discards_warmup_and_alternates():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = bench.interleaved(fns, warmup=3, runs=10, rounds=5)
    assert len(times["a"]) == 10 and len(times["b"]) == 10
    assert calls[:6] == ["a"] * 3 + ["b"] * 3          # warm-up, not timed
    # then rounds of 2 timed calls each, alternating, each round led by one untimed call
    assert calls[6:12] == ["a", "a", "a", "b", "b", "b"] and len(calls) == 6 + 5 * 6
    slow = bench.interleaved({"s": lambda: None}, warmup=0, runs=2, min_seconds=0.001, rounds=1)
    assert len(slow["s"]) >= 2


def test_harness_overhead_is_tiny():
    assert 0 <= bench.harness_overhead_s(5000) < 20e-6


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@needs_mirror
def test_bench_ort_metrics(pipeline):
    m = json.loads((pipeline / "metrics/bench_ort.json").read_text())
    assert m["fixed_b1_supported"] is True and m["fixed_b2_supported"] is False  # fixed batch: recorded
    assert "fixed_b2_p50_ms" not in m
    for v in ("fp32", "int8"):
        for n in (1, 2):
            s = {k: m[f"{v}_b{n}_{k}"] for k in ("mean_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
            assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
            assert m[f"{v}_b{n}_runs"] >= 3 and m[f"{v}_b{n}_throughput_ips"] > 0
        assert m[f"{v}_load_ms"] > 0 and m[f"{v}_first_inference_ms"] > 0
    assert m["speedup_int8_vs_fp32_b1_p50"] > 0 and m["harness_overhead_pct_of_b1"] < 1
    assert m["e2e_infer_ms"] > 0 and m["e2e_decode_ms"] > 0 and m["e2e_postprocess_ms"] > 0
    assert m["intra_threads"] == 2 and m["env"]["isa"] and m["env"]["versions"]["onnxruntime"]
    r = rows(pipeline / "plots/bench_ort.csv")
    assert {x["variant"] for x in r} == {"ort_fixed", "ort_fp32", "ort_int8"}
    assert (pipeline / "plots/bench_ort_latency.png").read_bytes()[:4] == b"\x89PNG"


@needs_mirror
def test_bench_ov_metrics(pipeline):
    m = json.loads((pipeline / "metrics/bench_ov.json").read_text())
    precisions = ["f32", "int8"] + (["bf16", "int8_bf16"] if m["bf16_supported"] else [])
    assert m["f32_actual_precision"] == "f32" and m["int8_actual_precision"] == "f32"
    for p in precisions:
        for n in (1, 2):
            assert 0 < m[f"{p}_latency_b{n}_p50_ms"] <= m[f"{p}_latency_b{n}_p99_ms"]
            assert m[f"{p}_throughput_b{n}_throughput_ips"] > 0 and m[f"{p}_throughput_b{n}_requests"] >= 1
    assert m["speedup_int8_vs_f32_latency_b1"] > 0 and m["speedup_int8_vs_f32_throughput_b2"] > 0
    if m["bf16_supported"]:
        assert m["bf16_actual_precision"] == "bf16" and m["int8_bf16_actual_precision"] == "bf16"
        assert m["speedup_int8_bf16_vs_f32_throughput_b1"] > 0
    else:
        assert m["unsupported_precisions"] == "bf16,int8_bf16"
    assert (pipeline / "plots/bench_ov_throughput.png").read_bytes()[:4] == b"\x89PNG"


@needs_mirror
def test_memory_metrics(pipeline):
    m = json.loads((pipeline / "metrics/memory.json").read_text())
    for v in ("ort_fp32", "ort_int8", "ov_f32", "ov_int8"):
        start, imp, load, warm, peak = (m[f"{v}_rss_{k}_mb"] for k in
                                        ("start", "after_import", "after_load", "after_warmup", "peak"))
        assert 0 < start < imp < load <= warm * 1.05 and peak >= warm
        assert m[f"{v}_model_bytes"] > 1e6
    assert m["ort_int8_model_bytes"] < m["ort_fp32_model_bytes"]
    assert {r["variant"] for r in rows(pipeline / "plots/memory.csv")} >= {"ort_fp32", "ov_int8"}
