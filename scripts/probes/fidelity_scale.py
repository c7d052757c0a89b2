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
from yolo_cpu.quantize.heldout import REFERENCE_CONF, HeldOut, as_ground_truth, with_levels
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core


class Judge:
    """Scores OpenVINO models on the held-out calibration images and the evaluation images, against
    the labels and against the first model scored (FP32: its detections at conf >= REFERENCE_CONF)."""

    def __init__(self, size: int) -> None:
        self.calib = cal.load(paths.CALIBRATION, size)
        self.held = HeldOut.of(self.calib, coco.Classes.from_gt({"categories": read_json(paths.CALIB_CLASSES)}))
        self.eval_gt = read_json(paths.EVAL_GT)
        self.eval_files = [paths.EVAL_DIR / "images" / i["file_name"] for i in self.eval_gt["images"]]
        self.refs: dict[str, dict] = {}

    def row(self, label: str, model) -> dict:
        """{model, heldout_/eval_ map50_95 and fidelity}; the first call's model becomes the reference."""
        import openvino as ov

        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "model.xml"
            ov.save_model(model, str(xml), compress_to_fp16=False)
            held_dets = self.held.detections(model)
            eval_dets, _ = predict(
                OvRuntime(xml), self.eval_files, batch=8, category_ids=[c["id"] for c in self.eval_gt["categories"]]
            )
        if not self.refs:
            self.refs = {
                "held": as_ground_truth(self.held.gt, held_dets, REFERENCE_CONF),
                "eval": as_ground_truth(self.eval_gt, eval_dets, REFERENCE_CONF),
            }
        row = {
            "model": label,
            "heldout_map50_95": round(self.held.score(self.held.gt, held_dets, None), 3),
            "heldout_fidelity": round(self.held.score(self.refs["held"], held_dets, None), 3),
            "eval_map50_95": round(100 * coco_map(self.eval_gt, eval_dets, per_class=False)["map50_95"], 3),
            "eval_fidelity": round(100 * coco_map(self.refs["eval"], eval_dets, per_class=False)["map50_95"], 3),
        }
        print(row, flush=True)
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[256, 128, 64])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    p = params.load("model", "quantize_ov")
    name, size = p["model"]["name"], p["model"]["imgsz"]
    fp32 = ov_core().read_model(str(paths.ov_fp32_xml(name)))
    judge = Judge(size)
    int8 = q.quantize(
        fp32,
        judge.calib.inputs,
        p["quantize_ov"]["preset"],
        p["quantize_ov"]["fast_bias_correction"],
        q.head_ops(fp32, include_convs=False),
    )
    rows = [judge.row("fp32", fp32)] + [judge.row(f"int8_{n}", with_levels(int8, n)) for n in a.levels]
    base = rows[0]
    for r in rows[1:]:
        for split in ("heldout", "eval"):
            drop = base[f"{split}_map50_95"] - r[f"{split}_map50_95"]
            loss = 100 - r[f"{split}_fidelity"]
            r[f"{split}_drop_per_fidelity_point"] = round(drop / loss, 4) if loss > 0 else None
    write_probe(
        "fidelity_scale",
        name,
        {
            "model": name,
            "held_out_images": len(judge.held),
            "eval_images": len(judge.eval_files),
            "reference_conf": REFERENCE_CONF,
            "rows": rows,
        },
        a.out,
    )


if __name__ == "__main__":
    main()
