"""What export-dynamic's YOLOv8/YOLO11 head rewrite (yolo_cpu/models/head_rewrite.py) buys, side by
side in one run: the model made dynamic without the rewrite against the pipeline's rewritten one, in
ONNX Runtime FP32 and as OpenVINO INT8 IRs (all INT8 but the decode, the same calibration images),
with f32 and bf16 float ops: batch-1 latency and images/s at batch 1 and 8, each ratio (rewritten over
not) with its 95% interval over paired slices.

Usage (after `dvc repro` of a YOLOv8/YOLO11 model): python scripts/probes/head_rewrite.py [--out FILE]
(default out: results/<machine id>/<model>/probes/head_rewrite.json)"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import onnx

from yolo_cpu import paths
from yolo_cpu.accuracy.evaluate import decode_once
from yolo_cpu.data import calibration as cal
from yolo_cpu.data import dataset
from yolo_cpu.measure.benchmark import latency_round, speedup, throughput_round
from yolo_cpu.measure.probes import write_probe
from yolo_cpu.models.export import load_onnx, make_batch_dynamic
from yolo_cpu.models.head_rewrite import split_head_concats
from yolo_cpu.pipeline import params
from yolo_cpu.quantize import quantize_ov as q
from yolo_cpu.runtime.preprocess import to_tensor
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime, ov_core

BATCHES = (1, 8)
PAIR = [("rewritten", "original")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import openvino as ov

    p = params.load("model", "quantize_ov", "bench", "bench_ov")
    name, size, o, b = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"], p["bench"]
    rewritten = paths.dynamic_onnx(name)
    if split_head_concats(onnx.load(str(rewritten))) != 0:
        raise SystemExit(f"{rewritten} still has the head pattern: rerun `dvc repro export-dynamic`")
    work = Path(tempfile.mkdtemp(prefix="head_rewrite_"))
    original = work / f"{name}_dynamic.onnx"
    onnx.save(make_batch_dynamic(load_onnx(paths.fixed_onnx(name)))[0], str(original))
    calib = cal.load(paths.CALIBRATION, size)
    irs = {}
    for key, path in (("rewritten", rewritten), ("original", original)):
        fp32 = ov.convert_model(str(path))
        int8 = q.quantize(fp32, calib.inputs, o["preset"], o["fast_bias_correction"], q.head_ops(fp32, False))
        irs[key] = work / key / f"{name}.xml"
        ov.save_model(int8, str(irs[key]), compress_to_fp16=False)
    source, _ = decode_once(dataset.load_split(paths.EVAL_DIR), True, size)
    x = to_tensor(source.images[: max(BATCHES)])
    out: dict = {
        "model": name,
        "fake_quantize_nodes": {k: q.count_fake_quantize(ov_core().read_model(str(v))) for k, v in irs.items()},
    }
    rts = {"rewritten": OrtRuntime(rewritten), "original": OrtRuntime(original)}
    figures, medians = latency_round(rts, x[:1], b, "ort_fp32", PAIR)
    out["ort_fp32_b1_p50_ms"] = {k: figures[f"{k}_b1_p50_ms"] for k in rts}
    out["ort_fp32_b1_latency_x"] = speedup(medians["rewritten"], medians["original"], False, "x")
    for prec in ("f32", "bf16"):
        rts = {k: OvRuntime(v, precision=prec, batch=1) for k, v in irs.items()}
        figures, medians = latency_round(rts, x[:1], b, f"ov_int8_{prec}", PAIR)
        out[f"ov_int8_{prec}_b1_p50_ms"] = {k: figures[f"{k}_b1_p50_ms"] for k in rts}
        out[f"ov_int8_{prec}_b1_latency_x"] = speedup(medians["rewritten"], medians["original"], False, "x")
        for n in BATCHES:
            rts = {k: OvRuntime(v, precision=prec, hint="THROUGHPUT", batch=n) for k, v in irs.items()}
            figures, ips = throughput_round(rts, x[:n], b, p["bench_ov"]["throughput_slice_seconds"])
            out[f"ov_int8_{prec}_b{n}_ips"] = {k: figures[f"{k}_b{n}_ips"] for k in rts}
            out[f"ov_int8_{prec}_b{n}_ips_x"] = speedup(ips["rewritten"], ips["original"], True, "x")
    print({k: v for k, v in out.items() if k.endswith("_x")})
    write_probe("head_rewrite", name, out, a.out)


if __name__ == "__main__":
    main()
