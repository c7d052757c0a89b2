"""ONNX Runtime's OpenVINO execution provider on the pipeline's own ONNX models, side by side with
ONNX Runtime's CPU provider of the same package (alternating rounds, one process): the FP32 dynamic
ONNX and the ort_int8 QDQ ONNX, at f32 and bf16 for OpenVINO's float ops. This is how an ONNX
Runtime user gets OpenVINO's INT8 kernels without leaving ONNX Runtime.

onnxruntime-openvino installs its own `onnxruntime` package (with OpenVINO inside), so it cannot
share .venv with onnxruntime: run it with `./dev ort-openvino [args]`, which builds .venv-ort-openvino
from requirements-ort-openvino.txt. Every OpenVINO session refuses CPU-provider fallback, so each
figure is of the whole graph in OpenVINO. Writes results/<machine id>/<model>/probes/ort_openvino_ep.json,
the machine id being the pipeline run's (details/bench_ort.json).

Usage: ./dev ort-openvino [--runs 50] [--warmup 10] [--batch-sizes 1 8] [--extra NAME=MODEL.onnx ...] [--out FILE]
(--extra adds ONNX models, e.g. an NNCF-quantized one from quantize_ort.method: nncf)"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.measure.timing import interleaved, summarize  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu.runtime.preprocess import preprocess, read_image  # noqa: E402


def session(model: Path, provider: str, precision: str = "f32") -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if provider == "cpu":
        return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")  # all of the graph, or an error
    config = {"CPU": {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}}
    return ort.InferenceSession(
        str(model),
        so,
        providers=[("OpenVINOExecutionProvider", {"device_type": "CPU", "load_config": json.dumps(config)})],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--extra", nargs="*", default=[], help="NAME=MODEL.onnx: more models on both providers")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    m = params.load("model")["model"]
    name, size = m["name"], m["imgsz"]
    machine = json.loads((paths.DETAILS / "bench_ort.json").read_text())["machine"]
    models = {
        "fp32": paths.dynamic_onnx(name),
        "int8": paths.ort_int8_onnx(name),
        **{k: Path(v) for k, v in (e.split("=", 1) for e in a.extra)},
    }
    for m in models.values():
        if not m.is_file():
            sys.exit(f"error: {m} not found: run `./dev repro` first")
    images = sorted((paths.EVAL_DIR / "images").iterdir())
    x_all = preprocess([read_image(images[i % len(images)]) for i in range(max(a.batch_sizes))], size)[0]
    configs = {
        f"ort_{m}_{kind}": (m, prov, prec)
        for m in models
        for kind, prov, prec in (
            ("cpu_ep", "cpu", "f32"),
            ("openvino_ep", "openvino", "f32"),
            ("openvino_ep_bf16", "openvino", "bf16"),
        )
    }
    sessions, failed = {}, {}
    for k, (m, prov, prec) in configs.items():
        try:
            sessions[k] = session(models[m], prov, prec)
        except Exception as e:  # onnxruntime raises its own Fail type: record it, measure the rest
            failed[k] = " ".join(str(e).split())[-300:]
            print(f"{k}: cannot load: {failed[k]}", flush=True)
    out: dict = {
        "machine": machine,
        "model": name,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "providers": ort.get_available_providers(),
        "configs": configs,
        "failed": failed,
        "runs": a.runs,
        "figures": {},
    }
    x1 = x_all[:1]
    ref = {
        m: sessions[f"ort_{m}_cpu_ep"].run(None, {sessions[f"ort_{m}_cpu_ep"].get_inputs()[0].name: x1})[0]
        for m in models
        if f"ort_{m}_cpu_ep" in sessions
    }
    for k, s in sessions.items():
        y = s.run(None, {s.get_inputs()[0].name: x1})[0]
        if configs[k][0] in ref:
            out["figures"][f"{k}_max_abs_diff_vs_cpu_ep"] = round(float(np.abs(y - ref[configs[k][0]]).max()), 4)
    for n in a.batch_sizes:
        x = x_all[:n]
        feeds = {k: {sess.get_inputs()[0].name: x} for k, sess in sessions.items()}
        times = interleaved(
            {k: (lambda sess=sess, f=feeds[k]: sess.run(None, f)) for k, sess in sessions.items()}, a.warmup, a.runs
        )
        for k, t in times.items():
            stats = summarize(t, n)
            out["figures"][f"{k}_b{n}_p50_ms"] = stats["p50_ms"]
            out["figures"][f"{k}_b{n}_ips"] = stats["throughput_ips"]
        fp32_cpu = out["figures"][f"ort_fp32_cpu_ep_b{n}_p50_ms"]
        for k in sessions:
            out["figures"][f"{k}_b{n}_vs_fp32_cpu_ep"] = round(fp32_cpu / out["figures"][f"{k}_b{n}_p50_ms"], 3)
            print(
                f"b{n} {k:<28} p50 {out['figures'][f'{k}_b{n}_p50_ms']:8.2f} ms  "
                f"{out['figures'][f'{k}_b{n}_ips']:7.1f} img/s  {out['figures'][f'{k}_b{n}_vs_fp32_cpu_ep']:.2f}x "
                "ort_fp32 on the CPU provider",
                flush=True,
            )
    write_probe("ort_openvino_ep", name, out, a.out, machine)  # this venv has no psutil: the pipeline's id


if __name__ == "__main__":
    main()
