"""Where ONNX Runtime spends the time of INT8 (or FP32) models: first the models timed side by side
(alternating rounds, bench params) at each batch size, then, per model, ONNX Runtime's own
profiler's kernel times at batch 1 summed by op type, with the op types of the optimized graph it
runs (QLinearConv, QLinearConcat, QLinearSigmoid, the Transposes of the NHWC layout pass, ...).

Usage (after `dvc repro`): python scripts/probes/ort_profile.py [MODEL.onnx ...] [--runs 50] [--batch-sizes 1 8]
    [--out FILE]   (default: the pipeline's ort_fp32 and ort_int8 models)"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data.dataset import sample_batch  # noqa: E402
from yolo_cpu.measure.benchmark import latency_round  # noqa: E402
from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu.runtime.runtimes import OrtRuntime  # noqa: E402


def profile(model: Path, x, runs: int, threads: int = 0) -> dict:
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = threads
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "profile")
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        for _ in range(10):
            sess.run(None, feed)
        for _ in range(runs):
            sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
        graph_ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    runs_ev = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    timed = runs_ev[10:]  # after the warm-up
    start = timed[0]["ts"]
    per_op: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values())
    model_run = sorted(e["dur"] for e in timed)
    n_runs = len(timed)
    return {
        "model_run_p50_ms": round(model_run[len(model_run) // 2] / 1000, 3),
        "kernel_ms_per_run": round(total / n_runs / 1000, 3),
        "share_by_op": {k: round(v / total, 4) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])},
        "ms_by_op": {k: round(v / n_runs / 1000, 3) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])},
        "graph_ops": dict(graph_ops.most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--out", type=Path, help="default: results/<machine id>/<model>/probes/ort_profile.json")
    a = ap.parse_args()
    p = params.load("model", "bench")
    m, b = p["model"], p["bench"]
    models = a.models or [paths.dynamic_onnx(m["name"]), paths.ort_int8_onnx(m["name"])]
    x = sample_batch("real", max(a.batch_sizes), m["imgsz"], paths.EVAL_DIR)
    out = {"machine": machine_id(), "model": m["name"], "runs": a.runs, "side_by_side": {}, "profiles": {}}
    rts = {str(model): OrtRuntime(model, intra_threads=2, inter_threads=1) for model in models}
    for n in a.batch_sizes:
        h, _ = latency_round(rts, x[:n], {**b, "slice_runs": max(1, a.runs // b["min_slices"])}, f"b{n}")
        out["side_by_side"].update(h)
        first = str(models[0])
        for model in rts:
            print(
                f"b{n} {model}: p50 {h[f'{model}_b{n}_p50_ms']:.2f} ms, {h[f'{model}_b{n}_ips']:.1f} img/s, "
                f"{h[f'{first}_b{n}_p50_ms'] / h[f'{model}_b{n}_p50_ms']:.3f}x {first}",
                flush=True,
            )
    del rts
    for model in models:
        r = profile(model, x[:1], a.runs)
        out["profiles"][str(model)] = r
        top = ", ".join(f"{k} {v:.1%}" for k, v in list(r["share_by_op"].items())[:8])
        ops = {
            k: v
            for k, v in r["graph_ops"].items()
            if k.startswith("QLinear") or k in ("Transpose", "Concat", "QuantizeLinear", "DequantizeLinear")
        }
        print(
            f"{model}: model_run p50 {r['model_run_p50_ms']} ms, kernels {r['kernel_ms_per_run']} ms/run\n"
            f"    time: {top}\n    graph: {ops}",
            flush=True,
        )
    write_probe("ort_profile", m["name"], out, a.out)


if __name__ == "__main__":
    main()
