"""A variant is runtime + model file + precision, with one name used everywhere: params, metrics
keys, plot series, the report. `ort_fp32_fixed` is the release model as downloaded (batch 1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from yolo_cpu import paths
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime, Runtime, ov_supports_bf16


@dataclass(frozen=True)
class Variant:
    """A named runtime + model + precision, e.g. ov_int8."""

    name: str
    runtime: type[Runtime]
    model_file: Callable[[str], Path]  # model name -> file
    precision: str  # the weights' precision: fp32 or int8
    hint_precision: str | None = None  # OpenVINO only: INFERENCE_PRECISION_HINT (f32 or bf16)

    def model_path(self, model_name: str) -> Path:
        return self.model_file(model_name)

    def load(self, model_name: str, **options: Any) -> Runtime:
        """The variant's runtime on its model file; `options` are runtime settings (threads, hint...)."""
        if self.hint_precision is not None:
            options = {"precision": self.hint_precision, **options}
        return self.runtime(self.model_path(model_name), **options)

    def supported(self) -> bool:
        """False when this CPU cannot run the variant (bf16 without CPU support)."""
        return self.hint_precision != "bf16" or ov_supports_bf16()

    @property
    def is_openvino(self) -> bool:
        return self.runtime is OvRuntime


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("ort_fp32_fixed", OrtRuntime, paths.fixed_onnx, "fp32"),
        Variant("ort_fp32", OrtRuntime, paths.dynamic_onnx, "fp32"),
        Variant("ort_int8", OrtRuntime, paths.ort_int8_onnx, "int8"),
        Variant("ov_fp32", OvRuntime, paths.ov_fp32_xml, "fp32", "f32"),
        Variant("ov_bf16", OvRuntime, paths.ov_fp32_xml, "bf16", "bf16"),
        Variant("ov_int8", OvRuntime, paths.ov_int8_xml, "int8", "f32"),
        # The INT8 IR with bf16 for the ops left float: OpenVINO's own default on a bf16 CPU.
        Variant("ov_int8_bf16", OvRuntime, paths.ov_int8_xml, "int8", "bf16"),
    )
}
ORT_VARIANTS = tuple(n for n, v in VARIANTS.items() if not v.is_openvino)
OV_VARIANTS = tuple(n for n, v in VARIANTS.items() if v.is_openvino)

# Each variant's reference: speed-ups and mAP deltas are against it, on the same runtime.
BASELINE = {"ort_fp32_fixed": "ort_fp32", "ort_int8": "ort_fp32", "ov_bf16": "ov_fp32", "ov_int8": "ov_fp32",
            "ov_int8_bf16": "ov_fp32"}
INT8_VARIANTS = tuple(n for n, v in VARIANTS.items() if v.precision == "int8")
