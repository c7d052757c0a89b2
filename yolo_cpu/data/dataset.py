"""Seeded, disjoint eval/calibration splits with labels, a COCO ground-truth JSON, a class subset,
and loading a split's images."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from yolo_cpu.data import coco
from yolo_cpu.data.data_yaml import IMAGE_SUFFIXES, YamlSource
from yolo_cpu.errors import UserError
from yolo_cpu.runtime.preprocess import ImageReadError, decode_image, read_image


class Source(Protocol):
    image_names: list[str]
    val_names: list[str]  # evaluation pool
    train_names: list[str] | None  # calibration pool, when the dataset has one apart from val

    def read_image(self, name: str) -> bytes: ...
    def read_label(self, stem: str) -> str | None: ...
    def origin(self, name: str) -> str: ...
    def label_file(self, stem: str) -> str: ...
    def read_official(self) -> tuple[str, bytes] | None: ...


class SplitError(UserError):
    """A split request the source cannot satisfy."""


def choose_split(names: list[str], eval_n: int, calib_n: int, seed: int) -> tuple[list[str], list[str]]:
    """Seeded disjoint draw: eval first, calibration next, so changing calib_n keeps the eval set."""
    if eval_n + calib_n > len(names):
        raise SplitError(f"asked for data.eval_images={eval_n} + data.calib_images={calib_n} = "
                         f"{eval_n + calib_n} images, but the source has only {len(names)}")
    perm = np.random.default_rng(seed).permutation(len(names))
    pick = [sorted(names)[i] for i in perm[: eval_n + calib_n]]
    return sorted(pick[:eval_n]), sorted(pick[eval_n:])


def plan_split(source: Source, eval_n: int, calib_n: int, seed: int) -> tuple[list[str], list[str], str]:
    """(eval names, calibration names, the pool calibration came from: 'train' or 'val').

    With train images (a data YAML that has them), evaluation draws up to eval_n of the val images and
    calibration up to calib_n of the train images. Otherwise both come from val, disjoint (choose_split);
    a data YAML's eval split is then capped at what calibration leaves."""
    if source.train_names:
        val, train = source.val_names, source.train_names
        ev = np.random.default_rng(seed).permutation(len(val))[: min(eval_n, len(val))]
        ca = np.random.default_rng(seed).permutation(len(train))[: min(calib_n, len(train))]
        return sorted(val[i] for i in ev), sorted(train[i] for i in ca), "train"
    pool = source.val_names
    if isinstance(source, YamlSource) and eval_n + calib_n > len(pool):  # a data YAML: cap eval
        if len(pool) - calib_n < 1:
            raise SplitError(f"the dataset's val has {len(pool)} images and no train images: too few for "
                             f"data.calib_images={calib_n} calibration images plus evaluation (lower "
                             "data.calib_images, or give train images in the data YAML)")
        eval_n = len(pool) - calib_n
    ev, ca = choose_split(pool, eval_n, calib_n, seed)
    return ev, ca, "val"


def choose_subset(size: int, seed: int, explicit: list[str], names: tuple[str, ...]) -> list[str]:
    """The class subset: the explicit names (checked against `names`), or min(size, classes) names
    drawn with `seed`."""
    if explicit:
        bad = [n for n in explicit if n not in names]
        if bad:
            raise SplitError(f"params.yaml: eval.class_subset_names has unknown class {bad[0]!r} "
                             f"(the dataset's classes: {list(names)[:10]}{'...' if len(names) > 10 else ''})")
        return list(dict.fromkeys(explicit))
    idx = np.sort(np.random.default_rng(seed).choice(len(names), min(size, len(names)), replace=False))
    return [names[i] for i in idx]


@dataclass
class SplitResult:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    gt_items: list[tuple[int, str, int, int, np.ndarray]] = field(default_factory=list)
    objects: int = 0
    without_labels: int = 0  # images with no label file: "no objects", as COCO has
    content: "hashlib._Hash" = field(default_factory=hashlib.sha256)  # image names + label bytes

    @property
    def sha256(self) -> str:
        """Content hash of the split (each image's name and label bytes, in order): any change to
        which images it holds or to their labels changes it."""
        return self.content.hexdigest()


