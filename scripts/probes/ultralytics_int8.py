"""The anchor users reach for first, `yolo export format=openvino int8=True`, against this project's
ov_int8 IR of the same model, calibrated on the same calibration images (the calibrate stage's 300):
mAP50-95 on the evaluation split with the paired-bootstrap interval of each drop against the FP32 IR,
with the float ops at f32 and at bf16; and speed side by side in interleaved slices, batch-1 latency
and images/s at batch 1 and 8, both IRs compiled alike (static shape, same hint and precision), with
the 95% interval of each ratio.

Usage (after `dvc repro` of a YOLOv8/YOLO11 model; needs ./dev export-extra):
  python scripts/probes/ultralytics_int8.py [--pt FILE | --arch yolov8n.yaml] [--out FILE]
With model.source an Ultralytics ONNX export, the .pt is rebuilt from it (--arch: its architecture
YAML, default <model.name>.yaml). Writes results/<machine id>/<model>/probes/ultralytics_int8.json."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.accuracy.evaluate import decode_once  # noqa: E402
from yolo_cpu.accuracy.map_bootstrap import matches_of, paired_delta  # noqa: E402
from yolo_cpu.accuracy.scoring import coco_map, evaluated  # noqa: E402
from yolo_cpu.data import calibration as cal  # noqa: E402
from yolo_cpu.data import coco, dataset  # noqa: E402
from yolo_cpu.io import read_json  # noqa: E402
from yolo_cpu.measure.benchmark import latency_round, speedup, throughput_round  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.models.ultralytics_export import pt_from_onnx  # noqa: E402
from yolo_cpu.pipeline import params  # noqa: E402
from yolo_cpu.quantize.quantize_ov import count_fake_quantize  # noqa: E402
from yolo_cpu.runtime.predict import predict  # noqa: E402
from yolo_cpu.runtime.preprocess import to_tensor  # noqa: E402
from yolo_cpu.runtime.runtimes import OvRuntime, ov_core  # noqa: E402

BATCHES = (1, 8)


def ultralytics_int8(pt: Path, calib_files: list[Path], names: list[str], size: int, work: Path) -> Path:
    """Ultralytics' own INT8 OpenVINO export of `pt` (dynamic shape), calibrated on `calib_files` (its
    calibration reads the data YAML's val split; labels beside them under labels/)."""
    from ultralytics import YOLO

    listing = work / "calibration.txt"
    listing.write_text("".join(f"{f.resolve()}\n" for f in calib_files))
    data = work / "calibration.yaml"
    data.write_text(
        yaml.safe_dump({"path": str(work), "train": str(listing), "val": str(listing), "names": dict(enumerate(names))})
    )
    os.environ.setdefault("YOLO_OFFLINE", "1")
    out = YOLO(str(pt)).export(
        format="openvino", int8=True, data=str(data), imgsz=size, batch=1, dynamic=True, fraction=1.0
    )
    return next(Path(out).glob("*.xml"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pt", type=Path)
    ap.add_argument("--arch")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    p = params.load("model", "bench", "bench_ov", "eval")
    name, size, b = p["model"]["name"], p["model"]["imgsz"], p["bench"]
    work = Path(tempfile.mkdtemp(prefix="ultralytics_int8_"))
    pt = a.pt or (
        Path(p["model"]["source"])
        if p["model"]["source"].endswith(".pt")
        else pt_from_onnx(paths.MODELS / f"{name}.onnx", a.arch or f"{name}.yaml", work / f"{name}.pt")
    )
    m = cal.manifest(paths.CALIBRATION)
    calib_files = [Path(m["calib_dir"]) / "images" / f for f in m["calibration"]]
    classes = coco.Classes.from_gt({"categories": read_json(paths.CALIB_CLASSES)})
    theirs = ultralytics_int8(pt, calib_files, [c["name"] for c in classes.categories()], size, work)
    models = {"ov_fp32": paths.ov_fp32_xml(name), "ov_int8": paths.ov_int8_xml(name), "ultralytics_int8": theirs}
    out: dict = {
        "model": name,
        "ultralytics_ir": str(theirs),
        "calibration_images": len(calib_files),
        "fake_quantize_nodes": {
            k: count_fake_quantize(ov_core().read_model(str(v))) for k, v in models.items() if k != "ov_fp32"
        },
    }

    gt = read_json(paths.EVAL_GT)
    source, _ = decode_once(dataset.load_split(paths.EVAL_DIR), True, size)
    e = p["eval"]
    matches = {}
    for prec in ("f32", "bf16"):
        for k, xml in models.items():
            if k == "ov_fp32" and prec == "bf16":
                continue
            dets, _ = predict(
                OvRuntime(xml, precision=prec, size=size),
                source,
                batch=8,
                conf=e["conf"],
                iou=e["iou"],
                max_det=e["max_det"],
                category_ids=coco.Classes.from_gt(gt).ids,
                desc=f"{k} {prec}",
            )
            ev = evaluated(gt, dets)
            matches[f"{k}_{prec}"] = matches_of(ev)
            out[f"{k}_{prec}_map50_95"] = round(100 * coco_map(gt, dets, per_class=False, ev=ev)["map50_95"], 3)
            if k != "ov_fp32":
                d = paired_delta(matches["ov_fp32_f32"], matches[f"{k}_{prec}"], 1000, 0)
                out[f"{k}_{prec}_drop"] = [round(-d.delta, 3), round(-d.hi, 3), round(-d.lo, 3)]
        d = paired_delta(matches[f"ultralytics_int8_{prec}"], matches[f"ov_int8_{prec}"], 1000, 0)
        out[f"ours_minus_theirs_{prec}_map50_95"] = [round(d.delta, 3), round(d.lo, 3), round(d.hi, 3)]
        print(prec, {k: v for k, v in out.items() if prec in k}, flush=True)

    x = to_tensor(source.images[: max(BATCHES)])
    pair = [("ov_int8", "ultralytics_int8")]
    for prec in ("f32", "bf16"):
        rts = {k: OvRuntime(models[k], precision=prec, batch=1, size=size) for k in ("ov_int8", "ultralytics_int8")}
        figures, medians = latency_round(rts, x[:1], b, f"latency_{prec}", pair)
        out[f"{prec}_b1_p50_ms"] = {k: figures[f"{k}_b1_p50_ms"] for k in rts}
        out[f"{prec}_ours_over_theirs_b1_latency"] = speedup(
            medians["ov_int8"], medians["ultralytics_int8"], False, "x"
        )
        for n in BATCHES:
            rts = {
                k: OvRuntime(models[k], precision=prec, hint="THROUGHPUT", batch=n, size=size)
                for k in ("ov_int8", "ultralytics_int8")
            }
            figures, ips = throughput_round(rts, x[:n], b, p["bench_ov"]["throughput_slice_seconds"])
            out[f"{prec}_b{n}_ips"] = {k: figures[f"{k}_b{n}_ips"] for k in rts}
            out[f"{prec}_ours_over_theirs_b{n}_ips"] = speedup(ips["ov_int8"], ips["ultralytics_int8"], True, "x")
        print(prec, {k: v for k, v in out.items() if k.startswith(prec)}, flush=True)
    write_probe("ultralytics_int8", name, out, a.out)


if __name__ == "__main__":
    main()
