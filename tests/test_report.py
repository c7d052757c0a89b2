"""The results report is built from the metrics files alone."""
import json

from conftest import needs_mirror
from stages.core.report import QUOTED, build, map_vs_latency


def test_build_from_synthetic_metrics():
    m = {
        "bench_ort": {"intra_threads": 2, "fp32_b1_p50_ms": 40.0, "fp32_b1_p90_ms": 41.0, "fp32_b1_p99_ms": 42.0,
                      "fp32_b1_mean_ms": 40.5, "fp32_b1_throughput_ips": 24.7, "fixed_b2_supported": False,
                      "fixed_b1_p50_ms": 39.0, "fixed_b1_p90_ms": 39.5, "fixed_b1_p99_ms": 40.0,
                      "fixed_b1_mean_ms": 39.2, "fixed_b1_throughput_ips": 25.5, "fp32_b2_p50_ms": 70.0,
                      "fp32_b2_throughput_ips": 28.0},
        "bench_ov": {}, "memory": {},
        "eval_map": {"images": 500, "conf": 0.001, "iou": 0.65, "max_det": 300, "subset_classes": 15,
                     "ort_fp32_map50_95": 25.3, "ort_fp32_map50": 40.1, "ort_fp32_subset_map50_95": 20.0,
                     "ort_fp32_images_per_s": 30.0, "ort_fp32_model_only_images_per_s": 36.0,
                     "ort_fp32_eval_vs_model_only": 0.833},
    }
    md = build(m, "T")
    assert "| ort_fp32 | 40.00 | 41.00 | 42.00 | 40.50 | 24.70 |" in md
    assert "| ort_fixed | 39.0 / 25.5 | unsupported (fixed batch) |" in md
    assert "| ort_fp32 | 25.30 | 40.10 | n/a | 20.00 | n/a | 30.00 | 36.00 | 0.83 |" in md
    quoted = md.index("## Quoted from elsewhere")
    assert all(md.index(q[1], quoted) > quoted for q in QUOTED)  # quoted figures only in their section
    assert map_vs_latency(m) == {"ort_fp32": (40.0, 25.3)}


def test_openvino_table_has_a_column_per_measured_precision():
    ov = {"f32_throughput_b1_throughput_ips": 60.0, "int8_bf16_throughput_b1_throughput_ips": 120.0,
          "speedup_int8_bf16_vs_f32_throughput_b1": 2.0, "speedup_int8_bf16_vs_f32_latency_b1": 1.9}
    md = build({"bench_ort": {}, "bench_ov": ov, "memory": {}, "eval_map": {}}, "T")
    assert "## OpenVINO f32 / int8_bf16" in md
    assert "| batch | f32 img/s | int8_bf16 img/s | int8_bf16/f32 throughput | int8_bf16/f32 latency |" in md
    assert "| 1 | 60.00 | 120.00 | 2.00 | 1.90 |" in md


@needs_mirror
def test_report_stage_output(pipeline):
    md = (pipeline / "metrics/report.md").read_text()
    ev = json.loads((pipeline / "metrics/eval_map.json").read_text())
    for section in ("## Environment", "## Model-only latency", "## Dynamic batching", "## OpenVINO f32 / bf16 / int8 / int8_bf16",
                    "## ONNX Runtime FP32 / INT8", "## Memory", "## mAP before and after INT8", "## Quoted"):
        assert section in md
    assert f"| ov_int8 | {ev['ov_int8_map50_95']:.2f} |" in md
    assert f"| ov_int8_bf16 | {ev['ov_int8_bf16_map50_95']:.2f} |" in md
    assert (pipeline / "plots/map_vs_latency.png").read_bytes()[:4] == b"\x89PNG"
