"""Where the model comes from (params.yaml model.source): a YOLOv5 release ONNX by name (the mirror or
the public URL), a local .onnx, an Ultralytics .pt checkpoint (exported at batch 1), or a URL to either."""
from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

from yolo_cpu.data import assets
from yolo_cpu.errors import UserError
from yolo_cpu.io import sha256_file

RELEASE_NAMES = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x")
SUFFIXES = (".onnx", ".pt")


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def describe(name: str, source: str) -> dict[str, str]:
    """The model source as recorded by the inputs stage: the release name, the URL, or a local file
    with its sha256 (so replacing the file at the same path reruns the pipeline)."""
    if not source:
        if name not in RELEASE_NAMES:
            raise UserError(f"params.yaml: model.name = {name!r} with model.source empty must be a release name "
                            f"{list(RELEASE_NAMES)}; for your own model set model.source to its .onnx or .pt")
        return {"kind": "release", "name": name}
    suffix = Path(urlparse(source).path if is_url(source) else source).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"params.yaml: model.source = {source!r} must be an .onnx or an Ultralytics .pt "
                        "(a local path or an http(s) URL)")
    if is_url(source):
        return {"kind": "url", "url": source}
    path = Path(source)
    if not path.is_file():
        raise UserError(f"params.yaml: model.source = {source!r}: file not found")
    return {"kind": "file", "path": str(path), "sha256": sha256_file(path)}


def url_cache_path(url: str) -> Path:
    """Where a model URL is downloaded to: one file per URL under the download cache."""
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return assets.DOWNLOAD_CACHE / f"{tag}-{Path(urlparse(url).path).name}"


def checkpoint(source: str) -> Path | None:
    """The local Ultralytics .pt behind model.source (a URL's downloaded copy), or None for an ONNX source."""
    if Path(urlparse(source).path if is_url(source) else source).suffix.lower() != ".pt":
        return None
    return url_cache_path(source) if is_url(source) else Path(source)


def acquire(name: str, source: str, mirror: assets.Mirror | None, net: dict[str, float], imgsz: int,
            work: Path) -> tuple[Path, str, str]:
    """(ONNX path at batch 1, sha256 of the source file, where it came from). A .pt is exported with
    Ultralytics into `work`."""
    kind = describe(name, source)["kind"]
    if kind == "release":
        return assets.fetch_model(name, mirror, net)
    path = Path(source)
    if kind == "url":
        path = url_cache_path(source)
        digest = sha256_file(path) if path.is_file() else assets.fetch_url(source, path, **net)
    else:
        digest = sha256_file(path)
    if path.suffix.lower() == ".pt":
        from yolo_cpu.models.ultralytics_export import export_onnx

        onnx_path = work / f"{name}.onnx"
        print(f"download: exporting {path} to ONNX at batch 1 with Ultralytics", flush=True)
        export_onnx(path, onnx_path, imgsz, dynamic=False, work=work / "export")
        return onnx_path, digest, f"{kind} .pt, exported by Ultralytics"
    return path, digest, kind
