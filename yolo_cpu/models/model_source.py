"""Where the model comes from (params.yaml model.source): a YOLOv5 release ONNX by name (the mirror or
the public URL), a local .onnx, an Ultralytics .pt checkpoint (exported at batch 1), or a URL to either."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlparse

from yolo_cpu.data import assets
from yolo_cpu.errors import UserError
from yolo_cpu import paths
from yolo_cpu.io import require_file, sha256_file

RELEASE_NAMES = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x")
SUFFIXES = (".onnx", ".pt")


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def check_pin(sha256: str) -> str:
    """The model.sha256 pin, lower case ("" = none); anything but 64 hex digits is an error."""
    if sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UserError(f"params.yaml: model.sha256 = {sha256!r}: must be the 64 hex digits of `sha256sum <model>`, "
                        "or empty")
    return sha256.lower()


def _matches(digest: str, pin: str, what: str) -> str:
    if pin and digest != pin:
        raise UserError(f"{what} has sha256 {digest}, not the pinned model.sha256 {pin}: "
                        "if the new file is the one you mean, pin its sha256")
    return digest


def describe(name: str, source: str, sha256: str = "", net: dict[str, float] | None = None) -> dict[str, str]:
    """The model source as recorded by the inputs stage: the release name, or the file's or URL's bytes
    by sha256 (so replacing them reruns the pipeline), with the pin. A URL is fetched once into the
    download cache (with `net`, the assets params); a .pt from a URL must be pinned, because loading
    it unpickles it, which runs any code it carries."""
    pin = check_pin(sha256)
    if not source:
        if name not in RELEASE_NAMES:
            raise UserError(f"params.yaml: model.name = {name!r} with model.source empty must be a release name "
                            f"{list(RELEASE_NAMES)}; for your own model set model.source to its .onnx or .pt")
        return {"kind": "release", "name": name, "pin": pin}
    suffix = Path(urlparse(source).path if is_url(source) else source).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"params.yaml: model.source = {source!r} must be an .onnx or an Ultralytics .pt "
                        "(a local path or an http(s) URL)")
    if is_url(source):
        if suffix == ".pt" and not pin:
            raise UserError(f"params.yaml: model.source = {source!r} is a .pt from a URL: set model.sha256 to its "
                            "sha256 first. Loading a .pt unpickles it, which runs any code the file carries, so "
                            "only the exact bytes you checked are loaded")
        return {"kind": "url", "url": source, "sha256": fetch_pinned(source, pin, net), "pin": pin}
    path = Path(source)
    if not path.is_file():
        raise UserError(f"params.yaml: model.source = {source!r}: file not found")
    return {"kind": "file", "path": str(path), "sha256": _matches(sha256_file(path), pin, str(path)), "pin": pin}


def fetch_pinned(url: str, pin: str, net: dict[str, float] | None) -> str:
    """sha256 of the URL's bytes in the download cache, fetched when absent or not matching the pin."""
    path = url_cache_path(url)
    if assets.usable_cached(path):
        digest = sha256_file(path)
        if not pin or digest == pin:
            return digest
        print(f"inputs: the cached {path} has sha256 {digest}, not the pinned {pin}: downloading again", flush=True)
    if net is None:
        raise UserError(f"{url} is not downloaded yet (run `dvc repro`, whose inputs stage fetches it)")
    return assets.fetch_url(url, path, **net, sha256=pin, mirror_hint=False)


def verified_checkpoint(source: str, record: dict[str, str] | None) -> Path | None:
    """The local .pt behind model.source, checked against the bytes the inputs stage recorded (and
    pinned) before anything unpickles it; None for an ONNX source."""
    pt = checkpoint(source)
    if pt is None or record is None:
        return pt
    digest = sha256_file(pt)
    if digest != record["sha256"]:
        raise UserError(f"{pt} has sha256 {digest}, not the {record['sha256']} the inputs stage recorded: it changed "
                        "since; run `dvc repro` again (it rechecks the file and any model.sha256 pin)")
    return pt


def recorded_checkpoint(source: str) -> Path | None:
    """verified_checkpoint against the record the inputs stage wrote (data/inputs_checkpoint.json)."""
    record = json.loads(require_file(paths.INPUTS_CHECKPOINT, "the inputs stage's record").read_text())
    return verified_checkpoint(source, record["checkpoint"])


def url_cache_path(url: str) -> Path:
    """Where a model URL is downloaded to: one file per URL under the download cache."""
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return assets.DOWNLOAD_CACHE / f"{tag}-{Path(urlparse(url).path).name}"


def checkpoint(source: str) -> Path | None:
    """The local Ultralytics .pt behind model.source (a URL's downloaded copy), or None for an ONNX source."""
    if Path(urlparse(source).path if is_url(source) else source).suffix.lower() != ".pt":
        return None
    return url_cache_path(source) if is_url(source) else Path(source)


def acquire(name: str, source: str, sha256: str, mirror: assets.Mirror | None, net: dict[str, float], imgsz: int,
            work: Path) -> tuple[Path, str, str]:
    """(ONNX path at batch 1, sha256 of the source file, where it came from). Every source is checked
    against the model.sha256 pin before use; a .pt is exported with Ultralytics into `work`."""
    record = describe(name, source, sha256, net)
    kind, pin = record["kind"], record["pin"]
    if kind == "release":
        path, digest, where = assets.fetch_model(name, mirror, net)
        return path, _matches(digest, pin, f"the {name} release model ({where})"), where
    path = url_cache_path(source) if kind == "url" else Path(source)
    digest = record["sha256"]
    if path.suffix.lower() == ".pt":
        from yolo_cpu.models.ultralytics_export import export_onnx

        onnx_path = work / f"{name}.onnx"
        print(f"download: exporting {path} to ONNX at batch 1 with Ultralytics", flush=True)
        export_onnx(path, onnx_path, imgsz, dynamic=False, work=work / "export")
        return onnx_path, digest, f"{kind} .pt, exported by Ultralytics"
    return path, digest, kind
