"""Build the results document from the stages' results (headline metrics merged with their detail
files): pure functions, dicts in, markdown out; one module per group of sections."""

from __future__ import annotations

from typing import Any

from yolo_cpu.results.render import table
from yolo_cpu.results.report.accuracy import accuracy, int8_scope, memory
from yolo_cpu.results.report.capacity import capacity
from yolo_cpu.results.report.context import environment, model_and_data, timing_quality
from yolo_cpu.results.report.recommendation import recommendation
from yolo_cpu.results.report.speed import (
    against_best_fp32,
    deployment,
    latency,
    onnxruntime,
    openvino,
    pytorch,
    roofline,
)

# Figures quoted from elsewhere, never measured here: kept apart and labelled in the report.
QUOTED = [
    ("yolov5n COCO val2017 mAP50-95 (all 5000 images, 640)", "28.0", "Ultralytics YOLOv5 v7.0 release table"),
    ("yolov5s COCO val2017 mAP50-95 (all 5000 images, 640)", "37.4", "Ultralytics YOLOv5 v7.0 release table"),
]


def build(m: dict[str, Any], title: str) -> str:
    """Markdown report from {'bench_ort': {...}, 'bench_ov': {...}, 'memory': ..., 'eval_map': ..., ...}."""
    parts = [
        f"# {title}: results",
        "",
        "Every figure below is read from this commit's `metrics/*.json` and `details/*.json` (regenerate "
        "with `dvc repro report`), measured on the machine in *Environment*. Figures quoted from elsewhere "
        "(for the release models) are only in the last section.",
        "",
    ]
    for section in (
        environment,
        model_and_data,
        recommendation,
        capacity,
        against_best_fp32,
        roofline,
        timing_quality,
        latency,
        openvino,
        deployment,
        onnxruntime,
        pytorch,
        memory,
        accuracy,
        int8_scope,
    ):
        parts += section(m)
    model = m.get("download", {}).get("model")
    quoted = [list(q) for q in QUOTED if model is None or q[0].split()[0] == model]
    if quoted:
        parts += ["## Quoted from elsewhere (not measured here)", "", table(["figure", "value", "source"], quoted), ""]
    return "\n".join(parts)
