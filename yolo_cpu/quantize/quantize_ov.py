"""NNCF post-training INT8 quantization of the OpenVINO IR (accuracy control lives in accuracy_control.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from yolo_cpu.quantize.head import QuantizeError, head_patterns, matching


def _preset(name: str):
    import nncf

    return nncf.QuantizationPreset.MIXED if name == "mixed" else nncf.QuantizationPreset.PERFORMANCE


def head_ops(model, include_convs: bool) -> list[str]:
    """Names of the detect head's ops in an OpenVINO model (not its weight constants); error if none."""
    names = [op.get_friendly_name() for op in model.get_ops()]
    found = [n for n in matching(names, head_patterns(names, include_convs)) if not n.startswith("model.")]
    if not found:
        raise QuantizeError("the detect head's scope matched no OpenVINO op: the box decode cannot be kept float")
    return found


def quantize(
    model,
    inputs: list[np.ndarray],
    preset: str,
    fast_bias_correction: bool,
    ignored: list[str],
    to_model_input: Callable[[np.ndarray], Any] | None = None,
    advanced: Any = None,
):
    """NNCF post-training quantization of preprocessed inputs. Also takes an ONNX ModelProto, with
    `to_model_input` mapping an array to the ONNX backend's {input name: array}; `advanced`: NNCF's
    AdvancedQuantizationParameters (its defaults when None)."""
    import nncf

    nncf.set_log_level(logging.WARNING)
    return nncf.quantize(
        model,
        nncf.Dataset(inputs, to_model_input),
        preset=_preset(preset),
        subset_size=len(inputs),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
        **({"advanced_parameters": advanced} if advanced is not None else {}),
    )


def count_fake_quantize(model) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")
