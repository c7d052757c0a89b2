"""The machine and library fingerprint stored in every metrics file (`env` block)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_bf16", "amx_int8", "amx_tile")
PACKAGES = ("numpy", "onnx", "onnxruntime", "openvino", "nncf", "opencv-python-headless", "pycocotools", "dvc",
            "psutil")
EXTRA_PACKAGES = ("torch", "torchvision", "ultralytics")  # the optional export extra (requirements-export.txt)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """CPU model, cores, ISA flags that matter for INT8/bf16, library versions, thread settings."""
    import psutil

    model, flags = _cpuinfo()
    return {
        "cpu_model": model,
        "machine": platform.machine(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "isa": {f: (f in flags) for f in ISA_FLAGS},
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


def fingerprint() -> dict[str, Any]:
    """What must change for timings to be stale: CPU, cores, memory, libraries (no volatile values).
    With $YOLO_SIMULATE_MACHINE set (tests only), its value is part of it, so this machine counts
    as another one: its timing stages rerun and its machine id differs."""
    env = environment()
    fp = {k: env[k] for k in ("cpu_model", "machine", "logical_cores", "affinity_cores", "memory_gib", "isa",
                              "python", "versions", "thread_env")}
    if os.environ.get(SIMULATE_ENV):
        fp["simulated_machine"] = os.environ[SIMULATE_ENV]
    return fp


def machine_id() -> dict[str, Any]:
    """The compact machine id every headline metrics file carries: CPU model, logical cores and a
    short hash of the fingerprint (CPU, ISA, memory, libraries), so a reader sees at once whether
    two runs' timings may be compared."""
    fp = fingerprint()
    digest = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:10]
    return {"cpu": fp["cpu_model"], "cores": fp["logical_cores"], "id": digest}
