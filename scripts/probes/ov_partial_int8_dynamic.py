"""OpenVINO's CPU plugin on an INT8 IR with some layers float, compiled at a dynamic batch: the largest
difference of the objectness/score column from the FP32 IR on 8 held-out images, for each hint
(LATENCY, THROUGHPUT) and shape (dynamic batch, static batch 8), for the all-INT8-but-decode model
and the same model with every convolution's FakeQuantize bypassed (convolutions float).

Found by the INT8 scope search: the THROUGHPUT hint at a dynamic batch gave a partially float model
wrong outputs (mAP near 0), while LATENCY or a static shape gave correct ones. The pipeline compiles
dynamic models with the LATENCY hint only (eval-map, the scope search); THROUGHPUT runs on static
shapes (bench-ov, the deployment detector).

Usage (after `dvc repro`): python scripts/probes/ov_partial_int8_dynamic.py [--out FILE]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data import calibration as cal  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.pipeline import params  # noqa: E402
from yolo_cpu.quantize import heldout  # noqa: E402
from yolo_cpu.quantize import quantize_ov as q  # noqa: E402
from yolo_cpu.runtime.runtimes import ov_core  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    p = params.load("model", "quantize_ov")
    name, size, o = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"]
    core = ov_core()
    calib = cal.load(paths.CALIBRATION, size)
    x = next(calib.held_out_batches(8))[0]
    fp32 = core.read_model(str(paths.ov_fp32_xml(name)))
    ref = core.compile_model(fp32, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0]
    int8 = q.quantize(fp32, calib.inputs, o["preset"], o["fast_bias_correction"], q.head_ops(fp32, False))
    convs = {n for n in heldout.quantized_layers(int8) if "Conv" in n}
    models = {"all_int8": int8, "convs_float": heldout.with_float(int8, convs)}
    v5 = ref.shape[-1] < ref.shape[-2]  # [N, anchors, 5 + classes]; YOLOv8: [N, 4 + classes, anchors]

    def scores(y: np.ndarray) -> np.ndarray:
        return y[..., 4] if v5 else y[:, 4:]

    out: dict = {"model": name, "images": len(x), "float_convs": len(convs), "max_abs_score_diff": {}}
    for k, m in models.items():
        for hint in ("LATENCY", "THROUGHPUT"):
            for shape in ("dynamic", "static"):
                mm = m.clone()
                if shape == "static":
                    mm.reshape([len(x), 3, size, size])
                c = core.compile_model(mm, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": hint})
                y = c.create_infer_request().infer({0: x})[0]
                diff = float(np.abs(scores(y) - scores(ref)).max())
                out["max_abs_score_diff"][f"{k}_{hint}_{shape}"] = round(diff, 4)
                print(k, hint, shape, round(diff, 4), flush=True)
    write_probe("ov_partial_int8_dynamic", name, out, a.out)


if __name__ == "__main__":
    main()
