"""What a YOLO detector ONNX is: its output layout (YOLOv5 or YOLOv8/YOLO11), class count and the
class names in its Ultralytics metadata, read from the file before any inference."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from yolo_cpu.models import detection_outputs
from yolo_cpu.models.detection_outputs import LAYOUTS
from yolo_cpu.models.export import ExportError, load_onnx


@dataclass(frozen=True)
class ModelInfo:
    layout: str  # "v5" | "v8"
    classes: int
    names: tuple[str, ...] | None  # from the ONNX metadata, when it has them

    @property
    def family(self) -> str:
        return LAYOUTS[self.layout]


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    """A value's shape: ints where static, the symbolic name (or '?') where dynamic."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def _run_shape(path: Path, imgsz: int) -> list[int | str]:
    """The first output's shape from one ONNX Runtime run on a blank image: for exports whose output
    axes are all symbolic (Ultralytics' dynamic=True export of YOLO11 names even the channel axis)."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        y = sess.run(None, {sess.get_inputs()[0].name: np.zeros((1, 3, imgsz, imgsz), np.float32)})[0]
    except Exception as e:
        raise ExportError(f"{path}: its output shape is symbolic and one run on a blank image failed: {e}") from e
    return ["N", *y.shape[1:]]


def refuse_other_tasks(model: onnx.ModelProto, path: Path) -> None:
    """A segmentation, pose, OBB or classification export is not read as a detector (Ultralytics'
    metadata `task`, or `kpt_shape` for pose; without them, a second rank-4 output is a segmentation
    model's mask prototypes)."""
    meta = {p.key: p.value for p in model.metadata_props}
    detection_outputs.refuse_task(meta.get("task") or ("pose" if "kpt_shape" in meta else None), str(path))
    detection_outputs.check_outputs([(o.name, _dims(o)) for o in model.graph.output], str(path))


def metadata_names(model: onnx.ModelProto, path: Path) -> tuple[str, ...] | None:
    """Class names from Ultralytics metadata ('names': "{0: 'person', ...}" or a list), or None."""
    raw = next((p.value for p in model.metadata_props if p.key == "names"), None)
    if raw is None:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as e:
        raise ExportError(f"{path}: metadata 'names' is not a dict or list literal: {raw[:80]!r}") from e
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise ExportError(f"{path}: metadata 'names' keys must be 0..{len(names) - 1}, got {sorted(names)[:5]}...")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ExportError(f"{path}: metadata 'names' must map class indices to strings, got {raw[:80]!r}")
    return tuple(names)


def inspect(path: str | Path, imgsz: int) -> ModelInfo:
    """Check a YOLO detector ONNX (valid; one image input [N, 3, imgsz, imgsz]; a rank-3 detection
    output) and tell its layout, class count and metadata names. Errors name the file, what was
    expected and what was found."""
    path = Path(path)
    model = load_onnx(path)
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise ExportError(f"{path}: expected one image input, found {len(inputs)}: {[i.name for i in inputs]}")
    shape = _dims(inputs[0])
    if len(shape) != 4 or shape[1] != 3 or any(isinstance(d, int) and d != imgsz for d in shape[2:]):
        raise ExportError(f"{path}: input {inputs[0].name!r} is {shape}; expected [N, 3, {imgsz}, {imgsz}] "
                          f"(model.imgsz={imgsz})")
    refuse_other_tasks(model, path)
    out = _dims(model.graph.output[0])
    if not isinstance(out[1], int) and not isinstance(out[2], int):
        out = _run_shape(path, imgsz)
    names = metadata_names(model, path)
    layout = detection_outputs.check_outputs([(model.graph.output[0].name, out)], str(path),
                                             None if names is None else len(names))
    classes = (out[1] if layout == "v8" else out[2]) - (5 if layout == "v5" else 4)
    return ModelInfo(layout, classes, names)
