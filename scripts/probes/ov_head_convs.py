"""Which part of the detect head must stay float for OpenVINO INT8: the pipeline's ov_int8 IR (run it
with quantize_ov.scope=head: decode and the head's final convs float) against one quantized the same
way but with those convs INT8 (decode float), both at f32 and bf16 for the float ops: mAP50-95 on the
evaluation split and batch-1 / batch-8 p50 latency side by side (alternating rounds).

Usage (after `dvc repro`): python scripts/probes/ov_head_convs.py [--runs 40] [--out FILE]
(default out: results/<machine id>/<model>/probes/ov_head_convs.json)"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.accuracy.evaluate import decode_once, evaluate_paired  # noqa: E402
from yolo_cpu.accuracy.scoring import coco_map  # noqa: E402
from yolo_cpu.data import calibration as cal  # noqa: E402
from yolo_cpu.data import coco, dataset
from yolo_cpu.io import read_json  # noqa: E402
from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.measure.timing import interleaved  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu.quantize import quantize_ov as q  # noqa: E402
from yolo_cpu.runtime.preprocess import to_tensor  # noqa: E402
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import openvino as ov

    p = params.load("model", "calibration", "quantize_ov", "eval", "eval_timing")
    name, size, c, o = p["model"]["name"], p["model"]["imgsz"], p["calibration"], p["quantize_ov"]
    fp32 = ov_core().read_model(str(paths.ov_fp32_xml(name)))
    used, _ = cal.split_calibration(paths.CALIB_DIR, c["images"], c["check_images"], "calibration")
    inputs = cal.calibration_inputs(used, size, c["normalize"])
    tmp = Path(tempfile.mkdtemp())
    ov.save_model(
        q.quantize(fp32, inputs, o["preset"], o["fast_bias_correction"], q.head_ops(fp32, False)),
        str(tmp / "head_convs_int8.xml"),
        compress_to_fp16=False,
    )
    models = {"head_convs_float": str(paths.ov_int8_xml(name)), "head_convs_int8": str(tmp / "head_convs_int8.xml")}
    gt = read_json(paths.EVAL_GT)
    classes = coco.Classes.from_gt(gt)
    source, _ = decode_once(dataset.load_split(paths.EVAL_DIR), True, size)
    e = {**p["eval"], **p["eval_timing"], "model_only_windows": 2, "model_only_images": 4}
    x = to_tensor(source.images[:8])
    out: dict = {"machine": machine_id(), "model": name, "images": len(source), "runs": a.runs, "figures": {}}
    f = out["figures"]
    for prec in ("f32", "bf16"):
        for k, m in models.items():
            dets, _, _ = evaluate_paired(
                OvRuntime(m, precision=prec), source, e, x[: e["batch"]], None, size, classes.ids
            )
            f[f"{k}_{prec}_map50_95"] = round(100 * coco_map(gt, dets, per_class=False)["map50_95"], 3)
        for n in (1, 8):
            rts = {k: OvRuntime(m, precision=prec, batch=n) for k, m in models.items()}
            t = interleaved({k: (lambda r=r, n=n: r.infer(x[:n], copy=False)) for k, r in rts.items()}, 5, a.runs)
            for k, v in t.items():
                f[f"{k}_{prec}_b{n}_p50_ms"] = round(1000 * float(np.median(v)), 2)
            f[f"head_convs_int8_{prec}_b{n}_speedup"] = round(
                f[f"head_convs_float_{prec}_b{n}_p50_ms"] / f[f"head_convs_int8_{prec}_b{n}_p50_ms"], 3
            )
        print(prec, {k: v for k, v in f.items() if f"_{prec}_" in k}, flush=True)
    write_probe("ov_head_convs", name, out, a.out)


if __name__ == "__main__":
    main()
