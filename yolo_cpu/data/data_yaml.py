"""An Ultralytics data YAML (path, train, val, optional test, names) read as a split source: its val
images for evaluation, its train images (when it has them) for calibration, labels in the parallel
`labels/` folders, and the dataset's own class names."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from yolo_cpu.errors import UserError

COCO = "coco"  # data.dataset for COCO val2017 (the mirror or the public zips); anything else is a data YAML path
IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")  # what OpenCV decodes


class DatasetError(UserError):
    """A data YAML, list or folder that cannot be used; the message names the file and key."""


def label_path(image: Path) -> Path:
    """Ultralytics' convention: the last `/images/` of the path becomes `/labels/`, suffix `.txt`."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    s = str(image)
    if sa not in s:
        return image.with_suffix(".txt")
    return Path(sb.join(s.rsplit(sa, 1))).with_suffix(".txt")


def _names(raw: object, file: Path) -> tuple[str, ...]:
    if isinstance(raw, dict):
        keys = sorted(raw)
        if keys != list(range(len(raw))):
            raise DatasetError(f"{file}: 'names' keys must be the class ids 0..{len(raw) - 1}, got {keys[:10]}")
        raw = [raw[k] for k in keys]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, (str, int)) for n in raw):
        raise DatasetError(f"{file}: 'names' must be a non-empty list of class names or a dict "
                           f"{{id: name}}, got {raw!r:.80}")
    names = tuple(str(n) for n in raw)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DatasetError(f"{file}: class name {dup!r} appears twice in 'names'")
    return names


def _not_the_root(folder: Path, what: str, file: Path) -> None:
    if folder.resolve() == Path(folder.resolve().anchor):
        raise DatasetError(f"{file}: {what} is the filesystem root ({folder.resolve()}): listing it would walk the "
                           "whole disk; give the dataset's own folder")


def _images_in(entry: str, root: Path, key: str, file: Path, limit: int) -> list[Path]:
    """Image files named by one entry of `train`/`val`: a folder (searched recursively, at most `limit`
    images), a .txt file listing image paths (a leading './' is relative to the .txt's folder), or one image."""
    p = Path(entry)
    p = p if p.is_absolute() else root / p
    if p.is_dir():
        _not_the_root(p, f"{key} {entry!r}", file)
        found = []
        for f in p.rglob("*"):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                found.append(f)
                if len(found) > limit:
                    raise DatasetError(f"{file}: {key} {entry!r} holds more than {limit} images (looked in {p}; "
                                       "params.yaml data.max_listed_images): is it the dataset's folder?")
        return sorted(found)
    if p.is_file() and p.suffix == ".txt":
        out = []
        for n, line in enumerate(p.read_text().splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            f = Path(line)
            f = f if f.is_absolute() else (p.parent / line[2:] if line.startswith("./") else root / f)
            if not f.is_file():
                raise DatasetError(f"{p}:{n}: image {line!r} (listed for {key!r} in {file}) not found at {f}")
            out.append(f)
        return out
    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
        return [p]
    raise DatasetError(f"{file}: {key}: {entry!r} is not a folder, a .txt list or an image (looked at {p})")


def _split(data: dict, key: str, root: Path, file: Path, limit: int) -> list[Path]:
    raw = data[key]
    entries = raw if isinstance(raw, list) else [raw]
    if not entries or not all(isinstance(e, str) and e for e in entries):
        raise DatasetError(f"{file}: {key!r} must be a path or a list of paths, got {raw!r:.80}")
    files = [f for e in entries for f in _images_in(e, root, key, file, limit)]
    if len(files) > limit:
        raise DatasetError(f"{file}: {key} {raw!r:.80} lists {len(files)} images, more than "
                           f"params.yaml data.max_listed_images = {limit}")
    if not files:
        raise DatasetError(f"{file}: {key} {raw!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return list(dict.fromkeys(files))


@dataclass
class DataYaml:
    """A parsed data YAML: class names, val images and (optionally) train images, all checked to exist."""

    file: Path
    root: Path
    names: tuple[str, ...]
    val: list[Path]
    train: list[Path] | None

    @classmethod
    def load(cls, file: str | Path, max_images: int = 200_000) -> "DataYaml":
        """Read and check a data YAML. `path` (the dataset root) is relative to the YAML's folder, and
        defaults to it; `train`/`val` are relative to the root. A split of more than `max_images`
        images, or a folder at the filesystem root, is an error before the listing goes on."""
        file = Path(file)
        if not file.is_file():
            raise DatasetError(f"data YAML not found: {file} (params.yaml data.dataset)")
        try:
            data = yaml.safe_load(file.read_text())
        except yaml.YAMLError as e:
            raise DatasetError(f"{file} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise DatasetError(f"{file}: expected a mapping with path, train, val and names")
        if not data.get("val"):
            raise DatasetError(f"{file}: no 'val' key: the evaluation images must be given (a folder, a list "
                               "of folders, or a .txt of image paths)")
        if "names" not in data:
            raise DatasetError(f"{file}: no 'names' key (a list of class names or a dict {{id: name}})")
        names = _names(data["names"], file)
        if "nc" in data and data["nc"] != len(names):
            raise DatasetError(f"{file}: nc is {data['nc']} but 'names' has {len(names)} classes")
        root = Path(data.get("path") or ".")
        root = root if root.is_absolute() else file.parent / root
        if not root.is_dir():
            raise DatasetError(f"{file}: path {data.get('path')!r} is not a folder (looked at {root})")
        _not_the_root(root, f"path {data.get('path')!r}", file)
        val = _split(data, "val", root, file, max_images)
        train = _split(data, "train", root, file, max_images) if data.get("train") else None
        return cls(file, root, names, val, train)

    def listing_sha256(self) -> str:
        """Hash of the YAML's bytes and every image and label file's path, size and mtime: changes when
        the dataset's files change (cheap, like DVC's own check of external files)."""
        h = hashlib.sha256(self.file.read_bytes())
        for f in [*self.val, *(self.train or [])]:
            for p in (f, label_path(f)):
                st = p.stat() if p.exists() else None
                h.update(f"{p}\0{st.st_size if st else -1}\0{st.st_mtime_ns if st else -1}\n".encode())
        return h.hexdigest()


class YamlSource:
    """A data YAML as a split source. Images get synthetic COCO-style names (`000000000001.jpg`, ...,
    val first, then train) so a split's files and image ids stay unique whatever the original names;
    `original` maps them back. Train images that are also val images are left out of calibration."""

    def __init__(self, data: DataYaml) -> None:
        self.data = data
        val = set(data.val)
        train = [f for f in (data.train or []) if f not in val]
        self.train_val_overlap = len(data.train or []) - len(train)
        self.original: dict[str, Path] = {}
        for i, f in enumerate([*data.val, *train], 1):
            self.original[f"{i:012d}{f.suffix.lower()}"] = f
        self.image_names = list(self.original)
        self.val_names = self.image_names[: len(data.val)]
        self.train_names = self.image_names[len(data.val):] if data.train else None
        self._by_stem = {Path(n).stem: f for n, f in self.original.items()}

    def read_image(self, name: str) -> bytes:
        return self.original[name].read_bytes()

    def read_label(self, stem: str) -> str | None:
        p = label_path(self._by_stem[stem])
        return p.read_text() if p.is_file() else None

    def origin(self, name: str) -> str:
        return str(self.original[name])

    def label_file(self, stem: str) -> str:
        """The original label file of a synthetic name, for error messages."""
        return str(label_path(self._by_stem[stem]))

    def read_official(self) -> None:
        return None
