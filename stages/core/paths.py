"""Where each stage puts its outputs, so stages and variants agree on file names."""
from __future__ import annotations

from pathlib import Path

MODELS = Path("models")
DATA = Path("data")
METRICS = Path("metrics")
PLOTS = Path("plots")

EVAL_DIR = DATA / "eval"
CALIB_DIR = DATA / "calib"
SUBSET_FILE = DATA / "labels" / "classes_15.txt"
EVAL_GT = EVAL_DIR / "instances.json"


def fixed_onnx(name: str) -> Path:
    """The release ONNX as downloaded (fixed batch 1)."""
    return MODELS / f"{name}.onnx"


def dynamic_onnx(name: str) -> Path:
    return MODELS / f"{name}_dynamic.onnx"


def ir_xml(name: str) -> Path:
    return MODELS / "ir" / f"{name}.xml"


def int8_ir_xml(name: str) -> Path:
    return MODELS / "int8" / f"{name}_int8.xml"


def int8_onnx(name: str) -> Path:
    return MODELS / "int8" / f"{name}_int8_ort.onnx"

