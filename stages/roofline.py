"""roofline stage: the model's operations per image counted from its ONNX graph, and this CPU's peak
operations per second per precision (f32, bf16 where the CPU has it, INT8), measured with OpenVINO
on one large convolution. The report puts each variant's achieved operations per second against
the peak for its precision."""

from __future__ import annotations

import time

from yolo_cpu import paths
from yolo_cpu.io import require_file
from yolo_cpu.measure.roofline import PRECISIONS, count_macs, measure_peak
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.runtime.runtimes import ov_supports_bf16


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "roofline")
    name, r = p["model"]["name"], p["roofline"]
    ops = count_macs(require_file(paths.fixed_onnx(name), "the model's ONNX"))
    figures = {
        "model_gflops": ops["gflops"],
        "model_layers_counted": ops["layers"],
        "model_macs_by_op": ops["by_op"],
        "imgsz": p["model"]["imgsz"],
        **r,
    }
    for precision in PRECISIONS:
        if precision == "bf16" and not ov_supports_bf16():
            figures["peak_bf16_note"] = "this CPU has no bf16"
            continue
        m = measure_peak(precision, r["channels"], r["size"], r["seconds"])
        print(f"peak {precision}: {m['gops']} G operations/s (convolution ran in {m['conv_runs_in']})")
        figures.update(
            {
                f"peak_{precision}_gops": m["gops"],
                f"peak_{precision}_ips": m["ips"],
                f"peak_{precision}_rounds_gops": m["rounds_gops"],
                f"peak_{precision}_conv_runs_in": m["conv_runs_in"],
            }
        )
    figures["peak_macs_per_inference"] = m["macs"]
    write_results("roofline", figures, None, started)


if __name__ == "__main__":
    run(main)
