"""Real custom-class inputs built from the mirror for tests: a YOLO model sliced by ONNX graph surgery to
keep a few COCO classes, and an Ultralytics data YAML over the mirror's images with labels remapped to
those classes (everything else dropped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import helper, numpy_helper

from yolo_cpu.data import coco

THREE = ("person", "car", "dog")


def slice_classes(src: Path, dest: Path, keep: tuple[str, ...] = THREE) -> Path:
    """A copy of a COCO YOLO model whose output keeps the box rows (and YOLOv5's objectness) and only
    the `keep` classes' score rows, in both layouts: a Gather on the channel axis after the output."""
    model = onnx.load(str(src))
    out = model.graph.output[0]
    dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
    v8 = dims[1] < dims[2]
    lead = 4 if v8 else 5
    idx = list(range(lead)) + [lead + coco.NAMES.index(c) for c in keep]
    axis = 1 if v8 else 2
    raw = out.name + "_80"
    for node in model.graph.node:  # the old output becomes an inner value
        node.output[:] = [raw if o == out.name else o for o in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(idx, np.int64), "keep_classes"))
    model.graph.node.append(
        helper.make_node("Gather", [raw, "keep_classes"], [out.name], axis=axis, name="keep_classes_gather")
    )
    out.type.tensor_type.shape.dim[axis].dim_value = len(idx)
    names = {i: n for i, n in enumerate(keep)}
    for p in model.metadata_props:
        if p.key == "names":
            p.value = repr(names)
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return dest


def remapped_dataset(mirror: Path, root: Path, keep: tuple[str, ...] = THREE) -> Path:
    """An Ultralytics dataset in `root` over every mirror image (symlinks, so names and order match
    the COCO door): labels keep only the `keep` classes, renumbered 0..len(keep)-1; an image left with
    no objects gets no label file. Returns its data YAML (val only)."""
    new = {coco.NAMES.index(c): i for i, c in enumerate(keep)}
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for img in sorted((mirror / "coco" / "images" / "val2017").glob("*.jpg")):
        (root / "images" / "val" / img.name).symlink_to(img)
        lab = mirror / "coco" / "labels" / "val2017" / f"{img.stem}.txt"
        lines = [line.split() for line in (lab.read_text().splitlines() if lab.exists() else []) if line.strip()]
        kept = [" ".join([str(new[int(p[0])]), *p[1:]]) for p in lines if int(p[0]) in new]
        if kept:
            (root / "labels" / "val" / f"{img.stem}.txt").write_text("\n".join(kept) + "\n")
    data = {"path": ".", "val": "images/val", "names": {i: n for i, n in enumerate(keep)}}
    file = root / "data.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    return file


def coco_yaml(mirror: Path, dest: Path) -> Path:
    """COCO val2017 of the mirror as an Ultralytics data YAML (its layout already is one)."""
    dest.write_text(
        yaml.safe_dump(
            {"path": str(mirror / "coco"), "val": "images/val2017", "names": dict(enumerate(coco.NAMES))},
            sort_keys=False,
        )
    )
    return dest
