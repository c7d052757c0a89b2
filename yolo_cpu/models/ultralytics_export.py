"""Optional path for Ultralytics checkpoints: a `.pt` (YOLOv5u/YOLOv8/YOLO11, any class count) or a
model .yaml exported to ONNX by Ultralytics itself, at a fixed batch of 1 or with a dynamic batch; and
the way back, a .pt rebuilt from an Ultralytics ONNX export (to run Ultralytics' own tools on it).

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


def torch_scope(module_name: str) -> str:
    """The ONNX node-name scope torch's exporter gives a module: `model.22.cv2.0.0.conv` ->
    `/model.22/cv2.0/cv2.0.0/conv` (an index joins the name before it; a second index nests)."""
    segments: list[str] = []
    prev_numeric = False
    for part in module_name.split("."):
        if part.isdigit():
            last = segments.pop() if not prev_numeric else segments[-1]
            segments.append(f"{last}.{part}")
        else:
            segments.append(part)
        prev_numeric = part.isdigit()
    return "/" + "/".join(segments)


def pt_from_onnx(onnx_path: Path, architecture: str, dest: Path) -> Path:
    """A float32 Ultralytics .pt carrying the trained weights of an Ultralytics ONNX export: the model
    built from its architecture YAML (e.g. yolov8n.yaml), BatchNorm fused as in the export, and every
    conv's weight and bias copied from the initializers of the ONNX node torch named after it."""
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics import YOLO

    from yolo_cpu.models.model_info import metadata_names

    model = onnx.load(str(onnx_path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    net = YOLO(architecture).model.fuse()
    copied = 0
    for name, m in net.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            node = convs[torch_scope(name) + "/Conv"]
            m.weight.data = torch.from_numpy(init[node.input[1]].copy())
            if len(node.input) > 2:
                m.bias = torch.nn.Parameter(torch.from_numpy(init[node.input[2]].copy()))
            copied += 1
    if copied != len(convs):
        raise ValueError(f"copied {copied} convs of the {len(convs)} in {onnx_path}")
    net.names = dict(enumerate(metadata_names(model, onnx_path)))
    torch.save({"model": net.float(), "train_args": {}}, dest)
    return dest
