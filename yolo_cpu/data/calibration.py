"""What both INT8 quantizations share: the calibration split (images to calibrate on and held-out
check images), calibration inputs through the one preprocessing path, the detect-head scope kept
float, and the INT8-against-FP32 agreement check."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from yolo_cpu.data import dataset
from yolo_cpu.errors import UserError
from yolo_cpu.runtime.postprocess import match_rate, postprocess
from yolo_cpu.runtime.preprocess import preprocess, read_image
from yolo_cpu.runtime.runtimes import Runtime

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


class QuantizeError(UserError):
    """Bad calibration input or a head scope that matched nothing."""


def split_calibration(calib_dir: Path, images: int, check_images: int, section: str) -> tuple[list[Path], list[Path]]:
    """(images to calibrate on, held-out check images) from the calibration split: the last
    `check_images` are held out, the first `images` of the rest calibrate. Warns when fewer exist."""
    paths = dataset.load_split(calib_dir)
    if len(paths) <= check_images:
        raise QuantizeError(f"calibration split {calib_dir} has {len(paths)} images; need more than "
                            f"{section}.check_images={check_images} (raise data.calib_images)")
    held_out, pool = paths[-check_images:], paths[:-check_images]
    if images > len(pool):
        warnings.warn(f"{section}.calibration_images={images} > {len(pool)} calibration images available "
                      f"(after {check_images} held out); using {len(pool)}", stacklevel=2)
    return pool[:images], held_out


def calibration_input(path: Path, size: int, normalize: str) -> np.ndarray:
    """Image path -> [1, 3, size, size] float32 through the shared preprocessing; normalize='imagenet'
    (deliberately wrong for YOLO) exists only to measure what a preprocessing mismatch costs."""
    x, _ = preprocess([read_image(path)], size)
    if normalize == "imagenet":
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return x


def calibration_inputs(images: list[Path], size: int, normalize: str) -> list[np.ndarray]:
    """Every calibration image decoded and preprocessed once (about 4.9 MB each at 640), so the
    quantizer's several passes reuse them; a corrupt image raises naming its file."""
    return [calibration_input(p, size, normalize) for p in images]


def head_index(node_names: Iterable[str]) -> int:
    """Index N of the detect head: the last `/model.N/` module in the graph."""
    idx = [int(m.group(1)) for n in node_names if (m := re.match(r"^/model\.(\d+)/", n))]
    if not idx:
        raise QuantizeError("no '/model.N/' node names found: cannot locate the detect head")
    return max(idx)


def head_patterns(node_names: Iterable[str], include_convs: bool) -> list[str]:
    """Regexes for the detect head's decode arithmetic (ops directly under /model.N/: sigmoid, mul,
    add, pow, concat, ...), a YOLOv8/YOLO11 head's DFL (reshape, softmax, the fixed 1x1 conv), and
    optionally the head's final 1x1 convolutions (YOLOv5: m.i; YOLOv8/11: cv2.i.2 boxes, cv3.i.2 classes).
    Node names are the same in static and dynamic exports, ONNX and OpenVINO (which may add suffixes)."""
    names = list(node_names)
    n = head_index(names)
    pats = [rf"^/model\.{n}/[^/]+$"]
    dfl = any(x.startswith(f"/model.{n}/dfl/") for x in names)
    if dfl:
        pats.append(rf"^/model\.{n}/dfl/")
    if include_convs:
        pats.append(rf"^/model\.{n}/cv[23]\.\d+/cv[23]\.\d+\.2/Conv" if dfl else rf"^/model\.{n}/.*Conv.*$")
    return pats


def matching(node_names: Iterable[str], patterns: list[str]) -> list[str]:
    rx = [re.compile(p) for p in patterns]
    return [n for n in node_names if any(r.match(n) for r in rx)]


LOW_AGREEMENT = 0.5


def agreement(reference: Runtime, quantized: Runtime, held_out: list[Path], size: int) -> float:
    """Share of the reference model's detections (conf 0.25) that the INT8 model matches at IoU 0.5
    on the held-out calibration images; below LOW_AGREEMENT a warning says the INT8 model is broken."""
    imgs, _, _ = dataset.load_images(held_out)
    x, lbs = preprocess(imgs, size)
    rate = match_rate(postprocess(reference.infer(x), lbs), postprocess(quantized.infer(x), lbs))
    if rate < LOW_AGREEMENT:
        warnings.warn(f"the INT8 model {quantized.model_path} finds only {rate:.0%} of the FP32 model's detections "
                      "on the held-out calibration images: it is broken (is the detect head quantized? see "
                      "ignore_head)", stacklevel=2)
    return rate
