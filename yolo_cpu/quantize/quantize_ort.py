"""ONNX Runtime INT8: static QDQ quantization that keeps float what int8 makes slower or too coarse
(see ort_sensitivity), or NNCF's ONNX backend; and the memory check for histogram calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_cpu.quantize.head import QuantizeError, matching

HISTOGRAM_GB_PER_IMAGE = 0.25  # measured: ORT's entropy calibration of yolov5n ran out of 24 GB at 100 images


def check_memory(method: str, images: int) -> None:
    """ORT's entropy/percentile calibrators keep every activation of every image in memory: refuse
    up front what cannot fit instead of being killed."""
    import psutil

    if method in ("qdq_entropy", "qdq_percentile"):
        need = images * HISTOGRAM_GB_PER_IMAGE
        have = psutil.virtual_memory().available / 2**30
        if need > 0.7 * have:
            raise QuantizeError(
                f"quantize_ort.method={method} keeps all activations in memory: about {need:.0f} GB for "
                f"quantize_ort.calibration_images={images}, but {have:.0f} GB are free; lower it to "
                f"{int(0.7 * have / HISTOGRAM_GB_PER_IMAGE)} or use qdq_minmax"
            )


class _Reader:
    """onnxruntime CalibrationDataReader over preprocessed calibration inputs."""

    def __init__(self, input_name: str, inputs: list[np.ndarray]) -> None:
        self.input_name, self.inputs = input_name, inputs
        self.it = iter(inputs)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {self.input_name: x}

    def rewind(self) -> None:
        self.it = iter(self.inputs)


def prepare(src: Path, work: Path) -> Path:
    """Opset >= 13 (per-channel QDQ needs DequantizeLinear's axis) and ORT's quantization
    pre-processing (constant folding, fusions), which makes the QDQ model much faster."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    upgraded = work / "opset13.onnx"
    onnx.save(version_converter.convert_version(model, 13) if opset < 13 else model, str(upgraded))
    prepared = work / "prepared.onnx"
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    upgraded.unlink()
    return prepared


def quantize_qdq(
    src: Path,
    dst: Path,
    inputs: list[np.ndarray],
    method: str,
    exclude_patterns: list[str],
    min_sqnr_db: float = 0.0,
    float_stem: bool = False,
    sqnr_images: int = 64,
    align_concat: bool = False,
) -> dict:
    """ONNX Runtime static quantization: QDQ, per-channel int8 weights, uint8 activations.

    Kept in float: nodes matching `exclude_patterns` (the head), SiLU layers whose quantized input
    has an SQNR below `min_sqnr_db`, and with `float_stem` the few-channel stem conv (see
    ort_sensitivity). With `align_concat`, every quantized Concat's inputs and output share one range
    (ort_sensitivity.shared_concat_ranges), so ORT's QLinearConcat copies instead of requantizing.
    Returns what was kept float, the measured SQNR per SiLU layer and the aligned tensors."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from yolo_cpu.quantize.ort_sensitivity import float_layers, shared_concat_ranges

    prepared = prepare(src, dst.parent)
    try:
        model = onnx.load(str(prepared))
        head = matching([n.name for n in model.graph.node], exclude_patterns)
        if exclude_patterns and not head:
            raise QuantizeError(f"head patterns {exclude_patterns} matched no node of {src}")
        float_nodes, sqnr = float_layers(model, inputs[:sqnr_images], min_sqnr_db, float_stem)
        overrides = shared_concat_ranges(model, inputs[:sqnr_images], set(head)) if align_concat else {}
        input_name = model.graph.input[0].name
        del model
        calib = {
            "qdq_minmax": CalibrationMethod.MinMax,
            "qdq_entropy": CalibrationMethod.Entropy,
            "qdq_percentile": CalibrationMethod.Percentile,
        }[method]
        quantize_static(
            str(prepared),
            str(dst),
            _Reader(input_name, inputs),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=calib,
            nodes_to_exclude=sorted(set(head) | set(float_nodes)),
            extra_options={
                **({"CalibMovingAverage": True} if calib == CalibrationMethod.MinMax else {}),
                **({"TensorQuantOverrides": overrides} if overrides else {}),
            },
        )
    finally:
        prepared.unlink()
    return {
        "head_nodes": len(head),
        "float_nodes": [n for n in float_nodes if n not in head],
        "sqnr_db": sqnr,
        "aligned_concat_tensors": len(overrides),
    }


def quantize_nncf(src: Path, dst: Path, inputs: list[np.ndarray], exclude: list[str]) -> None:
    """NNCF quantization of the ONNX model with its ONNX backend (mixed preset; the fast bias
    correction, since NNCF 3.4's full one fails on yolov5n with this onnxruntime: "Duplicate
    definition-site for /model.1/act/Mul_output_0")."""
    import onnx

    from yolo_cpu.quantize.quantize_ov import quantize

    model = onnx.load(str(src))
    name = model.graph.input[0].name
    onnx.save(quantize(model, inputs, "mixed", True, exclude, lambda x: {name: x}), str(dst))


def count_quantize_linear(path: Path) -> int:
    import onnx

    return sum(1 for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type == "QuantizeLinear")
