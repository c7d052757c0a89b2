"""quantize-ov stage: NNCF INT8 IR for OpenVINO (variants ov_int8, ov_int8_bf16) with the scope
quantize_ov.scope says (NNCF's accuracy control within report.max_map_drop on the held-out calibration
images, or a fixed one), checked against the FP32 IR on those images."""

from __future__ import annotations

import time

from yolo_cpu import paths
from yolo_cpu.data import calibration as cal
from yolo_cpu.data import coco
from yolo_cpu.io import atomic_path, read_json, require_file
from yolo_cpu.measure import budget
from yolo_cpu.models.metadata import from_ov_model, stamp_ir
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.quantize import accuracy_control
from yolo_cpu.quantize import quantize_ov as q
from yolo_cpu.quantize.agreement import agreement
from yolo_cpu.quantize.heldout import HeldOut
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "quantize_ov", "report")  # report.max_map_drop: accuracy control's budget
    name, size, o = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"]
    ir = require_file(paths.ov_fp32_xml(name), "FP32 IR")
    images = len(cal.manifest(paths.CALIBRATION)["calibration"])
    budget.check(*budget.needs(p, calib_images=images)["quantize"])
    calib = cal.load(paths.CALIBRATION, size)  # the calibrate stage's images, letterboxed once
    inputs, held_out = calib.inputs, calib.held_out_files
    import openvino as ov

    fp32 = ov_core().read_model(str(ir))
    decode = q.head_ops(fp32, include_convs=False)  # the box decode always stays float
    out = paths.ov_int8_xml(name)
    scope_details: dict = {}
    with atomic_path(out.parent) as tmp:
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        if o["scope"] == "accuracy_control":
            held = HeldOut.of(calib, coco.Classes.from_gt({"categories": read_json(paths.CALIB_CLASSES)}))
            int8, scope_details = accuracy_control.quantize(
                fp32,
                inputs,
                held,
                o["preset"],
                o["fast_bias_correction"],
                decode,
                p["report"]["max_map_drop"],
                o["max_float_layers"],
                o["rank_images"],
            )
            float_layers = [f["layer"] for f in scope_details["float_layers"]]
        else:
            float_layers = [n for n in q.head_ops(fp32, include_convs=o["scope"] == "head") if n not in decode]
            int8 = q.quantize(fp32, inputs, o["preset"], o["fast_bias_correction"], decode + float_layers)
            scope_details = {
                "float_layers": [
                    {"layer": n, "reason": "quantize_ov.scope=head: the detect head's final convolutions"}
                    for n in float_layers
                ]
            }
        seconds = time.perf_counter() - t0
        stamp_ir(int8, from_ov_model(fp32, str(ir)))
        ov.save_model(int8, str(tmp / out.name), compress_to_fp16=False)
        agree = agreement(OvRuntime(ir, precision="f32"), OvRuntime(tmp / out.name, precision="f32"), calib)
        int8_bytes = sum(f.stat().st_size for f in tmp.iterdir())

    write_results(
        "quantize_ov",
        {
            "fake_quantize_nodes": q.count_fake_quantize(int8),
            "agreement_vs_fp32": round(agree, 4),
            "float_layer_count": len(float_layers),
            **(
                {"heldout_drop_points": scope_details["heldout_drop_points"]}
                if o["scope"] == "accuracy_control"
                else {}
            ),
        },
        {
            "calibration_images_used": len(inputs),
            "check_images": len(held_out),
            "preprocessing": "letterbox 640, pad 114, BGR->RGB, CHW, /255 (shared preprocess)",
            "scope": o["scope"],
            "decode_ops": len(decode),
            **{k: v for k, v in scope_details.items() if k != "heldout_drop_points"},  # that one is a headline
            "quantize_seconds": round(seconds, 2),
            "bytes_fp32_ir": ir.stat().st_size + ir.with_suffix(".bin").stat().st_size,
            "bytes_int8_ir": int8_bytes,
        },
        started,
    )


if __name__ == "__main__":
    run(main)
