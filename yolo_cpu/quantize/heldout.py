"""The held-out calibration images as the judge of an INT8 model: its detections, mAP50-95 against
their labels, and fidelity (mAP50-95 against FP32's own confident detections); and the graph edits
that put one quantized layer back to float (with_float) or quantize coarser (with_levels). NNCF's
accuracy control (accuracy_control.py) validates on these images; the probes use the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from yolo_cpu.accuracy.scoring import coco_map, to_coco
from yolo_cpu.data import coco
from yolo_cpu.data.calibration import CalibrationSet
from yolo_cpu.runtime.postprocess import postprocess
from yolo_cpu.runtime.runtimes import ov_core

CONF, IOU, MAX_DET = 0.001, 0.65, 300  # the evaluation's settings (mAP needs the low-confidence tail)
REFERENCE_CONF = 0.25  # FP32's detections scoring at least this are the ground truth fidelity is scored against
BATCH = 8


@dataclass
class HeldOut:
    """The held-out calibration images with their labels as COCO ground truth."""

    calib: CalibrationSet
    gt: dict[str, Any]
    image_ids: list[int]
    category_ids: list[int]
    reference: dict[str, Any] | None = None  # FP32's confident detections as ground truth (use_reference)

    @classmethod
    def of(cls, calib: CalibrationSet, classes: coco.Classes) -> HeldOut:
        items, ids = [], []
        for path, lb in zip(calib.held_out_files, calib.held_out_letterboxes):
            labels = coco.parse_labels(path.parent.parent / "labels" / f"{path.stem}.txt", len(classes))
            ids.append(coco.image_id(path))
            items.append((ids[-1], path.name, lb.orig_w, lb.orig_h, labels))
        return cls(calib, coco.gt_from_labels(items, classes), ids, list(classes.ids))

    def __len__(self) -> int:
        return len(self.image_ids)

    def detections(self, model, precision: str = "f32", limit: int | None = None) -> list[dict[str, Any]]:
        """COCO detections of an OpenVINO model (compiled here with `precision`) on the first `limit`
        held-out images (all when None). The LATENCY hint, as the evaluation: OpenVINO 2026.4
        computes wrong outputs for an INT8 model with some layers float under the THROUGHPUT hint at a
        dynamic batch (scripts/probes/ov_partial_int8_dynamic.py)."""
        compiled = ov_core().compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        )
        request = compiled.create_infer_request()
        dets: list[dict[str, Any]] = []
        ids = iter(self.image_ids)
        for x, lbs in self.calib.held_out_batches(BATCH, limit):
            y = request.infer({0: x})[0]
            for d in postprocess(np.asarray(y), lbs, CONF, IOU, MAX_DET):
                dets += to_coco(next(ids), d, self.category_ids)
        return dets

    def map50_95(self, model, precision: str = "f32", limit: int | None = None) -> float:
        """mAP50-95 in points against the labels on the first `limit` held-out images."""
        return self.score(self.gt, self.detections(model, precision, limit), limit)

    def use_reference(self, fp32) -> None:
        """Take the FP32 model's confident detections as the reference fidelity is scored against."""
        self.reference = as_ground_truth(self.gt, self.detections(fp32), REFERENCE_CONF)

    def score(self, gt: dict[str, Any], dets: list[dict[str, Any]], limit: int | None) -> float:
        """mAP50-95 in points of `dets` against `gt` on the first `limit` held-out images."""
        n = len(self) if limit is None else min(limit, len(self))
        return (
            100
            * coco_map(gt if n == len(self) else restrict_images(gt, self.image_ids[:n]), dets, per_class=False)[
                "map50_95"
            ]
        )


def as_ground_truth(gt: dict[str, Any], dets: list[dict[str, Any]], min_score: float) -> dict[str, Any]:
    """`gt` with its annotations replaced by the detections scoring at least `min_score`: a reference
    model's confident detections as the ground truth another model's fidelity is scored against."""
    anns = [
        {
            "id": i + 1,
            "image_id": d["image_id"],
            "category_id": d["category_id"],
            "bbox": d["bbox"],
            "area": round(d["bbox"][2] * d["bbox"][3], 3),
            "iscrowd": 0,
        }
        for i, d in enumerate(d for d in dets if d["score"] >= min_score)
    ]
    return {**gt, "annotations": anns}


def restrict_images(gt: dict[str, Any], image_ids: list[int]) -> dict[str, Any]:
    keep = set(image_ids)
    return {
        **gt,
        "images": [i for i in gt["images"] if i["id"] in keep],
        "annotations": [a for a in gt["annotations"] if a["image_id"] in keep],
    }


def quantized_layers(model) -> list[str]:
    """Names of the ops that take an input from a FakeQuantize: the layers NNCF made INT8, each of
    which an ignored scope entry can give back to float."""
    return [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() != "FakeQuantize"
        and any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())
    ]


def with_float(model, layers: set[str]):
    """A copy of a quantized model in which `layers` read their inputs before the FakeQuantize, so
    they run float (the FakeQuantize nodes no other op reads drop out of the graph)."""
    copy = model.clone()
    for op in copy.get_ops():
        if op.get_friendly_name() in layers:
            for i in op.inputs():
                src = i.get_source_output().get_node()
                if src.get_type_name() == "FakeQuantize":
                    i.replace_source_output(src.input_value(0))
    return copy


def with_levels(model, levels: int):
    """A copy of a quantized model whose FakeQuantize nodes all quantize to `levels` levels over the
    same ranges: a coarser quantization of the same model (256 levels is the model itself)."""
    import openvino.opset13 as ops

    copy = model.clone()
    for fq in [op for op in copy.get_ops() if op.get_type_name() == "FakeQuantize"]:
        coarse = ops.fake_quantize(
            *[i.get_source_output() for i in fq.inputs()], levels, auto_broadcast=fq.get_attributes()["auto_broadcast"]
        )
        coarse.set_friendly_name(fq.get_friendly_name())
        fq.output(0).replace(coarse.output(0))
    copy.validate_nodes_and_infer_types()
    return copy
