"""Resident memory of one variant, measured in a fresh interpreter: before import, after import,
after load, after warm-up, and peak. The child imports only the runtime under test."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

PHASES = ("rss_start_mb", "rss_after_import_mb", "rss_after_load_mb", "rss_after_warmup_mb", "rss_peak_mb")
HEAVY_MODULES = ("nncf", "torch", "ultralytics")
_CHILD = "import json, sys; from yolo_cpu.measure.memory import measure; print(json.dumps(measure(*sys.argv[1:])))"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def measure(variant: str, model_name: str, warmup: str | int) -> dict[str, Any]:
    """Run in the fresh interpreter: each phase's resident MiB, the model's bytes, and which heavy
    modules got imported (there should be none)."""
    import resource

    out: dict[str, Any] = {"rss_start_mb": _rss_mb()}
    import numpy as np

    from yolo_cpu.models.variants import VARIANTS

    v = VARIANTS[variant]
    __import__("openvino" if v.is_openvino else "onnxruntime")
    out["rss_after_import_mb"] = _rss_mb()
    rt = v.load(model_name)
    out["rss_after_load_mb"] = _rss_mb()
    x = np.random.default_rng(0).random((1, *rt.input_shape[1:]), dtype=np.float32)
    for _ in range(int(warmup)):
        rt.infer(x)
    out["rss_after_warmup_mb"] = _rss_mb()
    out["rss_peak_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, *out.values())
    model = v.model_path(model_name)
    out["model_bytes"] = sum(f.stat().st_size for f in {model, model.with_suffix(".bin")} if f.is_file())
    out = {k: (round(val, 2) if isinstance(val, float) else val) for k, val in out.items()}
    out["heavy_modules_loaded"] = sorted(m for m in HEAVY_MODULES if m in sys.modules)
    return out


def probe(variant: str, model_name: str, warmup: int) -> dict[str, Any]:
    """measure() in a fresh interpreter (so nothing this process loaded counts); parses its JSON line."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, model_name, str(warmup)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe for {variant} failed:\n{proc.stderr.strip()}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if r["heavy_modules_loaded"]:
        raise RuntimeError(f"memory probe for {variant} imported {r['heavy_modules_loaded']}")
    return r
