"""`yolo-cpu detect`: inputs (files, folders, globs) resolved, the model or bundle opened, one JSON line
per image printed, annotated images saved on request. Needs only the deploy extra."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.deploy import bundle
from yolo_cpu.deploy.detector import DEPLOY_CONF, DEPLOY_IOU, Detector
from yolo_cpu.errors import Interrupted, UserError
from yolo_cpu.io import atomic_path
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


def open_detector(model: str, a: argparse.Namespace, images: int) -> Detector:
    """A Detector for a bundle folder (its settings, overridden by flags) or a model file; its batch
    never larger than the number of images."""
    path = Path(model)
    settings: dict[str, Any] = {
        "runtime": "openvino",
        "precision": "f32",
        "batch": 1,
        "conf": DEPLOY_CONF,
        "iou": DEPLOY_IOU,
    }
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
    settings["batch"] = max(1, min(settings["batch"], images))  # a larger batch only pads with blank images
    return Detector(path, **settings)


def record(path: Path, d: Detections | ImageReadError, names: Sequence[str] | None) -> dict[str, Any]:
    """One image's JSON object: Ultralytics' Results.summary() entries, or its error."""
    if isinstance(d, ImageReadError):
        return {"image": str(path), "error": str(d)}
    dets = []
    for box, score, cls in zip(d.boxes.tolist(), d.scores.tolist(), d.classes.tolist()):
        c = int(cls)
        dets.append(
            {
                "name": names[c] if names and c < len(names) else str(c),
                "class": c,
                "confidence": round(score, 5),
                "box": dict(zip(("x1", "y1", "x2", "y2"), (round(v, 2) for v in box))),
            }
        )
    return {"image": str(path), "detections": dets}


def save_targets(paths: Sequence[Path], folder: Path, overwrite: bool) -> dict[Path, Path]:
    """{input: where its annotated copy goes}: each input's path below the inputs' common folder,
    placed under `folder`, so two inputs never share a name. Checked before any work: a target that
    is one of the inputs (the same folder, a parent of it, through a symlink or a hard link) is
    refused always, an existing file unless `overwrite`, and so is a folder that cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--save {folder}: is a file, not a folder")
    files = list(dict.fromkeys(Path(os.path.abspath(p)) for p in paths if p.is_file()))
    if not files:
        return {}
    base = Path(os.path.commonpath([f.parent for f in files]))
    targets = {f: folder / f.relative_to(base) for f in files}
    inputs = {(s.st_dev, s.st_ino): f for f in files for s in [f.stat()]}
    for f, t in targets.items():
        if not t.exists():
            continue
        st = t.stat()
        if (st.st_dev, st.st_ino) in inputs:
            raise UserError(
                f"--save {folder} would write over the input {inputs[st.st_dev, st.st_ino]} "
                f"(as {t}): save into a folder outside the inputs"
            )
        if not overwrite:
            raise UserError(
                f"--save {folder}: {t} exists already (the annotated copy of {f}); choose an empty "
                "folder, or add --overwrite to replace files there (inputs are never replaced)"
            )
    try:
        for t in dict.fromkeys(t.parent for t in targets.values()):
            t.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--save {folder}: cannot make the folder {e.filename or folder}: {e.strerror}") from e
    return {p: targets[Path(os.path.abspath(p))] for p in paths if p.is_file()}


def save_annotated(path: Path, rec: dict[str, Any], out: Path) -> None:
    """The image with its boxes and labels drawn, written atomically to `out` (same format as the input)."""
    import cv2

    img = read_image(path)
    for det in rec["detections"]:
        b = det["box"]
        p1, p2 = (int(b["x1"]), int(b["y1"])), (int(b["x2"]), int(b["y2"]))
        colour = tuple(int(c) for c in np.random.default_rng(det["class"]).integers(64, 256, 3))
        cv2.rectangle(img, p1, p2, colour, 2)
        cv2.putText(
            img,
            f"{det['name']} {det['confidence']:.2f}",
            (p1[0], max(p1[1] - 4, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            colour,
            1,
            cv2.LINE_AA,
        )
    ok, encoded = cv2.imencode(out.suffix or ".jpg", img)
    if not ok:
        raise UserError(f"cannot encode the annotated copy of {path} as {out.suffix}")
    try:
        with atomic_path(out) as tmp:
            tmp.write_bytes(encoded.tobytes())
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from e


def detect_command(a: argparse.Namespace) -> None:
    """Detections printed as JSON lines in input order as they complete; on Ctrl-C, what is done
    stays printed and a note says how many images that is."""
    paths = resolve_inputs(a.inputs, a.skip_bad)
    targets = save_targets(paths, Path(a.save), a.overwrite) if a.save else {}
    done = 0
    with open_detector(a.model, a, len(paths)) as detector:  # closed before exit: no abort at shutdown
        if detector.names is None:
            print("note: the model carries no class names; `name` is the class index", file=sys.stderr)
        try:
            with contextlib.closing(detector.stream(paths, skip_bad=a.skip_bad)) as results:
                for path, d in zip(paths, results):
                    rec = record(path, d, detector.names)
                    if path in targets and "detections" in rec:
                        save_annotated(path, rec, targets[path])
                    print(json.dumps(rec), flush=True)
                    done += 1
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: {done} of {len(paths)} images done (their lines are above)") from None
