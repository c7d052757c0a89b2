"""INT8 post-training quantization: NNCF for OpenVINO IR, ONNX Runtime static QDQ (or NNCF) for ONNX.

Calibration images go through the same `preprocess` as inference; `normalize: imagenet` exists
only to measure what a calibration/inference preprocessing mismatch costs."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .preprocess import preprocess, read_image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


class QuantizeError(ValueError):
    """Bad calibration input or a head scope that matched nothing."""


def calibration_transform(size: int, normalize: str) -> Callable[[Path], np.ndarray]:
    """Image path -> [1, 3, size, size] float32 input, optionally (wrongly) ImageNet-normalized."""

    def transform(path: Path) -> np.ndarray:
        x, _ = preprocess([read_image(path)], size)
        if normalize == "imagenet":
            x = (x - IMAGENET_MEAN) / IMAGENET_STD
        return x

    return transform


def calibration_inputs(images: list[Path], size: int, normalize: str) -> list[np.ndarray]:
    """Every calibration image decoded and preprocessed once (about 4.9 MB each at 640), so NNCF's
    and ONNX Runtime's several passes reuse them; a corrupt image raises naming its file."""
    transform = calibration_transform(size, normalize)
    return [transform(p) for p in images]


def head_index(node_names: Iterable[str]) -> int:
    """Index N of the detect head: the last `/model.N/` module in the graph."""
    idx = [int(m.group(1)) for n in node_names if (m := re.match(r"^/model\.(\d+)/", n))]
    if not idx:
        raise QuantizeError("no '/model.N/' node names found: cannot locate the detect head")
    return max(idx)


def head_patterns(node_names: Iterable[str], include_convs: bool) -> list[str]:
    """Regexes for the detect head's decode arithmetic (ops directly under /model.N/: sigmoid, mul,
    add, pow, concat, ...) and optionally its convolutions. Same names in static and dynamic exports."""
    n = head_index(node_names)
    pats = [rf"^/model\.{n}/[^/]+$"]
    if include_convs:
        pats.append(rf"^/model\.{n}/.*Conv.*$")
    return pats


def matching(node_names: Iterable[str], patterns: list[str]) -> list[str]:
    rx = [re.compile(p) for p in patterns]
    return [n for n in node_names if any(r.match(n) for r in rx)]


def ov_quantize(model, images: list[Path], transform, preset: str, fast_bias_correction: bool,
                ignored: list[str]):
    """NNCF post-training quantization of an OpenVINO model."""
    import logging

    import nncf

    nncf.set_log_level(logging.WARNING)
    scope = nncf.IgnoredScope(names=ignored) if ignored else None
    return nncf.quantize(
        model,
        nncf.Dataset(images, transform),
        preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(images),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=scope,
    )


def ov_quantize_with_accuracy_control(model, images: list[Path], val_items: list, transform, validate,
                                      preset: str, ignored: list[str], max_drop: float):
    """NNCF quantization that reverts layers to float until `validate` drops by at most max_drop."""
    import nncf

    return nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(images, transform),
        nncf.Dataset(val_items),
        validation_fn=validate,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
    )


class _Reader:
    """onnxruntime CalibrationDataReader over calibration images."""

    def __init__(self, input_name: str, images: list[Path], transform) -> None:
        self.input_name, self.images, self.transform = input_name, images, transform
        self.it = iter(images)

    def get_next(self):
        p = next(self.it, None)
        return None if p is None else {self.input_name: self.transform(p)}

    def rewind(self) -> None:
        self.it = iter(self.images)


def ort_prepare(src: Path, work: Path) -> Path:
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


def ort_quantize_qdq(src: Path, dst: Path, images: list, transform, method: str,
                     exclude_patterns: list[str], min_sqnr_db: float = 0.0, float_stem: bool = False,
                     sqnr_images: int = 64) -> dict:
    """ONNX Runtime static quantization: QDQ, per-channel int8 weights, uint8 activations.

    Kept in float: nodes matching `exclude_patterns` (the head), SiLU layers whose quantized input
    has an SQNR below `min_sqnr_db`, and with `float_stem` the few-channel stem conv (see
    ort_sensitivity). Returns what was kept float and the measured SQNR per SiLU layer."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from .ort_sensitivity import float_layers

    prepared = ort_prepare(src, dst.parent)
    try:
        model = onnx.load(str(prepared))
        head = matching([n.name for n in model.graph.node], exclude_patterns)
        if exclude_patterns and not head:
            raise QuantizeError(f"head patterns {exclude_patterns} matched no node of {src}")
        probe = [transform(p) for p in images[:sqnr_images]]
        float_nodes, sqnr = float_layers(model, probe, min_sqnr_db, float_stem)
        input_name = model.graph.input[0].name
        del model, probe
        calib = {"qdq_minmax": CalibrationMethod.MinMax, "qdq_entropy": CalibrationMethod.Entropy,
                 "qdq_percentile": CalibrationMethod.Percentile}[method]
        quantize_static(
            str(prepared), str(dst), _Reader(input_name, images, transform),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=calib, nodes_to_exclude=sorted(set(head) | set(float_nodes)),
            extra_options={"CalibMovingAverage": True} if calib == CalibrationMethod.MinMax else {},
        )
    finally:
        prepared.unlink()
    return {"head_nodes": len(head), "float_nodes": [n for n in float_nodes if n not in head], "sqnr_db": sqnr}


def ort_quantize_nncf(src: Path, dst: Path, images: list[Path], transform, preset: str,
                      fast_bias_correction: bool, exclude: list[str]) -> None:
    """NNCF quantization of the ONNX model (ONNX backend, which takes {input name: array} items)."""
    import onnx

    model = onnx.load(str(src))
    name = model.graph.input[0].name
    q = ov_quantize(model, images, lambda p: {name: transform(p)}, preset, fast_bias_correction, exclude)
    onnx.save(q, str(dst))


def count_quantized_ov(model) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")


def count_quantized_onnx(path: Path) -> int:
    import onnx

    return sum(1 for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type == "QuantizeLinear")
