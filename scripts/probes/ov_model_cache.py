"""OpenVINO model caching (CACHE_DIR): load + first inference of each OpenVINO variant without a
cache, with an empty cache (it is written), and with the cache filled, each in a fresh interpreter
as a deployed process would start; alternating over rounds, medians reported.

Usage (after `dvc repro`): python scripts/probes/ov_model_cache.py [--rounds 3] [--variants ov_fp32 ov_int8]"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.models.variants import OV_VARIANTS  # noqa: E402
from yolo_cpu.pipeline import params  # noqa: E402

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, openvino as ov
from yolo_cpu.models.variants import VARIANTS
v = VARIANTS[sys.argv[1]]
core = ov.Core()
if sys.argv[3]:
    core.set_property({"CACHE_DIR": sys.argv[3]})
t1 = time.perf_counter()
compiled = core.compile_model(str(v.model_path(sys.argv[2])), "CPU",
                              {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": v.hint_precision})
t2 = time.perf_counter()
compiled.create_infer_request().infer({0: np.zeros((1, 3, 640, 640), np.float32)})
t3 = time.perf_counter()
print(json.dumps({"load_ms": 1000 * (t2 - t1), "first_inference_ms": 1000 * (t3 - t2)}))
"""


def measure(variant: str, name: str, cache: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, variant, name, cache], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=list(OV_VARIANTS), choices=list(OV_VARIANTS))
    args = ap.parse_args()
    name = params.load("model")["model"]["name"]
    print(f"{machine_id()['cpu']}, {name}, load + first inference at batch 1 (ms), median of {args.rounds}")
    out: dict = {"rounds": args.rounds, "load_and_first_inference_ms": {}}
    for v in args.variants:
        runs: dict[str, list[float]] = {"no cache": [], "cache written": [], "cache read": []}
        for _ in range(args.rounds):
            cache = tempfile.mkdtemp(prefix="ov-cache-")
            try:
                for label, where in (("no cache", ""), ("cache written", cache), ("cache read", cache)):
                    r = measure(v, name, where)
                    runs[label].append(r["load_ms"] + r["first_inference_ms"])
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        med = {k: statistics.median(x) for k, x in runs.items()}
        print(
            f"  {v:13s} "
            + ", ".join(f"{k} {m:7.1f}" for k, m in med.items())
            + f"; cache read / no cache {med['cache read'] / med['no cache']:.2f}x"
        )
        out["load_and_first_inference_ms"][v] = {k: round(m, 1) for k, m in med.items()}
    write_probe("ov_model_cache", name, out)


if __name__ == "__main__":
    main()
