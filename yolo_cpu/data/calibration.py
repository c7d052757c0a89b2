"""What both INT8 quantizations calibrate on: the calibration set (images to calibrate on and
held-out check images, selected, decoded and letterboxed once by the calibrate stage through the
one preprocessing path, and read back as model inputs)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.data import dataset
from yolo_cpu.errors import UserError
from yolo_cpu.runtime.preprocess import Letterbox, letterbox, read_image, to_tensor

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


class CalibrationError(UserError):
    """A calibration split or set that cannot serve: too few images, missing, another size."""


def split_calibration(calib_dir: Path, images: int, check_images: int, section: str) -> tuple[list[Path], list[Path]]:
    """(images to calibrate on, held-out check images) from the calibration split: the last
    `check_images` are held out, the first `images` of the rest calibrate. Warns when fewer exist."""
    paths = dataset.load_split(calib_dir)
    if len(paths) <= check_images:
        raise CalibrationError(
            f"calibration split {calib_dir} has {len(paths)} images; need more than "
            f"{section}.check_images={check_images} (raise data.calib_images)"
        )
    held_out, pool = paths[-check_images:], paths[:-check_images]
    if images > len(pool):
        warnings.warn(
            f"{section}.calibration_images={images} > {len(pool)} calibration images available "
            f"(after {check_images} held out); using {len(pool)}",
            stacklevel=2,
        )
    return pool[:images], held_out


MANIFEST = "manifest.json"


def prepare(calib_dir: Path, images: int, check_images: int, size: int, normalize: str, out: Path) -> dict[str, Any]:
    """The calibrate stage's work: select the images (split_calibration), decode and letterbox each
    once (a corrupt image raises naming its file) into out/calibration.npy and out/held_out.npy (uint8,
    N x size x size x 3, BGR) with out/manifest.json (file names, letterboxes, size, normalize).
    Returns the manifest."""
    used, held_out = split_calibration(calib_dir, images, check_images, "calibration")
    manifest: dict[str, Any] = {"imgsz": size, "normalize": normalize, "calib_dir": str(calib_dir)}
    for part, files in (("calibration", used), ("held_out", held_out)):
        boxed = [letterbox(read_image(f), size) for f in files]
        np.save(out / f"{part}.npy", np.stack([b[0] for b in boxed]))
        manifest[part] = [f.name for f in files]
        manifest[f"{part}_letterboxes"] = [[b[1].gain, b[1].pad_x, b[1].pad_y, b[1].orig_h, b[1].orig_w] for b in boxed]
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@dataclass
class CalibrationSet:
    """What the calibrate stage wrote, as model inputs: one [1, 3, size, size] float32 array per
    calibration image (normalized as the manifest says), the held-out images (uint8 letterboxed,
    turned into model input batch by batch) with their letterboxes, and the held-out files (for their
    labels)."""

    inputs: list[np.ndarray]
    held_out_images: np.ndarray
    held_out_letterboxes: list[Letterbox]
    held_out_files: list[Path]

    def held_out_batches(self, batch: int, limit: int | None = None) -> Iterator[tuple[np.ndarray, list[Letterbox]]]:
        """(model input, letterboxes) of the first `limit` (all when None) held-out images, `batch` at a time."""
        n = len(self.held_out_files) if limit is None else min(limit, len(self.held_out_files))
        for i in range(0, n, batch):
            j = min(i + batch, n)
            yield to_tensor(list(self.held_out_images[i:j])), self.held_out_letterboxes[i:j]


def manifest(folder: Path) -> dict[str, Any]:
    """The calibrate stage's manifest (file names, letterboxes, size, normalize); an error names the
    folder when it is missing."""
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise CalibrationError(f"calibration set {folder} is missing: run `dvc repro calibrate`")
    return json.loads(mpath.read_text())


def load(folder: Path, size: int) -> CalibrationSet:
    """The calibrate stage's output as model inputs; an error names the folder when it is missing,
    for another input size, or its arrays disagree with its manifest."""
    mpath, m = folder / MANIFEST, manifest(folder)
    if m["imgsz"] != size:
        raise CalibrationError(
            f"calibration set {folder} was letterboxed to {m['imgsz']}, not model.imgsz={size}: "
            "run `dvc repro calibrate`"
        )
    arrays = {part: np.load(folder / f"{part}.npy", mmap_mode="r") for part in ("calibration", "held_out")}
    for part, a in arrays.items():
        if a.shape != (len(m[part]), size, size, 3) or a.dtype != np.uint8:
            raise CalibrationError(
                f"{folder / (part + '.npy')} holds {a.dtype} {a.shape}, not the "
                f"{len(m[part])} images of {mpath}: run `dvc repro calibrate`"
            )
    inputs = [normalized(to_tensor([np.asarray(img)]), m["normalize"]) for img in arrays["calibration"]]
    return CalibrationSet(
        inputs,
        np.asarray(arrays["held_out"]),
        [Letterbox(*lb) for lb in m["held_out_letterboxes"]],
        [Path(m["calib_dir"]) / "images" / f for f in m["held_out"]],
    )


def calibration_inputs(images: list[Path], size: int, normalize: str) -> list[np.ndarray]:
    """Image files -> one [1, 3, size, size] float32 model input each, through the shared
    preprocessing (for probes and tests that calibrate on files of their own)."""
    return [normalized(to_tensor([letterbox(read_image(p), size)[0]]), normalize) for p in images]


def normalized(x: np.ndarray, normalize: str) -> np.ndarray:
    """normalize='imagenet' (deliberately wrong for YOLO) exists only to measure what a preprocessing
    mismatch costs; 'none' leaves the shared preprocessing's [0, 1] input as it is."""
    return (x - IMAGENET_MEAN) / IMAGENET_STD if normalize == "imagenet" else x
