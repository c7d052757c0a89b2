"""One-off: the AMD EPYC Zen 4 run committed in session 5 (commit ef34d18, yolov5n, default params,
500 eval images) as a snapshot in today's format, results/<its machine id>/yolov5n/. Only key names
change (f32 -> ov_fp32, fp32 -> ort_fp32, ...); every figure is the committed one. The recommendation is
computed by today's code from those figures.

Usage: python scripts/import_session5_zen4.py [--commit ef34d18]"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core.io import write_json  # noqa: E402
from stages.core.machines import RESULTS  # noqa: E402
from stages.core.recommend import as_metrics, recommend  # noqa: E402

OV = {"f32": "ov_fp32", "bf16": "ov_bf16", "int8": "ov_int8", "int8_bf16": "ov_int8_bf16"}
ORT = {"fixed": "ort_fp32_fixed", "fp32": "ort_fp32", "int8": "ort_int8"}


def show(commit: str, path: str) -> dict:
    return json.loads(subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True,
                                     check=True).stdout)


def renamed(d: dict, names: dict[str, str], suffix: tuple[str, str] = ("", "")) -> dict:
    out = {}
    for k, v in d.items():
        m = re.match(r"^(int8_bf16|int8|bf16|f32|fp32|fixed)_(.+)$", k)
        if m and m.group(1) in names:
            out[f"{names[m.group(1)]}_{m.group(2)}".replace(*suffix)] = v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="ef34d18")
    c = ap.parse_args().commit
    fp = show(c, "metrics/fingerprint.json")
    mid = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:10]
    ov, ort = show(c, "metrics/bench_ov.json"), show(c, "metrics/bench_ort.json")
    results = {
        "fingerprint": fp,
        "bench_ov": {"batch_sizes": ov.get("batch_sizes"), **renamed(ov, OV, ("_throughput_ips", "_ips"))},
        "bench_ort": {"batch_sizes": ort.get("batch_sizes"), **renamed(ort, ORT, ("_throughput_ips", "_ips"))},
        "eval_map": {k.replace("ov_f32_", "ov_fp32_"): v for k, v in show(c, "metrics/eval_map.json").items()
                     if not isinstance(v, dict)},
        "memory": {k.replace("ov_f32_", "ov_fp32_"): v for k, v in show(c, "metrics/memory.json").items()
                   if not isinstance(v, dict)},
        "download": {"model": "yolov5n", "imported_from_commit": c},
    }
    results["recommendation"] = as_metrics(recommend(results, 0.3))
    folder = RESULTS / mid / "yolov5n"
    for name, data in results.items():
        write_json(folder / f"{name}.json", data if name == "fingerprint" else {**data, "machine": {
            "cpu": fp["cpu_model"], "cores": fp["logical_cores"], "id": mid}})
    print(f"{folder}: {fp['cpu_model']}, recommendation {results['recommendation']}")


if __name__ == "__main__":
    main()
