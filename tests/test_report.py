"""The results report is built from the results files alone."""

from conftest import needs_mirror, runnable

from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.results.figures import map_vs_latency
from yolo_cpu.results.report import QUOTED, build


def test_build_from_synthetic_results():
    m = {
        "bench_ort": {
            "intra_threads": 2,
            "batch_sizes": [1, 2],
            "ort_fp32_b1_p50_ms": 40.0,
            "ort_fp32_b1_p90_ms": 41.0,
            "ort_fp32_b1_p99_ms": 42.0,
            "ort_fp32_b1_mean_ms": 40.5,
            "ort_fp32_b1_ips": 24.7,
            "ort_fp32_fixed_b2_supported": False,
            "ort_fp32_fixed_b1_p50_ms": 39.0,
            "ort_fp32_fixed_b1_p90_ms": 39.5,
            "ort_fp32_fixed_b1_p99_ms": 40.0,
            "ort_fp32_fixed_b1_mean_ms": 39.2,
            "ort_fp32_fixed_b1_ips": 25.5,
            "ort_fp32_b2_p50_ms": 70.0,
            "ort_fp32_b2_ips": 28.0,
        },
        "bench_ov": {},
        "memory": {},
        "eval_map": {
            "images": 500,
            "conf": 0.001,
            "iou": 0.65,
            "max_det": 300,
            "class_subset": ["dog", "cat"],
            "ort_fp32_map50_95": 25.3,
            "ort_fp32_map50": 40.1,
            "ort_fp32_subset_map50_95": 20.0,
            "ort_fp32_images_per_s": 30.0,
            "ort_fp32_model_only_images_per_s": 36.0,
            "ort_fp32_eval_vs_model_only": 0.833,
        },
    }
    md = build(m, "T")
    assert "| ort_fp32 | 40.00 | 41.00 | 42.00 | 40.50 |" in md
    assert "| ort_fp32_fixed | 39.00 | unsupported (fixed batch) |" in md
    assert "| ort_fp32 | 40.00 | 35.00 |" in md  # per image: batch-2 p50 70 ms over 2 images
    assert "| ort_fp32 | 25.30 | 40.10 | n/a | 20.00 | n/a | 30.00 | 36.00 | 0.83 |" in md
    assert "the subset is 2 classes: dog, cat" in md
    quoted = md.index("## Quoted from elsewhere")
    assert all(md.index(q[1], quoted) > quoted for q in QUOTED)  # quoted figures only in their section
    assert map_vs_latency(m) == {"ort_fp32": (40.0, 25.3)}  # variants with both a latency and an mAP


def test_openvino_table_has_a_column_per_measured_variant():
    ov = {
        "batch_sizes": [1],
        "ov_fp32_b1_ips": 60.0,
        "ov_int8_bf16_b1_ips": 120.0,
        "ov_fp32_best_ips": 60.0,
        "ov_int8_bf16_best_ips": 120.0,
        "ov_int8_bf16_speedup_ips_b1": 2.0,
        "ov_int8_bf16_speedup_ips_b1_lo": 1.93,
        "ov_int8_bf16_speedup_ips_b1_hi": 2.07,
        "ov_int8_bf16_speedup_b1_p50": 1.9,
    }
    md = build({"bench_ort": {}, "bench_ov": ov, "memory": {}, "eval_map": {}}, "T")
    assert "## OpenVINO ov_fp32 / ov_int8_bf16" in md and "ov_int8_bf16 1.90x," not in md
    assert "ov_int8_bf16 1.90x." in md  # no interval recorded: the figure alone
    assert "| batch | ov_fp32 img/s | ov_int8_bf16 img/s | ov_int8_bf16 / ov_fp32 |" in md
    assert "| 1 | 60.00 | 120.00 | 2.00x [1.93, 2.07] |" in md


