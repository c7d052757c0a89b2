"""`yolo-cpu detect`: inputs (files, folders, globs) resolved, the model or bundle opened, one JSON line
per image printed, annotated images saved on request. Needs only the deploy extra."""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from yolo_cpu.deploy import bundle
from yolo_cpu.deploy.detector import DEPLOY_CONF, DEPLOY_IOU, Detector
from yolo_cpu.errors import UserError
from yolo_cpu.runtime.postprocess import Detections
from yolo_cpu.runtime.preprocess import ImageReadError, read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def resolve_inputs(inputs: Sequence[str], skip_bad: bool) -> list[Path]:
    """Files as given, a folder's images (sorted), a glob's matches (sorted). A name that is none of
    these is an error naming it (with skip_bad it is kept, and gets its error record)."""
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise UserError(f"{p}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out += found
        elif p.exists() or not glob.has_magic(raw):
            if not p.exists() and not skip_bad:
                raise UserError(f"{p}: no such file")
            out.append(p)
        else:
            found = sorted(Path(f) for f in glob.glob(raw, recursive=True) if Path(f).is_file())
            if not found:
                raise UserError(f"{raw}: the pattern matches no file")
            out += found
    return out


def open_detector(model: str, a: argparse.Namespace) -> Detector:
    """A Detector for a bundle folder (its settings, overridden by flags) or a model file."""
    path = Path(model)
    settings: dict[str, Any] = {"runtime": "openvino", "precision": "f32", "batch": 1,
                                "conf": DEPLOY_CONF, "iou": DEPLOY_IOU}
    if bundle.is_bundle(path):
        b = bundle.load(path)
        path = b.model
        settings.update(runtime=b.runtime, precision=b.precision, batch=b.batch, conf=b.conf, iou=b.iou)
    elif path.is_dir():
        raise UserError(f"{path}: a folder without {bundle.METADATA} is not a bundle")
    elif not path.is_file():
        raise UserError(f"{path}: no such model (give a bundle folder, an IR .xml or an ONNX)")
    for key in settings:
        if getattr(a, key, None) is not None:
            settings[key] = getattr(a, key)
    if settings["batch"] < 1:
        raise UserError(f"--batch must be at least 1, got {settings['batch']}")
    return Detector(path, **settings)


def record(path: Path, d: Detections | ImageReadError, names: Sequence[str] | None) -> dict[str, Any]:
    """One image's JSON object: Ultralytics' Results.summary() entries, or its error."""
    if isinstance(d, ImageReadError):
        return {"image": str(path), "error": str(d)}
    dets = []
    for box, score, cls in zip(d.boxes.tolist(), d.scores.tolist(), d.classes.tolist()):
        c = int(cls)
        dets.append({"name": names[c] if names and c < len(names) else str(c), "class": c,
                     "confidence": round(score, 5),
                     "box": dict(zip(("x1", "y1", "x2", "y2"), (round(v, 2) for v in box)))})
    return {"image": str(path), "detections": dets}


def save_annotated(path: Path, rec: dict[str, Any], folder: Path) -> None:
    """The image with its boxes and labels drawn, as folder/<name>."""
    import cv2

    img = read_image(path)
    for det in rec["detections"]:
        b = det["box"]
        p1, p2 = (int(b["x1"]), int(b["y1"])), (int(b["x2"]), int(b["y2"]))
        colour = tuple(int(c) for c in np.random.default_rng(det["class"]).integers(64, 256, 3))
        cv2.rectangle(img, p1, p2, colour, 2)
        cv2.putText(img, f"{det['name']} {det['confidence']:.2f}", (p1[0], max(p1[1] - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    out = folder / path.name
    if not cv2.imwrite(str(out), img):
        raise UserError(f"cannot write {out}")


def detect_command(a: argparse.Namespace) -> None:
    paths = resolve_inputs(a.inputs, a.skip_bad)
    save = Path(a.save) if a.save else None
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    with open_detector(a.model, a) as detector:  # closed before exit: no abort at interpreter shutdown
        results = detector.detect(paths, skip_bad=a.skip_bad)
        names = detector.names
    if names is None:
        print("note: the model carries no class names; `name` is the class index", file=sys.stderr)
    for path, d in zip(paths, results):
        rec = record(path, d, names)
        print(json.dumps(rec), flush=False)
        if save is not None and "detections" in rec:
            save_annotated(path, rec, save)
    sys.stdout.flush()