def read_item(source: Source, name: str, nc: int) -> tuple[bytes, np.ndarray, str | None, np.ndarray]:
    """(image bytes, decoded image, label text or None, parsed labels) of one image; a corrupt image
    or a malformed label raises, naming its file."""
    data = source.read_image(name)
    img = decode_image(data, source.origin(name))
    label = source.read_label(Path(name).stem)
    return data, img, label, coco.parse_label_text(label or "", source.label_file(Path(name).stem), nc)


def write_split(source: Source, names: list[str], out_dir: Path, bad_input: str, desc: str,
                nc: int = len(coco.NAMES)) -> SplitResult:
    """Copy images and labels into out_dir/images and out_dir/labels, validating each (classes 0..nc-1).

    A corrupt image or malformed label raises (naming the file), or with bad_input=skip is left out
    and counted."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    res = SplitResult()
    for name in tqdm(names, desc=desc, unit="img"):
        stem = Path(name).stem
        try:
            data, img, label, labels = read_item(source, name, nc)
            label_text = label or ""
        except (ImageReadError, coco.LabelError) as e:
            if bad_input == "error":
                raise
            res.skipped.append(f"{name}: {e}")
            continue
        (out_dir / "images" / name).write_bytes(data)
        (out_dir / "labels" / f"{stem}.txt").write_text(label_text)
        h, w = img.shape[:2]
        res.gt_items.append((coco.image_id(Path(name)), name, w, h, labels))
        res.objects += len(labels)
        res.without_labels += label is None
        res.content.update(f"{name}\0{label_text}\0".encode())
        res.written.append(name)
    return res


def build_ground_truth(res: SplitResult, source: Source, gt_source: str, classes: coco.Classes) -> dict[str, Any]:
    """COCO GT for the eval split: from the official annotations, or built from YOLO labels."""
    if gt_source == "labels":
        return coco.gt_from_labels(res.gt_items, classes)
    found = source.read_official()
    if found is None:
        raise SplitError("data.gt_source: official, but the source has no official instances annotations")
    name, raw = found
    try:
        official = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SplitError(f"{name} is not valid JSON (truncated or corrupt?): {e}") from e
    return coco.gt_from_official(official, [it[0] for it in res.gt_items])


def load_split(split_dir: Path, limit: int | None = None) -> list[Path]:
    """Image paths of a split (sorted); error if the split is empty."""
    imgs = sorted(p for p in (Path(split_dir) / "images").iterdir() if p.suffix in IMAGE_SUFFIXES) \
        if (Path(split_dir) / "images").is_dir() else []
    if not imgs:
        raise SplitError(f"split {split_dir} has no images (run `dvc repro download`)")
    return imgs[:limit] if limit else imgs


def load_images(paths: list[Path], bad_input: str = "error") -> tuple[list[np.ndarray], list[Path], list[str]]:
    """Decode images; corrupt ones raise, or are skipped and reported when bad_input=skip."""
    imgs, kept, skipped = [], [], []
    for p in paths:
        try:
            imgs.append(read_image(p))
            kept.append(p)
        except ImageReadError as e:
            if bad_input == "error":
                raise
            skipped.append(str(e))
    return imgs, kept, skipped


def sample_batch(kind: str, n: int, size: int, split_dir: Path, seed: int = 0) -> np.ndarray:
    """A benchmark input of n images: real preprocessed images of a split (repeated if it has fewer),
    or seeded random values (kind='random')."""
    from yolo_cpu.runtime.preprocess import preprocess

    if kind == "random":
        return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)
    paths = load_split(split_dir)
    imgs, _, _ = load_images([paths[i % len(paths)] for i in range(n)])
    return preprocess(imgs, size)[0]


def write_originals(source: Source, names: list[str], out_dir: Path) -> None:
    """For a data YAML, `originals.tsv` in the split folder: each synthetic image name and its original file."""
    if isinstance(source, YamlSource):
        (out_dir / "originals.tsv").write_text("".join(f"{n}\t{source.origin(n)}\n" for n in names))