@needs_mirror
def test_report_stage_output(pipeline):
    md = (pipeline / "metrics/report.md").read_text()
    ev = read_results("eval_map", pipeline)
    for section in (
        "## Environment",
        "## Recommendation for this machine",
        "## How the timings were taken",
        "## Model-only latency",
        "## Dynamic batching",
        f"## OpenVINO {' / '.join(runnable('ov_fp32', 'ov_bf16', 'ov_int8', 'ov_int8_bf16'))}",
        "## ONNX Runtime FP32 / INT8",
        "## Memory",
        "## mAP before and after INT8",
        "## Quoted",
    ):
        assert section in md
    assert f"| ov_int8 | {ev['ov_int8_map50_95']:.2f} |" in md
    for v in runnable("ov_int8_bf16"):
        assert f"| {v} | {ev[f'{v}_map50_95']:.2f} |" in md
    assert (pipeline / "plots/map_vs_latency.png").read_bytes()[:4] == b"\x89PNG"
    # intervals: the INT8 delta with its bootstrap interval, the OpenVINO speed-ups with theirs
    lo, hi = ev["ov_int8_delta_map50_95_lo"], ev["ov_int8_delta_map50_95_hi"]
    assert f"{ev['ov_int8_delta_map50_95']:.2f} [{lo:.2f}, {hi:.2f}]" in md
    ov = read_results("bench_ov", pipeline)
    assert f"{ov['ov_int8_speedup_ips_b1']:.2f}x [{ov['ov_int8_speedup_ips_b1_lo']:.2f}, " in md
    # the headline table: each variant's ratio over the best FP32 of any runtime, with its interval
    rec = read_results("recommend", pipeline)
    k = "ov_int8_throughput_x_best_fp32"
    assert "## Each variant against the best FP32" in md and rec["best_fp32_throughput"] in md
    lo, hi = rec[f"{k}_lo"], rec[f"{k}_hi"]
    assert f"{rec[k]:.2f}x" + ("" if lo is None else f" [{lo:.2f}, {hi:.2f}]") in md
    # the INT8 scope: NNCF's accuracy control, its held-out figures, each layer it reverted
    q = read_results("quantize_ov", pipeline)
    assert "## What the OpenVINO INT8 model keeps float" in md and "NNCF's accuracy control" in md
    assert f"FP32 {q['heldout_map50_95_fp32']:.3f}, INT8 {q['heldout_map50_95_int8']:.3f}" in md
    assert ("within the budget" in md) == q["budget_met"]
    for r in q["float_layers"]:
        assert f"| {r['layer']} | {r['reason']} |" in md


def test_onnx_runtime_int8_under_1_3x_is_called_not_recommended():
    def md(b1, best):
        return build({"bench_ort": {"ort_int8_speedup_b1_p50": b1, "ort_int8_speedup_best_ips": best}}, "T")

    assert "ONNX Runtime INT8 gains less than 1.3x over FP32 on this CPU: it is not recommended here" in md(1.2, 1.29)
    assert "not recommended here" not in md(1.2, 1.35)


@needs_mirror
def test_pareto_front_of_the_real_run_equals_brute_force_and_the_chart_is_drawn(pipeline):
    """Oracle: a variant is on the front when no other variant is at least as fast and as accurate, and
    strictly better in one (checked pair by pair); on the tiny run's real latencies and mAPs, and on
    the same points with one variant made both slower and less accurate than another."""
    from yolo_cpu.results.tradeoff import pareto_front

    m = {s: read_results(s, pipeline) for s in ("bench_ort", "bench_ov", "eval_map")}
    points = map_vs_latency(m)
    assert len(points) >= len(runnable("ort_fp32", "ort_int8", "ov_fp32", "ov_bf16", "ov_int8", "ov_int8_bf16")) - 1

    def brute(pts: dict) -> set:
        return {
            v
            for v, (x, y) in pts.items()
            if not any(x2 <= x and y2 >= y and (x2, y2) != (x, y) for w, (x2, y2) in pts.items() if w != v)
        }

    assert set(pareto_front(points)) == brute(points)
    fastest = min(points, key=lambda v: points[v][0])
    assert pareto_front(points)[0] == fastest
    other = next(v for v in points if v != fastest)
    worse = {**points, other: (points[fastest][0] + 1, points[fastest][1] - 1)}  # dominated by the fastest
    assert other not in pareto_front(worse) and set(pareto_front(worse)) == brute(worse)
    assert (pipeline / "plots/map_vs_latency.png").stat().st_size > 20_000  # a drawn chart, not empty axes
