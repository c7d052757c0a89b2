"""Optional export path: an Ultralytics checkpoint (.pt) or model yaml exported with dynamic=True.

Needs the export extra (`./dev export-extra`: torch CPU, torchvision, ultralytics)."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

import onnx

from .export import ExportError, RewriteInfo, load_onnx


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def export_checkpoint(checkpoint: str, dest: Path, imgsz: int, work: Path) -> tuple[RewriteInfo, Path]:
    """Export `checkpoint` twice in `work`: dynamic batch (copied to `dest`) and fixed batch 1
    (returned, as the reference for verification)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if not checkpoint:
        raise ExportError("export.method is 'ultralytics' but export.checkpoint is empty "
                          "(give a .pt checkpoint or a model .yaml such as yolov8n.yaml)")
    try:
        from ultralytics import YOLO
    except ImportError as e:
        raise ExportError("export.method: ultralytics needs the export extra: run `./dev export-extra`") from e
    src = Path(checkpoint)
    if src.suffix == ".pt" and not src.is_file():
        raise ExportError(f"export.checkpoint not found: {src}")
    work.mkdir(parents=True, exist_ok=True)
    local = str(src.name)
    if src.is_file():
        shutil.copyfile(src, work / src.name)
    outputs = {}
    with _chdir(work):
        for dynamic in (True, False):
            try:
                out = YOLO(local).export(format="onnx", dynamic=dynamic, imgsz=imgsz, simplify=False, opset=13,
                                         batch=1)
            except Exception as e:
                raise ExportError(f"Ultralytics export of {checkpoint} failed: {e}") from e
            target = work / f"{'dynamic' if dynamic else 'fixed'}.onnx"
            shutil.move(work / out if not Path(out).is_absolute() else out, target)
            outputs[dynamic] = target
    model = load_onnx(outputs[True])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if dims[0].HasField("dim_value"):
        raise ExportError(f"Ultralytics export of {checkpoint} has a fixed batch of {dims[0].dim_value}")
    shutil.copyfile(outputs[True], dest)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    fixed_nodes = len(onnx.load(str(outputs[False])).graph.node)
    return RewriteInfo(True, 0, opset, fixed_nodes), outputs[False]
