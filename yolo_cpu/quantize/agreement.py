"""The INT8-against-FP32 agreement check: how many of the FP32 model's detections the INT8 model
still finds on the held-out calibration images."""

from __future__ import annotations

import warnings

from yolo_cpu.data.calibration import CalibrationSet
from yolo_cpu.runtime.postprocess import match_rate, postprocess
from yolo_cpu.runtime.runtimes import Runtime

LOW_AGREEMENT = 0.5


def agreement(reference: Runtime, quantized: Runtime, calib: CalibrationSet) -> float:
    """Share of the reference model's detections (conf 0.25) that the INT8 model matches at IoU 0.5
    on the held-out calibration images; below LOW_AGREEMENT a warning says the INT8 model is broken."""
    ref, test = [], []
    for x, lbs in calib.held_out_batches(8):
        ref += postprocess(reference.infer(x), lbs)
        test += postprocess(quantized.infer(x), lbs)
    rate = match_rate(ref, test)
    if rate < LOW_AGREEMENT:
        warnings.warn(
            f"the INT8 model {quantized.model_path} finds only {rate:.0%} of the FP32 model's detections "
            "on the held-out calibration images: it is broken (is the detect head's box decode quantized?)",
            stacklevel=2,
        )
    return rate
