"""Where the model and COCO files come from: an offline mirror (checked against its SHA256SUMS)
or the public release URLs (streamed, retried, checksummed). The bytes are the same either way."""
from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from yolo_cpu import paths
from yolo_cpu.errors import UserError
from yolo_cpu.io import atomic_path, sha256_file

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


def _open(url: str, timeout_s: float, deadline: float, bar: tqdm):
    """urlopen in a daemon thread, so the wait shows on `bar` each second and ends at `deadline`
    (the thread, blocked until its socket timeout, never keeps the process alive)."""
    result: dict = {}

    def target() -> None:
        try:
            result["resp"] = urllib.request.urlopen(url, timeout=timeout_s)
        except BaseException as e:  # handed to the caller
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while thread.is_alive():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer before the assets.deadline_s deadline")
        bar.set_postfix_str(f"waiting for an answer, {left:.0f} s left")
        thread.join(min(1.0, left))
    bar.set_postfix_str("")
    if "error" in result:
        raise result["error"]
    return result["resp"]


class TruncatedDownload(OSError):
    """The server closed the connection before sending the Content-Length it announced."""


class BadContent(OSError):
    """The bytes received are not a file of the kind the name says (a cut-short body, an HTML page)."""


def content_problem(path: Path, kind: str) -> str | None:
    """Why the file at `path` is not a `kind` file (".onnx", ".pt", ".zip"), or None when it is one or
    the kind has no check: an ONNX must parse, a .pt (PyTorch's zip format) and a .zip must be whole
    archives. What a cut-short download or an error page served as the file fails."""
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "it is an HTML or XML page, not the file"
    if kind in (".pt", ".zip"):
        return None if zipfile.is_zipfile(path) else f"it is not a whole {kind} (zip) archive: cut short or not one"
    if kind == ".onnx":
        import onnx

        try:
            onnx.load(str(path), load_external_data=False)
        except Exception as e:  # protobuf's DecodeError and friends
            return f"it does not parse as ONNX ({str(e).splitlines()[0][:120]}): cut short or not a model"
    return None


def usable_cached(path: Path) -> bool:
    """Whether a file in the download cache is whole; a damaged one is said and fetched again."""
    if not path.is_file():
        return False
    problem = content_problem(path, path.suffix.lower())
    if problem is None:
        return True
    print(f"download: the cached {path} is damaged ({problem}): downloading it again", flush=True)
    return False


def net_settings(assets_params: dict) -> dict[str, float]:
    """fetch_url's keyword settings from params.yaml's `assets` section."""
    return {k: assets_params[k] for k in ("timeout_s", "retries", "deadline_s", "max_download_mb")}


