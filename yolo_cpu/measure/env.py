"""The machine and library fingerprint: the `env` block of every detail file, and its ids."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from typing import Any

from yolo_cpu.measure.cpu import read_cpuinfo

ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_vp2intersect",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "amx_tile",
)
PACKAGES = (
    "numpy",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
    "opencv-python-headless",
    "pycocotools",
    "dvc",
    "psutil",
)
EXTRA_PACKAGES = ("torch", "torchvision", "ultralytics")  # the optional export extra (requirements-export.txt)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """CPU model, cores, ISA flags that matter for INT8/bf16, library versions, thread settings."""
    import psutil

    cpu = read_cpuinfo()
    model = cpu.model_name if cpu.model_name != "unknown" else (platform.processor() or "unknown")
    return {
        "cpu_model": model,
        "cpu": cpu.as_dict(),
        "machine": platform.machine(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "isa": {f: (f in cpu.flags) for f in ISA_FLAGS},
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "extra_versions": extra_versions(),
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
    }


def extra_versions() -> dict[str, str | None]:
    """The optional export extra's versions (None: not installed)."""
    return {p: _version(p) for p in EXTRA_PACKAGES}


SIMULATE_ENV = "YOLO_SIMULATE_MACHINE"  # tests only: a name that makes this machine count as another


HARDWARE_KEYS = ("cpu_model", "cpu", "machine", "logical_cores", "affinity_cores", "memory_gib", "isa")
SOFTWARE_KEYS = ("python", "versions", "thread_env")


def _digest(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def fingerprint() -> dict[str, Any]:
    """What must change for timings to be stale: the hardware (CPU identity, cores, memory, ISA) and
    the software (libraries, Python, thread settings), no volatile values, with an id for each part:
    `machine_id` from the hardware alone, `software_id` from the software. With
    $YOLO_SIMULATE_MACHINE set (tests only), its value is part of the hardware, so this machine
    counts as another one: its timing stages rerun and its machine id differs."""
    env = environment()
    hardware = {k: env[k] for k in HARDWARE_KEYS}
    if os.environ.get(SIMULATE_ENV):
        hardware["simulated_machine"] = os.environ[SIMULATE_ENV]
    software = {k: env[k] for k in SOFTWARE_KEYS}
    return {**hardware, **software, "machine_id": _digest(hardware), "software_id": _digest(software)}


def compact(fp: dict[str, Any]) -> dict[str, Any]:
    """The machine as a reader sees it once: the hardware id (results/ is keyed by it), the CPU's
    name, microarchitecture and logical cores in words, and the software id."""
    return {
        "machine_id": fp["machine_id"],
        "cpu": f"{fp['cpu_model']} ({fp['cpu']['microarch']}), {fp['logical_cores']} cores",
        "software_id": fp["software_id"],
    }


def machine_id() -> dict[str, Any]:
    """The machine block of every detail file: the CPU's name and microarchitecture, logical cores, a
    short hash of the hardware (`id`) and one of the software (`software`), so a reader sees at once
    whether two runs' timings may be compared."""
    fp = fingerprint()
    return {
        "cpu": f"{fp['cpu_model']} ({fp['cpu']['microarch']})",
        "cores": fp["logical_cores"],
        "id": fp["machine_id"],
        "software": fp["software_id"],
    }
