"""Where the model and COCO files come from: an offline mirror (checked against its SHA256SUMS)
or the public release URLs (streamed, retried, checksummed). The bytes are the same either way."""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .errors import UserError
from .io import atomic_path, sha256_file

MIRROR_ENV = "YOLO_ASSETS_MIRROR"
MODEL_URL = "https://github.com/ultralytics/yolov5/releases/download/v7.0/{name}.onnx"
COCO_IMAGES_URL = "http://images.cocodataset.org/zips/val2017.zip"
COCO_LABELS_URL = "https://github.com/ultralytics/assets/releases/download/v0.0.0/coco2017labels.zip"
COCO_ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2017.zip"
DOWNLOAD_CACHE = Path("downloads")

MIRROR_MODEL = "models/{name}.onnx"
MIRROR_IMAGES = "coco/images/val2017"
MIRROR_LABELS = "coco/labels/val2017"
MIRROR_ANNOTATIONS = "coco/annotations"


class AssetError(UserError):
    """A download or mirror file that failed; the message names the URL or file."""


def fetch_url(url: str, dest: Path, timeout_s: float, retries: int) -> str:
    """Stream `url` to `dest` through a temp file with a progress bar; return its sha256.

    A failed download leaves nothing behind."""
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            with atomic_path(dest, ".partial") as tmp:
                with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(tmp, "wb") as out:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                        while chunk := resp.read(1 << 20):
                            out.write(chunk)
                            bar.update(len(chunk))
            return sha256_file(dest)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            last = e
            if attempt < retries:
                time.sleep(min(2**attempt, 10))
    raise AssetError(
        f"download failed after {retries + 1} attempts: {url} ({last}). Without internet, point "
        f"{MIRROR_ENV}=/path/to/mirror (or params.yaml assets.mirror) at a folder laid out like "
        "../shared/assets (see README)"
    )


@dataclass
class Mirror:
    """An offline mirror folder with a SHA256SUMS file (paths relative to the folder)."""

    root: Path
    sums: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, param_path: str) -> "Mirror | None":
        """The mirror named by $YOLO_ASSETS_MIRROR, else by the param; None when neither exists."""
        chosen = os.environ.get(MIRROR_ENV) or param_path
        if not chosen:
            return None
        root = Path(chosen).expanduser()
        if not root.is_dir():
            if os.environ.get(MIRROR_ENV):
                raise AssetError(f"{MIRROR_ENV}={chosen} is not a folder")
            return None
        sums_file = root / "SHA256SUMS"
        if not sums_file.is_file():
            raise AssetError(f"mirror {root} has no SHA256SUMS file")
        sums = {}
        for line in sums_file.read_text().splitlines():
            if line.strip():
                digest, rel = line.split(maxsplit=1)
                sums[rel.strip().lstrip("*")] = digest
        return cls(root.resolve(), sums)

    def has(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def verified(self, rel: str) -> tuple[Path, str]:
        """Path of a mirror file and its sha256, after checking it against SHA256SUMS."""
        path = self.root / rel
        if rel not in self.sums:
            raise AssetError(f"mirror file {path} is not listed in {self.root / 'SHA256SUMS'}")
        digest = sha256_file(path)
        if digest != self.sums[rel]:
            raise AssetError(f"checksum mismatch for mirror file {path}: sha256 {digest}, "
                             f"SHA256SUMS says {self.sums[rel]} (corrupt or altered file)")
        return path, digest

    def list_dir(self, rel: str, pattern: str) -> list[str]:
        return sorted(f"{rel}/{p.name}" for p in (self.root / rel).glob(pattern))


def fetch_model(name: str, mirror: Mirror | None, timeout_s: float, retries: int) -> tuple[Path, str, str]:
    """(path, sha256, source) of the release ONNX for `name`, from the mirror when it has it."""
    rel = MIRROR_MODEL.format(name=name)
    if mirror is not None and mirror.has(rel):
        path, digest = mirror.verified(rel)
        return path, digest, "mirror"
    url = MODEL_URL.format(name=name)
    dest = DOWNLOAD_CACHE / f"{name}.onnx"
    digest = sha256_file(dest) if dest.is_file() else fetch_url(url, dest, timeout_s, retries)
    return dest, digest, "url"


def fetch_coco_zips(timeout_s: float, retries: int, official: bool) -> dict[str, Path]:
    """Download (once, into downloads/) the COCO val2017 image zip and the YOLO labels zip."""
    urls = {"images": COCO_IMAGES_URL, "labels": COCO_LABELS_URL}
    if official:
        urls["annotations"] = COCO_ANNOTATIONS_URL
    out = {}
    for key, url in urls.items():
        dest = DOWNLOAD_CACHE / Path(url).name
        if not dest.is_file():
            fetch_url(url, dest, timeout_s, retries)
        out[key] = dest
    return out


class ZipSource:
    """COCO val2017 files read from the downloaded zips (online path)."""

    def __init__(self, zips: dict[str, Path]) -> None:
        self.images = zipfile.ZipFile(zips["images"])
        self.labels = zipfile.ZipFile(zips["labels"])
        self.annotations = zipfile.ZipFile(zips["annotations"]) if "annotations" in zips else None
        self.image_names = sorted(n.split("/")[-1] for n in self.images.namelist() if n.endswith(".jpg"))
        self.label_names = {n.split("/")[-1]: n for n in self.labels.namelist()
                            if "labels/val2017/" in n and n.endswith(".txt")}

    def read_image(self, name: str) -> bytes:
        return self.images.read(f"val2017/{name}")

    def read_label(self, stem: str) -> str | None:
        member = self.label_names.get(f"{stem}.txt")
        return None if member is None else self.labels.read(member).decode()

    def read_official(self) -> bytes | None:
        return None if self.annotations is None else self.annotations.read("annotations/instances_val2017.json")


class MirrorSource:
    """COCO val2017 files read from an offline mirror, each checked against SHA256SUMS."""

    def __init__(self, mirror: Mirror) -> None:
        self.mirror = mirror
        self.image_names = [r.split("/")[-1] for r in mirror.list_dir(MIRROR_IMAGES, "*.jpg")]
        if not self.image_names:
            raise AssetError(f"mirror {mirror.root} has no images in {MIRROR_IMAGES}")

    def read_image(self, name: str) -> bytes:
        return self.mirror.verified(f"{MIRROR_IMAGES}/{name}")[0].read_bytes()

    def read_label(self, stem: str) -> str | None:
        rel = f"{MIRROR_LABELS}/{stem}.txt"
        return self.mirror.verified(rel)[0].read_text() if self.mirror.has(rel) else None

    def read_official(self) -> bytes | None:
        rels = self.mirror.list_dir(MIRROR_ANNOTATIONS, "instances_val2017*.json")
        return self.mirror.verified(rels[0])[0].read_bytes() if rels else None
