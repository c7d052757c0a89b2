"""Which fixed INT8 scope keeps more accuracy on the evaluation images, side by side in one run? On the
pipeline's FP32 IR and calibration set (quantize_ov's preset and bias correction): `decode` (all INT8
but the box decode) and `head` (also the head's final convolutions float), each run with f32 and with
bf16 float ops; every mAP50-95 change against the FP32 IR and head minus decode with paired-bootstrap
95% intervals over the evaluation images. The pipeline's own search cannot tell them apart on the
held-out images; this says whether the evaluation images can.

    python scripts/probes/int8_scopes.py [--out FILE]
(default out: results/<machine id>/<model>/probes/int8_scopes.json)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from yolo_cpu import paths
from yolo_cpu.accuracy.evaluate import decode_once
from yolo_cpu.accuracy.map_bootstrap import matches_of, paired_delta
from yolo_cpu.accuracy.scoring import coco_map, evaluated
from yolo_cpu.data import calibration as cal
from yolo_cpu.data import coco, dataset
from yolo_cpu.io import read_json
from yolo_cpu.measure.probes import write_probe
from yolo_cpu.pipeline import params
from yolo_cpu.quantize import quantize_ov as q
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core

RESAMPLES = 1000


def interval(d) -> list[float]:
    return [round(d.delta, 3), round(d.lo, 3), round(d.hi, 3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import openvino as ov

    p = params.load("model", "quantize_ov", "eval")
    name, size, o, e = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"], p["eval"]
    fp32_xml = paths.ov_fp32_xml(name)
    fp32 = ov_core().read_model(str(fp32_xml))
    calib = cal.load(paths.CALIBRATION, size)
    work = Path(tempfile.mkdtemp(prefix="int8_scopes_"))
    irs = {"fp32": fp32_xml}
    for scope in ("decode", "head"):
        model = q.quantize(
            fp32, calib.inputs, o["preset"], o["fast_bias_correction"], q.head_ops(fp32, include_convs=scope == "head")
        )
        irs[scope] = work / scope / f"{name}.xml"
        ov.save_model(model, str(irs[scope]), compress_to_fp16=False)
    gt = read_json(paths.EVAL_GT)
    source, _ = decode_once(dataset.load_split(paths.EVAL_DIR), True, size)
    ids = coco.Classes.from_gt(gt).ids
    out: dict = {
        "model": name,
        "preset": o["preset"],
        "fast_bias_correction": o["fast_bias_correction"],
        "eval_images": len(gt["images"]),
        "resamples": RESAMPLES,
        "map50_95": {},
        "change_vs_fp32": {},
        "head_minus_decode": {},
    }
    matches = {}
    for key, xml, precision in [
        ("fp32", irs["fp32"], "f32"),
        *[(f"{s}_{prec}", irs[s], prec) for prec in ("f32", "bf16") for s in ("decode", "head")],
    ]:
        dets, _ = predict(
            OvRuntime(xml, precision=precision, size=size),
            source,
            batch=8,
            conf=e["conf"],
            iou=e["iou"],
            max_det=e["max_det"],
            category_ids=ids,
            desc=key,
        )
        ev = evaluated(gt, dets)
        matches[key] = matches_of(ev)
        out["map50_95"][key] = round(100 * coco_map(gt, dets, per_class=False, ev=ev)["map50_95"], 3)
        if key != "fp32":
            out["change_vs_fp32"][key] = interval(paired_delta(matches["fp32"], matches[key], RESAMPLES, 0))
    for prec in ("f32", "bf16"):
        out["head_minus_decode"][prec] = interval(
            paired_delta(matches[f"decode_{prec}"], matches[f"head_{prec}"], RESAMPLES, 0)
        )
    print({k: out[k] for k in ("change_vs_fp32", "head_minus_decode")})
    write_probe("int8_scopes", name, out, a.out)


if __name__ == "__main__":
    main()
