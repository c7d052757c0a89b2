"""NNCF's own accuracy control (nncf.quantize_with_accuracy_control) on the held-out calibration
images: it quantizes everything but the box decode, ranks the quantized ops by how much reverting each
gives back, and reverts the worst to float until the drop is within max_drop. Our validation function
scores mAP50-95 against the held-out labels (as a fraction: NNCF's max_drop is absolute, 0.01 = one
point), or fidelity to FP32's confident detections (metric="fidelity"; scripts/probes/accuracy_control.py
measures which ranks better: on yolov5n the labels, for the same mAP at less speed lost)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from yolo_cpu.accuracy.scoring import coco_map, to_coco
from yolo_cpu.quantize.heldout import CONF, IOU, MAX_DET, HeldOut, restrict_images
from yolo_cpu.quantize.quantize_ov import _preset
from yolo_cpu.runtime.postprocess import postprocess
from yolo_cpu.runtime.preprocess import to_tensor

METRICS = ("labels", "fidelity")


def validation_fn(held: HeldOut, metric: str):
    """NNCF's validation function over held-out image indices: (mAP50-95 as a fraction, None) of the
    compiled model on those images, against the labels or against FP32's confident detections."""

    def validate(compiled, indices: Iterable[int]) -> tuple[float, None]:
        ids, dets = [], []
        out = compiled.output(0)
        for i in indices:
            x = to_tensor([np.asarray(held.calib.held_out_images[i])])
            y = compiled({0: x})[out]
            ids.append(held.image_ids[i])
            for d in postprocess(np.asarray(y), [held.calib.held_out_letterboxes[i]], CONF, IOU, MAX_DET):
                dets += to_coco(ids[-1], d, held.category_ids)
        gt = held.gt if metric == "labels" else held.reference
        return float(coco_map(restrict_images(gt, ids), dets, per_class=False)["map50_95"]), None

    return validate


def quantize(
    fp32,
    inputs: list[np.ndarray],
    held: HeldOut,
    preset: str,
    fast_bias_correction: bool,
    ignored: list[str],
    max_drop_points: float,
    max_float_layers: int,
    rank_images: int,
    metric: str = "labels",
) -> tuple[Any, dict[str, Any]]:
    """(quantized model, details: the ops NNCF left float beyond `ignored`, its settings, the time)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    if metric == "fidelity":
        held.use_reference(fp32)
    log = _NncfLog()
    started = time.perf_counter()
    with log:
        model = nncf.quantize_with_accuracy_control(
            fp32,
            nncf.Dataset(inputs),
            nncf.Dataset(list(range(len(held)))),
            validation_fn(held, metric),
            max_drop=max_drop_points / 100,
            drop_type=nncf.DropType.ABSOLUTE,
            preset=_preset(preset),
            subset_size=len(inputs),
            fast_bias_correction=fast_bias_correction,
            ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                max_num_iterations=max_float_layers, ranking_subset_size=min(rank_images, len(held))
            ),
        )
    seconds = time.perf_counter() - started
    summary = [m for m in log.messages if re.match(r"\d+ out of \d+ were reverted", m)]  # NNCF's final word
    reverted = [line.strip() for line in summary[-1].splitlines()[1:]] if summary else []
    fp32_map, int8_map = held.map50_95(fp32), held.map50_95(model)
    return model, {
        "mechanism": "nncf.quantize_with_accuracy_control",
        "metric": metric,
        "max_drop": max_drop_points / 100,
        "ranking_subset_size": min(rank_images, len(held)),
        "max_num_iterations": max_float_layers,
        "held_out_images": len(held),
        "heldout_map50_95_fp32": round(fp32_map, 3),
        "heldout_map50_95_int8": round(int8_map, 3),
        "heldout_drop_points": round(fp32_map - int8_map, 3),
        "budget_met": not any("could not achieve" in m for m in log.messages),
        "float_layers": [{"layer": n, "reason": "reverted by NNCF's accuracy control"} for n in reverted],
        "nncf_log": log.messages,
        "accuracy_control_seconds": round(seconds, 1),
    }


class _NncfLog(logging.Handler):
    """NNCF's INFO messages while in the block (what accuracy control reverted, the drops it saw)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("Elapsed Time"):
            self.messages.append(record.getMessage())

    def __enter__(self) -> _NncfLog:
        self.logger = logging.getLogger("nncf")
        self.saved_level = self.logger.level  # not `self.level`: that is the handler's own threshold
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)
