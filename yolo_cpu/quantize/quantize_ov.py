"""NNCF post-training INT8 quantization of the OpenVINO IR, optionally accuracy-controlled on
held-out calibration images (never the evaluation split)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from yolo_cpu.data import coco
from yolo_cpu.data.calibration import QuantizeError, head_patterns, matching
from yolo_cpu.runtime.postprocess import postprocess
from yolo_cpu.runtime.preprocess import preprocess
from yolo_cpu.accuracy.scoring import coco_map, to_coco


def _preset(name: str):
    import nncf

    return nncf.QuantizationPreset.MIXED if name == "mixed" else nncf.QuantizationPreset.PERFORMANCE


def head_ops(model, include_convs: bool) -> list[str]:
    """Names of the detect head's ops in an OpenVINO model (not its weight constants); error if none."""
    names = [op.get_friendly_name() for op in model.get_ops()]
    found = [n for n in matching(names, head_patterns(names, include_convs)) if not n.startswith("model.")]
    if not found:
        raise QuantizeError("quantize_ov.ignore_head is on but the head scope matched no OpenVINO op")
    return found


def quantize(model, inputs: list[np.ndarray], preset: str, fast_bias_correction: bool, ignored: list[str],
             to_model_input: Callable[[np.ndarray], Any] | None = None):
    """NNCF post-training quantization of preprocessed inputs. Also takes an ONNX ModelProto, with
    `to_model_input` mapping an array to the ONNX backend's {input name: array}."""
    import nncf

    nncf.set_log_level(logging.WARNING)
    return nncf.quantize(
        model, nncf.Dataset(inputs, to_model_input), preset=_preset(preset), subset_size=len(inputs),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
    )


def quantize_with_accuracy_control(model, inputs: list[np.ndarray], val_items: list, validate, preset: str,
                                   ignored: list[str], max_drop: float):
    """NNCF quantization that reverts layers to float until `validate` drops by at most max_drop."""
    import nncf

    return nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(inputs), nncf.Dataset(val_items), validation_fn=validate, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, preset=_preset(preset), subset_size=len(inputs),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
    )


def validator(held_out: list[Path], images: list[np.ndarray], size: int, classes: coco.Classes):
    """(validation items, validate(compiled_model, items) -> mAP50-95) on held-out calibration images
    (already decoded) with their labels, for accuracy-controlled quantization."""
    items, gt_items = [], []
    for p, img in zip(held_out, images):
        labels = coco.parse_labels(p.parent.parent / "labels" / f"{p.stem}.txt", len(classes))
        gt_items.append((coco.image_id(p), p.name, img.shape[1], img.shape[0], labels))
        x, lbs = preprocess([img], size)
        items.append((coco.image_id(p), x, lbs))
    gt = coco.gt_from_labels(gt_items, classes)

    def validate(compiled_model, data) -> float:
        dets = []
        for img_id, x, lbs in data:
            y = compiled_model(x)[0]
            for d in postprocess(np.asarray(y), lbs, 0.001, 0.65, 300):
                dets += to_coco(img_id, d, classes.ids)
        return coco_map(gt, dets, per_class=False)["map50_95"]

    return items, validate


def count_fake_quantize(model) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")
