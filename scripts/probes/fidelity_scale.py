"""Does an INT8 model's fidelity to FP32 predict its mAP drop? On the pipeline's FP32 IR and
calibration set: quantize everything but the box decode (quantize_ov's settings), then coarsen every
FakeQuantize to fewer levels, so the drop grows clear of the sampling noise. For each model: mAP50-95
against the labels and fidelity (mAP50-95 against FP32's detections at conf >= 0.25) on the held-out
calibration images and on the evaluation images, and the drop per point of fidelity lost.

    python scripts/probes/fidelity_scale.py [--levels 256 128 64] [--out FILE]
(default out: results/<machine id>/<model>/probes/fidelity_scale.json)
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from yolo_cpu import paths
from yolo_cpu.accuracy.scoring import coco_map
from yolo_cpu.data import calibration as cal
from yolo_cpu.data import coco
from yolo_cpu.io import read_json
from yolo_cpu.measure.probes import write_probe
from yolo_cpu.pipeline import params
from yolo_cpu.quantize import quantize_ov as q
from yolo_cpu.quantize.scope import HeldOut, REFERENCE_CONF, as_ground_truth, with_levels
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[256, 128, 64])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    p = params.load("model", "quantize_ov")
    name, size = p["model"]["name"], p["model"]["imgsz"]
    import openvino as ov

    fp32 = ov_core().read_model(str(paths.ov_fp32_xml(name)))
    calib = cal.load(paths.CALIBRATION, size)
    held = HeldOut.of(calib, coco.Classes.from_gt({"categories": read_json(paths.CALIB_CLASSES)}))
    eval_gt = read_json(paths.EVAL_GT)
    eval_files = [paths.EVAL_DIR / "images" / i["file_name"] for i in eval_gt["images"]]
    cats = [c["id"] for c in eval_gt["categories"]]
    int8 = q.quantize(fp32, calib.inputs, p["quantize_ov"]["preset"], p["quantize_ov"]["fast_bias_correction"],
                      q.head_ops(fp32, include_convs=False))
    rows, refs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in [("fp32", fp32)] + [(f"int8_{n}", with_levels(int8, n)) for n in a.levels]:
            xml = Path(tmp) / f"{label}.xml"
            ov.save_model(model, str(xml), compress_to_fp16=False)
            held_dets = held.detections(model)
            eval_dets, _ = predict(OvRuntime(xml), eval_files, batch=8, category_ids=cats)
            if label == "fp32":
                refs = {"held": as_ground_truth(held.gt, held_dets, REFERENCE_CONF),
                        "eval": as_ground_truth(eval_gt, eval_dets, REFERENCE_CONF)}
            row = {"model": label,
                   "heldout_map50_95": round(held.score(held.gt, held_dets, None), 3),
                   "heldout_fidelity": round(held.score(refs["held"], held_dets, None), 3),
                   "eval_map50_95": round(100 * coco_map(eval_gt, eval_dets, per_class=False)["map50_95"], 3),
                   "eval_fidelity": round(100 * coco_map(refs["eval"], eval_dets, per_class=False)["map50_95"], 3)}
            rows.append(row)
            print(row, flush=True)
    base = rows[0]
    for r in rows[1:]:
        for split in ("heldout", "eval"):
            drop = base[f"{split}_map50_95"] - r[f"{split}_map50_95"]
            loss = 100 - r[f"{split}_fidelity"]
            r[f"{split}_drop_per_fidelity_point"] = round(drop / loss, 4) if loss > 0 else None
    write_probe("fidelity_scale", name, {"model": name, "held_out_images": len(held), "eval_images": len(eval_files),
                                         "reference_conf": REFERENCE_CONF, "rows": rows}, a.out)


if __name__ == "__main__":
    main()
