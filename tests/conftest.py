"""Shared fixtures: the offline mirror (tests skip with a reason when it is absent) and a temporary
git+DVC copy of the project that runs the real pipeline once on tiny params."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("YOLO_ASSETS_MIRROR") or ROOT.parent / "shared" / "assets").resolve()
HAS_MIRROR = (MIRROR / "SHA256SUMS").is_file() and (MIRROR / "models" / "yolov5n.onnx").is_file()
needs_mirror = pytest.mark.skipif(
    not HAS_MIRROR,
    reason=f"offline asset mirror not found at {MIRROR} "
    "(set YOLO_ASSETS_MIRROR to a folder laid out like ../shared/assets)",
)


def runnable(*variants: str) -> list[str]:
    """The variants this CPU runs (bf16 ones only where OpenVINO finds bf16 support)."""
    from yolo_cpu.models.variants import VARIANTS

    return [v for v in variants if VARIANTS[v].supported()]


PROJECT_FILES = (
    "stages",
    "yolo_cpu",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
)

# Tiny params: the real pipeline on a few images and few timed runs.
TINY = {
    "data": {"eval_images": 12, "calib_images": 20},
    "calibration": {"images": 12, "check_images": 8},
    # the `pipeline` fixture runs the default accuracy control and full bias correction; elsewhere the fast one
    # (NNCF's default) saves seconds per run
    "quantize_ov": {"scope": "decode", "rank_images": 4, "fast_bias_correction": True},
    "bench": {"warmup": 1, "slice_runs": 1, "min_slices": 3, "max_seconds": 0, "batch_sizes": [1, 2], "e2e_images": 2},
    "bench_ov": {"throughput_slice_seconds": 0.05},
    # FP32 and the fastest INT8 this CPU runs
    "bench_deploy": {
        "batch_sizes": [2],
        "rounds": 1,
        "images": 6,
        "variants": ["ov_fp32", (runnable("ov_int8_bf16") or ["ov_int8"])[0]],
    },
    "bench_torch": {"batch_sizes": [1]},
    "memory": {"warmup": 1},
    "roofline": {"channels": 64, "size": 16, "seconds": 0.2},
    "eval_timing": {"batch": 4, "model_only_windows": 2, "model_only_images": 4},
    "export": {"verify_batches": [1, 2]},
    "convert": {"verify_batches": [1, 2]},
    # one serving config, short trials: the stage runs every path end to end; capacity itself is test_serve's
    "serve": {
        "configs": ["r1b2"],
        "images": 8,
        "trial_queries": 24,
        "trial_seconds": 0.5,
        "single_stream_queries": 8,
        "search_steps": 1,
        "repeats": 1,
        "max_seconds": 240,  # the stage's, for every bundled variant (two on some CPUs)
    },
}


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first, mirror set, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", YOLO_OFFLINE="1", YOLO_ASSETS_MIRROR=str(MIRROR), PYTHONPATH="")
    return env


def sh(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command in `cwd` with tool_env() (plus `env`); with check, fail showing its output."""
    proc = subprocess.run(args, cwd=cwd, env={**tool_env(), **(env or {})}, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def set_params(repo: Path, changes: dict) -> None:
    """Merge {section: {key: value}} into repo/params.yaml."""
    path = repo / "params.yaml"
    data = yaml.safe_load(path.read_text())
    for section, values in changes.items():
        data[section].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def make_repo(dest: Path, params: dict | None = None) -> Path:
    """A fresh git+DVC copy of the project in `dest` (user.name/email set locally), committed."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in PROJECT_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = params or {}
    set_params(dest, {s: {**TINY.get(s, {}), **params.get(s, {})} for s in {*TINY, *params}})
    sh(["git", "init", "-q", "-b", "main"], dest)
    sh(["git", "config", "user.name", "yolo-cpu tests"], dest)
    sh(["git", "config", "user.email", "tests@example.invalid"], dest)
    sh(["git", "add", "-A"], dest)
    sh(["git", "commit", "-qm", "tiny pipeline"], dest)
    return dest


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Path:
    """The whole real pipeline (`dvc repro`) run once on tiny params, with the default INT8 scope
    (NNCF's accuracy control) and bias correction; returns the repo path."""
    if not HAS_MIRROR:
        pytest.skip(f"offline asset mirror not found at {MIRROR}")
    if os.environ.get("YOLO_TEST_PIPELINE"):  # a developer's shortcut: a repo this fixture built before
        return Path(os.environ["YOLO_TEST_PIPELINE"])
    repo = make_repo(
        tmp_path_factory.mktemp("pipeline") / "repo",
        {"quantize_ov": {"scope": "accuracy_control", "fast_bias_correction": False}},
    )
    sh(["dvc", "repro"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "repro"], repo)
    return repo


@pytest.fixture(autouse=True)
def unchanged_environment():
    """Undo what a test's imports did to os.environ: importing ultralytics sets OMP_NUM_THREADS=1 and
    more, which every later subprocess (and the machine fingerprint) would inherit."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def in_repo(monkeypatch):
    """chdir into a repo for library calls that use project-relative paths."""

    def enter(repo: Path) -> Path:
        monkeypatch.chdir(repo)
        return repo

    return enter


def make_mirror(dest: Path, n_images: int) -> Path:
    """A small offline mirror: the real model, the first n real images and labels, a SHA256SUMS."""
    sums = {}
    for line in (MIRROR / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        sums[rel] = digest
    images = sorted(r for r in sums if r.startswith("coco/images/val2017/"))[:n_images]
    stems = {Path(r).stem for r in images}
    labels = [r for r in sums if r.startswith("coco/labels/val2017/") and Path(r).stem in stems]
    keep = ["models/yolov5n.onnx", *images, *labels]
    for rel in keep:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MIRROR / rel, dest / rel)
    write_sums(dest)
    return dest


def write_sums(mirror: Path) -> None:
    """(Re)write SHA256SUMS for every file in a mirror."""
    from yolo_cpu.io import sha256_file

    lines = [
        f"{sha256_file(p)}  {p.relative_to(mirror)}"
        for p in sorted(mirror.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    (mirror / "SHA256SUMS").write_text("\n".join(lines) + "\n")
