"""An NNCF-quantized ONNX of the pipeline's dynamic model (the same NNCF call as quantize_ort.method:
nncf, on the same calibration images as quantize-ort, head kept float), for ONNX Runtime's OpenVINO provider: `./dev ort-openvino --extra nncf_int8=OUT`.

Usage (after `dvc repro`): python scripts/nncf_onnx_int8.py OUT.onnx"""
from __future__ import annotations

import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_cpu.data import calibration as cal  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu import paths
from yolo_cpu.quantize import quantize_ort  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    p = params.load("model", "calibration")
    m, c = p["model"], p["calibration"]
    src = paths.dynamic_onnx(m["name"])
    names = [n.name for n in onnx.load(str(src)).graph.node]
    images, _ = cal.split_calibration(paths.CALIB_DIR, c["images"], c["check_images"], "calibration")
    inputs = cal.calibration_inputs(images, m["imgsz"], c["normalize"])
    quantize_ort.quantize_nncf(src, Path(sys.argv[1]), inputs, cal.matching(names, cal.head_patterns(names, True)))
    print(f"wrote {sys.argv[1]}")


if __name__ == "__main__":
    main()
