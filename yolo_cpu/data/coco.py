"""Class names and category ids (COCO's 80 classes with ids 1-90, or a custom dataset's own classes
with ids 0..nc-1), YOLO label parsing and ground-truth JSON."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.errors import UserError

NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
# COCO's category ids (1-90 with gaps) for the 80 contiguous class indices.
CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)




@dataclass(frozen=True)
class Classes:
    """A dataset's classes: names by class index, and the category id each index has in COCO JSON."""

    names: tuple[str, ...]
    ids: tuple[int, ...]

    @classmethod
    def coco(cls) -> "Classes":
        return cls(NAMES, CATEGORY_IDS)

    @classmethod
    def custom(cls, names: list[str] | tuple[str, ...]) -> "Classes":
        """A custom dataset's classes keep their own ids: the class index."""
        return cls(tuple(names), tuple(range(len(names))))

    @classmethod
    def from_gt(cls, gt: dict[str, Any]) -> "Classes":
        """The classes of a ground-truth JSON, in class-index order (its categories' order)."""
        cats = gt["categories"]
        return cls(tuple(c["name"] for c in cats), tuple(c["id"] for c in cats))

    def __len__(self) -> int:
        return len(self.names)

    def categories(self) -> list[dict[str, Any]]:
        return [{"id": cid, "name": name, "supercategory": ""} for cid, name in zip(self.ids, self.names)]


class LabelError(UserError):
    """A YOLO label line that cannot be parsed."""


def parse_labels(path: Path, nc: int = len(NAMES)) -> np.ndarray:
    """YOLO label file -> [K, 5] float array (class, xc, yc, w, h normalised). Missing file: no objects."""
    return parse_label_text(path.read_text() if path.exists() else "", str(path), nc)


def parse_label_text(text: str, source: str, nc: int = len(NAMES)) -> np.ndarray:
    """Parse YOLO label text: 'class xc yc w h' boxes, or 'class x1 y1 x2 y2 x3 y3 ...' polygons
    (Ultralytics segment labels; their bounding box is taken, as Ultralytics does for detection).
    Raises LabelError naming `source` and the line for anything malformed or a class >= nc."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{source}:{n}: {line.strip()[:80]!r}"
        if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
            raise LabelError(f"{where}: expected 'class xc yc w h' (5 fields) or a polygon 'class x1 y1 x2 y2 "
                             f"x3 y3 ...' (an odd number, at least 7), got {len(parts)} fields")
        try:
            vals = [float(p) for p in parts]
        except ValueError as e:
            raise LabelError(f"{where}: not a number ({e})") from e
        if not vals[0].is_integer() or vals[0] < 0:
            raise LabelError(f"{where}: class must be an integer 0-{nc - 1}")
        if vals[0] >= nc:
            raise LabelError(f"{where}: class {int(vals[0])} is outside the {nc} class names (0-{nc - 1})")
        if not all(0.0 <= v <= 1.0 for v in vals[1:]):
            raise LabelError(f"{where}: coordinates must be normalised to [0, 1]")
        if len(parts) > 5:  # polygon -> its bounding box
            xs, ys = vals[1::2], vals[2::2]
            vals = [vals[0], (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
        if vals[3] <= 0 or vals[4] <= 0:
            raise LabelError(f"{where}: box must have positive width and height")
        rows.append(vals)
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def image_id(path: Path) -> int:
    """COCO image id from a file name such as 000000000139.jpg."""
    try:
        return int(Path(path).stem)
    except ValueError as e:
        raise LabelError(f"{path}: file name is not a COCO image id") from e


def gt_from_labels(items: list[tuple[int, str, int, int, np.ndarray]],
                   classes: Classes | None = None) -> dict[str, Any]:
    """COCO ground truth from (image_id, file_name, width, height, yolo_labels) tuples; category ids
    from `classes` (default: COCO's)."""
    classes = classes or Classes.coco()
    images, anns = [], []
    for img_id, fname, w, h, labels in items:
        images.append({"id": img_id, "file_name": fname, "width": w, "height": h})
        for cls, xc, yc, bw, bh in labels:
            box = [(xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h]
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": classes.ids[int(cls)],
                         "bbox": [round(v, 3) for v in box], "area": round(box[2] * box[3], 3), "iscrowd": 0})
    return {"images": images, "annotations": anns, "categories": classes.categories()}


def gt_from_official(official: dict[str, Any], image_ids: list[int]) -> dict[str, Any]:
    """Restrict official COCO instances annotations to `image_ids`; error if any image is missing."""
    wanted = set(image_ids)
    images = [im for im in official["images"] if im["id"] in wanted]
    missing = wanted - {im["id"] for im in images}
    if missing:
        raise UserError(f"official annotations lack {len(missing)} of the {len(wanted)} eval images "
                         f"(e.g. id {min(missing)}); use data.gt_source: labels")
    anns = [a for a in official["annotations"] if a["image_id"] in wanted]
    return {"images": images, "annotations": anns, "categories": official["categories"]}


def restrict_gt(gt: dict[str, Any], class_indices: list[int]) -> dict[str, Any]:
    """Ground truth with only the given classes' (indices into its categories) annotations and categories."""
    ids = Classes.from_gt(gt).ids
    cats = {ids[i] for i in class_indices}
    return {"images": gt["images"], "annotations": [a for a in gt["annotations"] if a["category_id"] in cats],
            "categories": [c for c in gt["categories"] if c["id"] in cats]}