def fetch_url(url: str, dest: Path, timeout_s: float, retries: int, deadline_s: float,
              max_download_mb: float = 4096, sha256: str = "", mirror_hint: bool = True) -> str:
    """Stream `url` to `dest` through a temp file with a progress bar; return its sha256.

    Tries up to 1 + retries times while the server has not answered for less than deadline_s seconds
    in all (a transfer that started resets it); each wait shows on the progress bar. The received
    length must equal the announced Content-Length (a server that closes early is retried, never
    kept) and stay under max_download_mb, and the bytes must be a file of the kind dest's name says
    (content_problem: what catches a body cut short without a Content-Length, or an error page); a 4xx
    answer is final at once. With `sha256` (a pin), bytes that hash otherwise are an error naming the
    URL and both digests. A failed download leaves nothing behind. mirror_hint: the failure names the
    offline mirror (for the release and COCO files it can hold, not a user's own URL)."""
    last: Exception | None = None
    started = time.monotonic()
    deadline = started + deadline_s
    cap = int(max_download_mb * 2**20)
    for attempt in range(retries + 1):
        try:
            with atomic_path(dest, ".partial") as tmp, \
                    tqdm(unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                left = deadline - time.monotonic()
                with _open(url, min(timeout_s, max(left, 0.1)), deadline, bar) as resp, open(tmp, "wb") as out:
                    deadline = time.monotonic() + deadline_s  # it answered: the deadline counts waiting only
                    announced = int(resp.headers.get("Content-Length") or 0) or None
                    bar.total = announced
                    if announced is not None and announced > cap:
                        raise AssetError(f"download refused: {url} announces {announced / 2**20:.0f} MB, more than "
                                         f"assets.max_download_mb={max_download_mb:g}")
                    got, hasher = 0, hashlib.sha256()
                    while chunk := resp.read(1 << 20):
                        got += len(chunk)
                        if got > cap:
                            raise AssetError(f"download stopped: {url} sent more than assets.max_download_mb="
                                             f"{max_download_mb:g} MB; nothing was kept")
                        out.write(chunk)
                        hasher.update(chunk)
                        bar.update(len(chunk))
                    if announced is not None and got != announced:
                        raise TruncatedDownload(f"the server sent {got} of the {announced} bytes it announced")
                    if sha256 and hasher.hexdigest() != sha256.lower():
                        raise AssetError(f"download refused: {url} sent bytes with sha256 {hasher.hexdigest()}, "
                                         f"not the pinned {sha256.lower()} (model.sha256); nothing was kept")
                problem = content_problem(tmp, dest.suffix.lower())
                if problem is not None:
                    raise BadContent(f"the {got} bytes received are no {dest.suffix} file: {problem}")
            return hasher.hexdigest()
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:  # the URL is wrong or forbidden: asking again will not help
                raise AssetError(f"download failed: {url} answered HTTP {e.code} {e.reason}: check the URL "
                                 "(model.source, or the release name in model.name)") from e
            last = e
            pause = min(2**attempt, 10)
            if attempt == retries or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            last = e
            pause = min(2**attempt, 10)
            if attempt == retries or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    hint = (f" Without internet, point {MIRROR_ENV}=/path/to/mirror (or params.yaml assets.mirror) at a folder "
            "laid out like ../shared/assets (see README)") if mirror_hint else ""
    raise AssetError(
        f"download failed: {url} ({last}; {attempt + 1} attempt(s) in {time.monotonic() - started:.0f} s; "
        f"assets.deadline_s={deadline_s:g} s bounds each wait for an answer, assets.timeout_s={timeout_s:g} s "
        f"each stalled read); nothing was kept.{hint}"
    )


def parse_sums(path: Path) -> dict[str, str]:
    """{relative path: sha256} from a `sha256sum` listing; a malformed line is an error naming the
    file, the line number and the line."""
    sums = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
            raise AssetError(f"{path}:{n}: {line.strip()!r} is not '<64 hex digits>  <relative path>'")
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


@dataclass
class Mirror:
    """An offline mirror folder with a SHA256SUMS file (paths relative to the folder)."""

    root: Path
    sums: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, param_path: str) -> "Mirror | None":
        """The mirror named by $YOLO_ASSETS_MIRROR, else by the param (a relative one from the project's
        own folder, also when DVC runs a queued or temp experiment in a copy); None when neither exists."""
        chosen = os.environ.get(MIRROR_ENV) or param_path
        if not chosen:
            return None
        root = Path(chosen).expanduser() if os.environ.get(MIRROR_ENV) else paths.from_project(chosen)
        if not root.is_dir():
            if os.environ.get(MIRROR_ENV):
                raise AssetError(f"{MIRROR_ENV}={chosen} is not a folder")
            return None
        sums_file = root / "SHA256SUMS"
        if not sums_file.is_file():
            raise AssetError(f"mirror {root} has no SHA256SUMS file")
        return cls(root.resolve(), parse_sums(sums_file))

    def has(self, rel: str) -> bool:
        """Whether the mirror has `rel`; a file listed in SHA256SUMS but missing is an error."""
        if (self.root / rel).is_file():
            return True
        if rel in self.sums:
            raise AssetError(f"mirror file {self.root / rel} is listed in {self.root / 'SHA256SUMS'} but missing")
        return False

    def listed(self, rel_dir: str, suffix: str) -> list[str]:
        """Names of the files listed in SHA256SUMS directly under rel_dir. Files listed but missing,
        and files present but not listed, are errors: the set of files never changes silently."""
        listed = {r.split("/")[-1] for r in self.sums if r.startswith(f"{rel_dir}/") and r.endswith(suffix)
                  and "/" not in r[len(rel_dir) + 1:]}
        present = {p.name for p in (self.root / rel_dir).glob(f"*{suffix}")}
        if listed - present:
            first = sorted(listed - present)[0]
            raise AssetError(f"mirror file {self.root / rel_dir / first} is listed in {self.root / 'SHA256SUMS'} but "
                             f"missing ({len(listed - present)} listed file(s) missing in {self.root / rel_dir})")
        if present - listed:
            first = sorted(present - listed)[0]
            raise AssetError(f"mirror file {self.root / rel_dir / first} is not listed in "
                             f"{self.root / 'SHA256SUMS'} ({len(present - listed)} unlisted file(s) in "
                             f"{self.root / rel_dir})")
        return sorted(listed)

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


