"""What a model file says about itself: class names, input size, stride, task and output layout, in
Ultralytics' metadata convention (string values, Python literals for names and imgsz). The pipeline
stamps them into every ONNX it writes (metadata_props) and every IR (rt_info under "yolo_cpu"), so
nothing downstream reads them from the workspace. Reading needs only the deploy extra."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from yolo_cpu.errors import UserError

RT_INFO = "yolo_cpu"  # the IR's rt_info section holding these keys
KEYS = ("names", "imgsz", "stride", "task", "layout")


class MetadataError(UserError):
    """A model's metadata is missing or cannot be parsed; the message names the file and key."""


@dataclass(frozen=True)
class ModelMeta:
    names: tuple[str, ...]
    imgsz: int
    layout: str  # "v5" (objectness column), "v8" (anchor-free, channels first), "" if not stamped
    stride: int = 32
    task: str = "detect"

    def strings(self) -> dict[str, str]:
        """The metadata as string key/values: Ultralytics' ONNX metadata form."""
        return {"names": repr(dict(enumerate(self.names))), "imgsz": repr([self.imgsz, self.imgsz]),
                "stride": str(self.stride), "task": self.task, "layout": self.layout}


def model_meta(names: Sequence[str], imgsz: int, layout: str) -> ModelMeta:
    return ModelMeta(tuple(names), int(imgsz), layout)


def parse(raw: dict[str, Any], where: str) -> ModelMeta:
    """A ModelMeta from string (or YAML-typed) values, Ultralytics' exports included (they lack only
    `layout`, which postprocessing tells from the output shape anyway); errors name `where` and the key."""
    missing = [k for k in ("names", "imgsz") if k not in raw]
    if missing:
        raise MetadataError(f"{where}: metadata lacks {', '.join(missing)} (a model this pipeline wrote has them)")

    def literal(key: str) -> Any:
        v = raw[key]
        try:
            return ast.literal_eval(v) if isinstance(v, str) else v
        except (ValueError, SyntaxError) as e:
            raise MetadataError(f"{where}: metadata {key!r} is not a Python literal: {str(v)[:80]!r}") from e

    names, imgsz = literal("names"), literal("imgsz")
    if isinstance(names, dict):
        names = [names[i] for i in sorted(names)]
    imgsz = imgsz[0] if isinstance(imgsz, (list, tuple)) else imgsz
    return ModelMeta(tuple(str(n) for n in names), int(imgsz), str(raw.get("layout", "")),
                     int(raw.get("stride", 32)), str(raw.get("task", "detect")))


def stamp_onnx(path: Path, meta: ModelMeta) -> None:
    """Write the metadata into an ONNX file's metadata_props in place (other keys kept)."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props} | meta.strings()
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))


def stamp_ir(model, meta: ModelMeta):
    """The OpenVINO model with the metadata in its rt_info (before ov.save_model)."""
    for key, value in meta.strings().items():
        model.set_rt_info(value, [RT_INFO, key])
    return model


def from_ov_model(model, where: str) -> ModelMeta:
    """The metadata of a read OpenVINO model (an IR's rt_info, or an ONNX's metadata_props, which
    OpenVINO's ONNX reader does not expose: read those with from_onnx)."""
    raw = {k: model.get_rt_info([RT_INFO, k]).astype(str) for k in KEYS if model.has_rt_info([RT_INFO, k])}
    return parse(raw, where)


def from_onnx(path: Path) -> ModelMeta:
    """The metadata_props of an ONNX file, read with ONNX Runtime (no `onnx` package needed)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises several exception types for bad files
        from yolo_cpu.runtime.runtimes import ModelLoadError

        raise ModelLoadError(f"ONNX Runtime cannot load {path}: {e}") from e
    return parse(dict(session.get_modelmeta().custom_metadata_map), str(path))


def read(path: str | Path) -> ModelMeta:
    """The metadata of an IR (.xml) or ONNX file."""
    path = Path(path)
    if path.suffix == ".onnx":
        return from_onnx(path)
    from yolo_cpu.runtime.runtimes import ov_core

    return from_ov_model(ov_core().read_model(str(path)), str(path))
