"""Optional path for Ultralytics checkpoints: a `.pt` (YOLOv5u/YOLOv8/YOLO11, any class count) or a
model .yaml exported to ONNX by Ultralytics itself, at a fixed batch of 1 or with a dynamic batch.

Needs the export extra (`./dev export-extra`: torch CPU, torchvision, ultralytics)."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from yolo_cpu.models.export import ExportError

OPSET = 13  # per-channel QDQ needs >= 13; the same for the fixed and the dynamic export


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def export_onnx(checkpoint: str | Path, dest: Path, imgsz: int, dynamic: bool, work: Path) -> None:
    """Export `checkpoint` with Ultralytics (working in `work`, so nothing lands beside the
    checkpoint) and write the ONNX to `dest`. Errors name the checkpoint."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    src = Path(checkpoint)
    if src.suffix == ".pt" and not src.is_file():
        raise ExportError(f"checkpoint not found: {src}")
    try:
        from ultralytics import YOLO
    except ImportError as e:
        raise ExportError(f"{src} is an Ultralytics checkpoint: exporting it needs the export extra "
                          "(run `./dev export-extra`), or export it to ONNX yourself and give the .onnx") from e
    work.mkdir(parents=True, exist_ok=True)
    if src.is_file():
        shutil.copyfile(src, work / src.name)
    with _chdir(work):
        try:
            out = YOLO(src.name).export(format="onnx", dynamic=dynamic, imgsz=imgsz, simplify=False, opset=OPSET,
                                        batch=1)
        except Exception as e:
            raise ExportError(f"Ultralytics export of {src} failed: {e}") from e
    shutil.move(Path(out) if Path(out).is_absolute() else work / out, dest)