def where_from(mirror: Mirror | None, param_path: str) -> str:
    """One line saying where the download stage reads from, and why."""
    if mirror is not None:
        via = MIRROR_ENV if os.environ.get(MIRROR_ENV) else "assets.mirror"
        return f"download: reading the offline mirror {mirror.root} ({via})"
    if param_path:
        return (f"download: the mirror folder {paths.from_project(param_path)} (assets.mirror) does not exist: "
                f"fetching from the public URLs instead")
    return "download: assets.mirror is empty: fetching from the public URLs"


def fetch_model(name: str, mirror: Mirror | None, net: dict[str, float]) -> tuple[Path, str, str]:
    """(path, sha256, source) of the release ONNX for `name`, from the mirror when it has it."""
    rel = MIRROR_MODEL.format(name=name)
    if mirror is not None and mirror.has(rel):
        path, digest = mirror.verified(rel)
        return path, digest, "mirror"
    url = MODEL_URL.format(name=name)
    dest = DOWNLOAD_CACHE / f"{name}.onnx"
    digest = sha256_file(dest) if usable_cached(dest) else fetch_url(url, dest, **net)
    return dest, digest, "url"


def fetch_coco_zips(net: dict[str, float], official: bool) -> dict[str, Path]:
    """Download (once, into downloads/) the COCO val2017 image zip and the YOLO labels zip."""
    urls = {"images": COCO_IMAGES_URL, "labels": COCO_LABELS_URL}
    if official:
        urls["annotations"] = COCO_ANNOTATIONS_URL
    out = {}
    for key, url in urls.items():
        dest = DOWNLOAD_CACHE / Path(url).name
        if not (dest.is_file() and zipfile.is_zipfile(dest)):  # a cached archive is reused only whole
            fetch_url(url, dest, **net)
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

    val_names = property(lambda self: self.image_names)
    train_names = None

    def origin(self, name: str) -> str:
        return f"{self.images.filename}:val2017/{name}"

    def label_file(self, stem: str) -> str:
        return f"{self.labels.filename}:{self.label_names.get(f'{stem}.txt', f'labels/val2017/{stem}.txt')}"

    def read_label(self, stem: str) -> str | None:
        member = self.label_names.get(f"{stem}.txt")
        return None if member is None else self.labels.read(member).decode()

    def read_official(self) -> tuple[str, bytes] | None:
        if self.annotations is None:
            return None
        member = "annotations/instances_val2017.json"
        return f"{self.annotations.filename}:{member}", self.annotations.read(member)


class MirrorSource:
    """COCO val2017 files read from an offline mirror, each checked against SHA256SUMS."""

    def __init__(self, mirror: Mirror) -> None:
        self.mirror = mirror
        self.image_names = mirror.listed(MIRROR_IMAGES, ".jpg")
        if not self.image_names:
            raise AssetError(f"mirror {mirror.root} has no images in {MIRROR_IMAGES}")
        mirror.listed(MIRROR_LABELS, ".txt")  # every label, also of images no split draws, is there and listed

    def read_image(self, name: str) -> bytes:
        return self.mirror.verified(f"{MIRROR_IMAGES}/{name}")[0].read_bytes()

    val_names = property(lambda self: self.image_names)
    train_names = None

    def origin(self, name: str) -> str:
        return str(self.mirror.root / MIRROR_IMAGES / name)

    def label_file(self, stem: str) -> str:
        return str(self.mirror.root / MIRROR_LABELS / f"{stem}.txt")

    def read_label(self, stem: str) -> str | None:
        rel = f"{MIRROR_LABELS}/{stem}.txt"
        return self.mirror.verified(rel)[0].read_text() if self.mirror.has(rel) else None

    def read_official(self) -> tuple[str, bytes] | None:
        rels = self.mirror.list_dir(MIRROR_ANNOTATIONS, "instances_val2017*.json")
        if not rels:
            return None
        path = self.mirror.verified(rels[0])[0]
        return str(path), path.read_bytes()
