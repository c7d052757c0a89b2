"""quantize-ort stage: an INT8 ONNX that ONNX Runtime runs fast (variant ort_int8), checked against
the FP32 ONNX on held-out calibration images."""

from __future__ import annotations

import time

import onnx

from yolo_cpu import paths
from yolo_cpu.data import calibration as cal
from yolo_cpu.io import atomic_path, require_file
from yolo_cpu.measure import budget
from yolo_cpu.models.metadata import from_onnx, stamp_onnx
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.quantize import quantize_ort as q
from yolo_cpu.quantize.agreement import agreement
from yolo_cpu.quantize.head import QuantizeError, head_patterns, matching
from yolo_cpu.results.plots import write_csv
from yolo_cpu.runtime.runtimes import OrtRuntime


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "quantize_ort")
    name, size, o = p["model"]["name"], p["model"]["imgsz"], p["quantize_ort"]
    fp32 = require_file(paths.dynamic_onnx(name), "dynamic FP32 ONNX")
    images = len(cal.manifest(paths.CALIBRATION)["calibration"])
    q.check_memory(o["method"], images)
    budget.check(*budget.needs(p, calib_images=images)["quantize"])
    calib = cal.load(paths.CALIBRATION, size)  # the calibrate stage's images, letterboxed once
    inputs = calib.inputs
    names = [n.name for n in onnx.load(str(fp32), load_external_data=False).graph.node]
    patterns = head_patterns(names, o["ignore_head_convs"]) if o["ignore_head"] else []
    head = matching(names, patterns)
    if o["ignore_head"] and not head:
        raise QuantizeError(f"quantize_ort.ignore_head is on but the head scope matched no node of {fp32}")
    out = paths.ort_int8_onnx(name)
    float_nodes: list[str] = []
    sqnr: dict[str, float] = {}
    aligned = 0
    with atomic_path(out.parent) as tmp:
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        head_nodes = len(head)
        if o["method"] == "nncf":
            q.quantize_nncf(fp32, tmp / out.name, inputs, head)
        else:
            kept = q.quantize_qdq(
                fp32,
                tmp / out.name,
                inputs,
                o["method"],
                patterns,
                o["min_sqnr_db"],
                o["float_stem"],
                o["sqnr_images"],
                o["align_concat"],
            )
            float_nodes, sqnr, aligned = kept["float_nodes"], kept["sqnr_db"], kept["aligned_concat_tensors"]
            head_nodes = kept["head_nodes"]  # counted on the pre-processed graph the quantizer saw
        seconds = time.perf_counter() - t0
        stamp_onnx(tmp / out.name, from_onnx(fp32))
        print(
            f"ignored scope (detect head): {head_nodes} ONNX Runtime nodes; kept float for precision or "
            f"speed: {len(float_nodes)} nodes"
        )
        agree = agreement(OrtRuntime(fp32), OrtRuntime(tmp / out.name), calib)
        quantized = q.count_quantize_linear(tmp / out.name)
        int8_bytes = (tmp / out.name).stat().st_size

    floated = {n.rsplit("/", 1)[0] for n in float_nodes}
    write_csv(
        paths.PLOTS / "ort_silu_sqnr.csv",
        [
            {"layer": t.rsplit("/", 1)[0], "sqnr_db": v, "kept_float": t.rsplit("/", 1)[0] in floated}
            for t, v in sqnr.items()
        ],
        fieldnames=["layer", "sqnr_db", "kept_float"],
    )
    write_results(
        "quantize_ort",
        {
            "quantize_linear_nodes": quantized,
            "float_nodes": len(float_nodes),
            "silu_layers_below_min_sqnr": sum(v < o["min_sqnr_db"] for v in sqnr.values()),
            "agreement_vs_fp32": round(agree, 4),
        },
        {
            "calibration_images_used": len(inputs),
            "check_images": len(calib.held_out_files),
            "head_nodes": head_nodes,
            "aligned_concat_tensors": aligned,
            "float_layers": sorted({n.rsplit("/", 2)[0] for n in float_nodes if n.endswith("Conv")}),
            "silu_sqnr_db_min": min(sqnr.values()) if sqnr else None,
            "quantize_seconds": round(seconds, 2),
            "bytes_fp32_onnx": fp32.stat().st_size,
            "bytes_int8_onnx": int8_bytes,
        },
        started,
    )


if __name__ == "__main__":
    run(main)
