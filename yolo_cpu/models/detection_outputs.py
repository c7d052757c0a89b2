"""Is a model a YOLO object detector? Told from what every runtime can read without running it: the
metadata's `task` and the output shapes. Segmentation, pose, OBB and classification exports are
refused, since their output rows hold mask coefficients or keypoints that would be read as classes.
Needs no package beyond the deploy extra: the pipeline (ONNX protos) and the Detector (OpenVINO and
ONNX Runtime models) both call it with plain shapes."""
from __future__ import annotations

from typing import Sequence

from yolo_cpu.errors import UserError

LAYOUTS = {"v5": "YOLOv5 [N, anchors, 5 + classes]", "v8": "YOLOv8/YOLO11 [N, 4 + classes, anchors]"}
OTHER_TASKS = {"segment": "instance segmentation", "pose": "pose (keypoints)", "obb": "oriented boxes",
               "classify": "classification"}
Shape = Sequence["int | str | None"]  # an int where static; a name, '?' or None where dynamic


class NotADetectorError(UserError):
    """A model whose task or outputs are not those of a YOLO object detector."""


def refuse_task(task: str | None, where: str) -> None:
    """A model whose metadata names another task than 'detect' is refused, naming the task."""
    if task is not None and task != "detect":
        raise NotADetectorError(
            f"{where}: its metadata says task {task!r} ({OTHER_TASKS.get(task, 'not detection')}); this tool runs "
            "object detectors (task 'detect'): give the detection model (e.g. yolov8n.pt, not yolov8n-seg.pt or "
            "yolov8n-pose.pt)")


def layout(shape: Shape) -> tuple[str, int | None]:
    """(layout, channels) of a rank-3 output: the channel axis is the static one, or the smaller of two;
    channels None when both axes are dynamic."""
    a, c = shape[1], shape[2]
    if isinstance(a, int) and isinstance(c, int):
        return ("v8", a) if a < c else ("v5", c)
    if isinstance(a, int):
        return "v8", a
    return ("v5", c) if isinstance(c, int) else ("v8", None)


def check_outputs(outputs: Sequence[tuple[str, Shape]], where: str, classes: int | None = None) -> str:
    """The layout of a detector's first output; NotADetectorError naming what the outputs are instead.

    outputs: (name, shape) of every output, in order; classes: the class count the metadata names, when
    it names any (a detector has 4 + classes channels, or 5 + classes with YOLOv5's objectness)."""
    if not outputs:
        raise NotADetectorError(f"{where}: the model has no outputs")
    name, shape = outputs[0]
    protos = [(n, s) for n, s in outputs[1:] if len(s) == 4]
    if protos:
        raise NotADetectorError(f"{where}: its second output {protos[0][0]!r} {list(protos[0][1])} is a segmentation "
                                "model's mask prototypes; this tool runs object detectors (one detection output)")
    expected = f"a YOLO detector's output is {LAYOUTS['v5']} or {LAYOUTS['v8']}"
    if len(shape) != 3:
        what = " (a classifier's scores)" if len(shape) == 2 else ""
        raise NotADetectorError(f"{where}: output {name!r} is {list(shape)}{what}; {expected}")
    kind, channels = layout(shape)
    if channels is None:
        return kind
    if channels < 5:
        raise NotADetectorError(f"{where}: output {name!r} is {list(shape)}: {channels} channels leave no class "
                                f"scores; {expected}")
    want = None if classes is None else classes + (5 if kind == "v5" else 4)
    if want is not None and channels != want:
        raise NotADetectorError(
            f"{where}: output {name!r} is {list(shape)}, {channels} channels, but its metadata names {classes} "
            f"classes, for which a {LAYOUTS[kind].split(' [')[0]} detector has {want}: the other channels are another "
            "task's (mask coefficients, keypoints or angles), or the names are not this model's")
    return kind
