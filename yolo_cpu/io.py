"""Atomic file output and checksums: a crash never leaves a half-written model or metrics file."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yolo_cpu.errors import MissingInputError, UserError


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def remove_stale_temps(dest: Path) -> None:
    """Remove what an earlier run killed mid-write left beside `dest` (its temp siblings and the old
    copy of a replaced directory); a normal run removes its own, so anything found is stale."""
    for stale in [*dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"), dest.with_name(f".{dest.name}.old")]:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.exists() or stale.is_symlink():
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path next to `dest`; rename it onto `dest` only if the block succeeds.

    Works for files and directories (a directory replaces the old one whole)."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    except PermissionError as e:
        raise UserError(
            f"cannot write {dest}: the folder {dest.parent.resolve()} is not writable ({e.strerror})"
        ) from e
    except OSError as e:
        if e.errno != errno.EROFS:
            raise
        raise UserError(f"cannot write {dest}: {dest.parent.resolve()} is on a read-only file system") from e
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written for {dest}")
        try:
            _replace(tmp, dest)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EACCES, errno.EROFS):
                raise
            raise UserError(
                f"cannot replace {dest}: {e.strerror}. Is it immutable (lsattr; chattr -i), on a "
                "read-only mount, or owned by another user? It was left as it was"
            ) from e
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _replace(tmp: Path, dest: Path) -> None:
    """Put `tmp` where `dest` is; an old directory is moved aside first and moved back if that fails."""
    if dest.is_dir() and not dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        try:
            tmp.rename(dest)
        except OSError:
            old.rename(dest)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, keys in insertion order, 2-space indent."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path} does not exist (run the stage that makes it first: `dvc repro`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON: {e}") from e


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def require_file(path: str | Path, what: str) -> Path:
    """Return `path` if it is a non-empty file, else raise an error that says what it should be."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} not found: {path} (run `dvc repro` for the stage that makes it)")
    if path.stat().st_size == 0:
        raise MissingInputError(f"{what} is empty: {path}")
    return path
