"""convert-IR stage: OpenVINO IR from the dynamic ONNX, verified against ONNX Runtime FP32."""

from __future__ import annotations

import time

import numpy as np

from yolo_cpu import paths
from yolo_cpu.data import dataset
from yolo_cpu.errors import UserError
from yolo_cpu.io import atomic_path, require_file
from yolo_cpu.measure import budget
from yolo_cpu.models.metadata import from_onnx, stamp_ir
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.runtime.postprocess import match_rate, postprocess
from yolo_cpu.runtime.preprocess import preprocess
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "convert")
    name, c = p["model"]["name"], p["convert"]
    budget.check(*budget.needs(p)["convert_ir"])
    src = require_file(paths.dynamic_onnx(name), "dynamic ONNX model")
    import openvino as ov

    xml = paths.ov_fp32_xml(name)
    with atomic_path(xml.parent) as tmp_dir:
        t0 = time.perf_counter()
        try:
            model = ov.convert_model(str(src))
        except Exception as e:
            raise UserError(f"OpenVINO cannot convert {src}: {e}") from e
        stamp_ir(model, from_onnx(src))  # the ONNX's metadata_props into the IR's rt_info
        tmp_dir.mkdir(parents=True)
        ov.save_model(model, str(tmp_dir / xml.name), compress_to_fp16=c["compress_to_fp16"])
        convert_s = time.perf_counter() - t0
        dynamic_kept = model.input(0).get_partial_shape()[0].is_dynamic

        imgs, _, _ = dataset.load_images(dataset.load_split(paths.EVAL_DIR, max(c["verify_batches"])))
        batch, lbs = preprocess(imgs, p["model"]["imgsz"])
        ort_rt, ov_rt = OrtRuntime(src), OvRuntime(tmp_dir / xml.name, precision="f32")
        diffs, agree = {}, {}
        for n in c["verify_batches"]:
            ref, got = ort_rt.infer(batch[:n]), ov_rt.infer(batch[:n])
            diffs[n] = float(np.abs(ref - got).max())
            agree[n] = match_rate(postprocess(ref, lbs[:n]), postprocess(got, lbs[:n]))
        worst = max(diffs.values())
        if worst > c["tolerance"]:
            raise UserError(f"IR differs from ONNX Runtime by {worst:.3g} > convert.tolerance {c['tolerance']}")
        ir_bytes = sum(f.stat().st_size for f in tmp_dir.iterdir())
    write_results(
        "convert_ir",
        {"max_abs_diff": worst, "detection_agreement_min": min(agree.values())},
        {
            "compress_to_fp16": c["compress_to_fp16"],
            "dynamic_batch": dynamic_kept,
            "convert_seconds": round(convert_s, 3),
            "ir_bytes": ir_bytes,
            "verify_precision": ov_rt.settings()["actual_inference_precision_hint"],
            **{f"max_abs_diff_b{n}": d for n, d in diffs.items()},
            **{f"detection_agreement_b{n}": a for n, a in agree.items()},
        },
        started,
    )


if __name__ == "__main__":
    run(main)
