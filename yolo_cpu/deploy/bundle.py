"""A bundle: one folder holding a recommended model and the metadata.yaml that tells how to run it
and what it measured. The layout is Ultralytics' own for exported models (an OpenVINO bundle is
named *_openvino_model, so `YOLO(folder)` loads it too); `Detector.open` and `yolo-cpu detect` read it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yolo_cpu.errors import UserError

METADATA = "metadata.yaml"


class BundleError(UserError):
    """A bundle folder without its model or with a metadata.yaml that cannot be used."""


def folder_name(model_name: str, objective: str, runtime: str) -> str:
    """<model>_<objective>_openvino_model (Ultralytics' suffix) or <model>_<objective>_onnx."""
    return f"{model_name}_{objective}_" + ("openvino_model" if runtime == "openvino" else "onnx")


@dataclass(frozen=True)
class Bundle:
    folder: Path
    model: Path
    runtime: str
    precision: str
    batch: int
    conf: float
    iou: float
    metadata: dict[str, Any]


def is_bundle(path: Path) -> bool:
    return path.is_dir() and (path / METADATA).is_file()


def load(folder: Path) -> Bundle:
    """The bundle in `folder`; errors name the folder and what is missing."""
    meta_path = folder / METADATA
    try:
        meta = yaml.safe_load(meta_path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BundleError(f"{meta_path}: cannot read the bundle's metadata ({e})") from e
    if not isinstance(meta, dict):
        raise BundleError(f"{meta_path}: not a mapping")
    run = meta.get("deploy") or {}
    model = folder / str(run.get("model", ""))
    if not run.get("model") or not model.is_file():
        raise BundleError(f"{meta_path}: deploy.model names no file of the bundle ({run.get('model')!r})")
    try:
        return Bundle(
            folder,
            model,
            str(run["runtime"]),
            str(run["precision"]),
            int(meta["batch"]),
            float(run["conf"]),
            float(run["iou"]),
            meta,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{meta_path}: missing or bad key {e}") from e


def ultralytics_keys(
    names: tuple[str, ...], imgsz: int, stride: int, task: str, batch: int, int8: bool
) -> dict[str, Any]:
    """The keys Ultralytics writes in an export's metadata.yaml and reads back when it loads one."""
    return {
        "stride": stride,
        "task": task,
        "batch": batch,
        "imgsz": [imgsz, imgsz],
        "names": dict(enumerate(names)),
        "channels": 3,
        "args": {"batch": batch, "half": False, "int8": int8, "dynamic": False, "nms": False},
    }


def write(folder: Path, model_files: list[Path], metadata: dict[str, Any]) -> None:
    """Copy the model files (an IR's .xml and .bin, or one .onnx) and write metadata.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in model_files:
        shutil.copyfile(f, folder / f.name)
    (folder / METADATA).write_text(yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True))
