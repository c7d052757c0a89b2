"""Run in a fresh subprocess: resident memory before import, after import, after load, after warm-up.

Usage: python -m stages.core.memprobe <variant> <model_name> <warmup>. Prints one JSON line.
Imports only the runtime under test (no nncf, torch or ultralytics)."""
from __future__ import annotations

import json
import resource
import sys

import psutil


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main(variant: str, model_name: str, warmup: int) -> dict:
    out = {"rss_start_mb": rss_mb()}
    import numpy as np

    from .runtimes import VARIANTS

    v = VARIANTS[variant]
    if v.runtime.kind == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import openvino  # noqa: F401
    out["rss_after_import_mb"] = rss_mb()
    rt = v.load(model_name)
    out["rss_after_load_mb"] = rss_mb()
    x = np.random.default_rng(0).random((1, *rt.input_shape[1:]), dtype=np.float32)
    for _ in range(warmup):
        rt.infer(x)
    out["rss_after_warmup_mb"] = rss_mb()
    out["rss_peak_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, *out.values())
    out["model_bytes"] = sum(f.stat().st_size for f in {v.model_path(model_name),
                                                          v.model_path(model_name).with_suffix(".bin")}
                             if f.is_file())
    out["heavy_modules_loaded"] = sorted(m for m in ("nncf", "torch", "ultralytics") if m in sys.modules)
    return {k: (round(val, 2) if isinstance(val, float) else val) for k, val in out.items()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
