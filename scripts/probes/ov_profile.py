"""Where the time goes inside each OpenVINO variant: per-layer performance counters at batch 1
(LATENCY hint), summed by the precision each layer's kernel ran in (from its exec type: I8/U8, bf16,
f32), the reorders (layout and precision conversions between kernels), the detect head, and the
slowest layers. Shows what bounds INT8 against bf16 on this CPU.

Usage (after `dvc repro`):
    python scripts/probes/ov_profile.py [--runs 50] [--variants ov_bf16 ov_int8 ...] [--out FILE]"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data.dataset import sample_batch  # noqa: E402
from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu.quantize.head import head_index  # noqa: E402
from yolo_cpu.runtime.runtimes import ov_core  # noqa: E402


def kernel_precision(exec_type: str) -> str:
    """'int8', 'bf16', 'f32' or 'other' from an exec type such as brgconv_avx512_amx_I8 or jit_avx512_bf16."""
    t = exec_type.lower()
    if re.search(r"(^|_)(i8|u8)($|_)", t):
        return "int8"
    if "bf16" in t:
        return "bf16"
    if re.search(r"(^|_)(f32|fp32)($|_)", t):
        return "f32"
    return "other"


def profile(xml: Path, precision: str, x: np.ndarray, runs: int) -> list[dict]:
    """Mean real time per executed layer over `runs` batch-1 inferences after 10 warm-up ones."""
    core = ov_core()
    model = core.read_model(str(xml))
    model.reshape({model.input(0): list(x.shape)})
    compiled = core.compile_model(
        model, "CPU", {"PERF_COUNT": True, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    )
    req = compiled.create_infer_request()
    for _ in range(10):
        req.infer({0: x})
    total: dict[str, float] = defaultdict(float)
    info: dict[str, tuple[str, str]] = {}
    for _ in range(runs):
        req.infer({0: x})
        for p in req.get_profiling_info():
            if p.status.name != "EXECUTED":
                continue
            total[p.node_name] += p.real_time.total_seconds() * 1e3
            info[p.node_name] = (p.node_type, p.exec_type)
    return [{"layer": n, "type": info[n][0], "exec_type": info[n][1], "ms": t / runs} for n, t in total.items()]


def summarize(layers: list[dict], head: str) -> dict:
    total = sum(r["ms"] for r in layers)
    by_precision: dict[str, float] = defaultdict(float)
    for r in layers:
        if r["type"] != "Reorder":
            by_precision[kernel_precision(r["exec_type"])] += r["ms"]
    reorders = [r for r in layers if r["type"] == "Reorder"]
    convs = [r for r in layers if r["type"] == "Convolution"]
    in_head = [r for r in layers if r["layer"].startswith(head)]
    return {
        "layers_ms": round(total, 3),
        "share_by_kernel_precision": {k: round(v / total, 3) for k, v in sorted(by_precision.items())},
        "reorders": len(reorders),
        "reorder_share": round(sum(r["ms"] for r in reorders) / total, 3),
        "convolutions": len(convs),
        "convolutions_by_precision": {
            p: sum(kernel_precision(r["exec_type"]) == p for r in convs) for p in ("int8", "bf16", "f32", "other")
        },
        "head_share": round(sum(r["ms"] for r in in_head) / total, 3),
        "slowest": [
            {k: (round(v, 3) if k == "ms" else v) for k, v in r.items()}
            for r in sorted(layers, key=lambda r: -r["ms"])[:8]
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--variants", nargs="+", default=list(OV_VARIANTS), choices=OV_VARIANTS)
    ap.add_argument("--out", type=Path, help="default: results/<machine id>/<model>/probes/ov_profile.json")
    a = ap.parse_args()
    name, size = (lambda m: (m["name"], m["imgsz"]))(params.load("model")["model"])
    x = sample_batch("real", 1, size, paths.EVAL_DIR)
    out = {"machine": machine_id(), "model": name, "runs": a.runs, "variants": {}}
    for v in a.variants:
        spec = VARIANTS[v]
        if not spec.supported():
            continue
        xml = spec.model_path(name)
        names = [op.get_friendly_name() for op in ov_core().read_model(str(xml)).get_ops()]
        head = f"/model.{head_index(names)}/"  # the detect head's scope
        s = summarize(profile(xml, spec.hint_precision, x, a.runs), head)
        out["variants"][v] = s
        print(
            f"{v}: {s['layers_ms']:.2f} ms in layers; kernels {s['share_by_kernel_precision']}; "
            f"{s['reorders']} reorders ({s['reorder_share']:.1%}); convs {s['convolutions_by_precision']}; "
            f"head {s['head_share']:.1%}"
        )
        for r in s["slowest"][:4]:
            print(f"    {r['ms']:.3f} ms  {r['type']:<12} {r['exec_type']:<28} {r['layer']}")
    write_probe("ov_profile", name, out, a.out)


if __name__ == "__main__":
    main()
