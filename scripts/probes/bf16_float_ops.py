"""Which float ops of an INT8 YOLOv8/YOLO11 IR lose accuracy when OpenVINO runs them in bf16 (ov_int8_bf16).

OpenVINO's CPU plugin keeps the graph's tail in f32 under a bf16 inference precision, from the outputs
back to the last convolution or matmul. Three INT8 IRs of the model, each compiled at f32 and at bf16,
scored on the held-out calibration images (mAP50-95, points), with the head's ops that ran bf16 read
from the compiled model:
- head_convs_float: the box decode and the head's final 1x1 convolutions float (quantize_ov.scope=head);
- head_convs_float_dfl_f32: the same IR with the DFL's fixed convolution written as multiply-and-sum,
  so the f32 tail reaches back through the DFL to the head's convolutions;
- head_convs_int8: only the box decode float (quantize_ov.scope=decode).
And the pipeline's own ov_int8 IR (its searched scope).

Usage (after `dvc repro`): python scripts/probes/bf16_float_ops.py [--out FILE]
(default out: results/<machine id>/<model>/probes/bf16_float_ops.json)"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data import calibration as cal  # noqa: E402
from yolo_cpu.data import coco  # noqa: E402
from yolo_cpu.io import read_json  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.pipeline import params  # noqa: E402
from yolo_cpu.quantize import quantize_ov as q  # noqa: E402
from yolo_cpu.quantize.head import head_index  # noqa: E402
from yolo_cpu.quantize.heldout import HeldOut  # noqa: E402
from yolo_cpu.runtime.runtimes import ov_core  # noqa: E402


def dfl_as_multiply_sum(model) -> int:
    """Replace the DFL's fixed 1x1 convolution (weights 0..R-1) by Multiply + ReduceSum over channels,
    in place; returns how many were replaced."""
    import openvino.opset13 as ops

    done = 0
    for op in list(model.get_ops()):
        if op.get_type_name() != "Convolution" or "/dfl/" not in op.get_friendly_name():
            continue
        w = op.input_value(1).get_node().get_data().astype(np.float32)
        if not np.array_equal(w.reshape(-1), np.arange(w.size, dtype=np.float32)):
            continue
        prod = ops.multiply(op.input_value(0), ops.constant(w.reshape(1, -1, 1, 1)))
        total = ops.reduce_sum(prod, ops.constant(np.array([1], dtype=np.int64)), keep_dims=True)
        op.output(0).replace(total.output(0))
        done += 1
    model.validate_nodes_and_infer_types()
    return done


def head_ops_in_bf16(model, head: str) -> list[str]:
    """The head's ops (layer types) that the CPU plugin runs in bf16 under a bf16 inference precision."""
    compiled = ov_core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    return sorted(
        {
            f"{op.get_friendly_name()} ({op.get_rt_info()['layerType'].astype(str)})"
            for op in compiled.get_runtime_model().get_ops()
            if op.get_rt_info()["runtimePrecision"].astype(str) == "bf16"
            and op.get_friendly_name().startswith(head)
            and op.get_rt_info()["layerType"].astype(str) != "Reorder"
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    p = params.load("model", "quantize_ov")
    name, size, o = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"]
    calib = cal.load(paths.CALIBRATION, size)
    held = HeldOut.of(calib, coco.Classes.from_gt({"categories": read_json(paths.CALIB_CLASSES)}))
    core = ov_core()
    fp32 = core.read_model(str(paths.ov_fp32_xml(name)))
    decode = q.head_ops(fp32, include_convs=False)
    head_convs = [n for n in q.head_ops(fp32, include_convs=True) if n not in decode]

    def quantize(ignored):
        return q.quantize(fp32, calib.inputs, o["preset"], o["fast_bias_correction"], ignored)

    models = {"head_convs_float": quantize(decode + head_convs)}
    models["head_convs_float_dfl_f32"] = models["head_convs_float"].clone()
    replaced = dfl_as_multiply_sum(models["head_convs_float_dfl_f32"])
    models["head_convs_int8"] = quantize(decode)
    models["pipeline_ov_int8"] = core.read_model(str(paths.ov_int8_xml(name)))
    head = f"/model.{head_index([op.get_friendly_name() for op in fp32.get_ops()])}/"
    out: dict = {
        "model": name,
        "held_out_images": len(held),
        "dfl_convs_rewritten": replaced,
        "fp32_f32_map50_95": round(held.map50_95(fp32, "f32"), 3),
        "fp32_bf16_map50_95": round(held.map50_95(fp32, "bf16"), 3),
        "variants": {},
    }
    for k, m in models.items():
        f32, bf16 = held.map50_95(m, "f32"), held.map50_95(m, "bf16")
        out["variants"][k] = {
            "f32_map50_95": round(f32, 3),
            "bf16_map50_95": round(bf16, 3),
            "bf16_minus_f32": round(bf16 - f32, 3),
            "head_ops_in_bf16": head_ops_in_bf16(m, head),
        }
        print(k, {x: y for x, y in out["variants"][k].items() if x != "head_ops_in_bf16"}, flush=True)
    write_probe("bf16_float_ops", name, out, a.out)


if __name__ == "__main__":
    main()
