"""bundle stage: for each bundled recommendation (batch-1 latency, throughput), a self-contained
folder under bundles/: the model files and a metadata.yaml in Ultralytics' layout plus how to run it
and what it measured on this machine."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from yolo_cpu import paths
from yolo_cpu.deploy import bundle
from yolo_cpu.deploy.detector import DEPLOY_CONF, DEPLOY_IOU
from yolo_cpu.io import atomic_path, require_file
from yolo_cpu.measure.env import machine_id
from yolo_cpu.models import metadata
from yolo_cpu.models.variants import BASELINE, VARIANTS
from yolo_cpu.pipeline.stage import read_results, run, write_results


def model_files(model: str, variant: str) -> list:
    """The variant's model file(s): an IR's .xml and .bin, or one .onnx."""
    main = require_file(VARIANTS[variant].model_path(model), f"model of {variant}")
    return [main, require_file(main.with_suffix(".bin"), f"weights of {variant}")] if main.suffix == ".xml" else [main]


def _version() -> str:
    try:
        return version("yolo-cpu")
    except PackageNotFoundError:
        return "unknown"


def bundle_metadata(objective: str, variant: str, d: dict, rec: dict, meta: metadata.ModelMeta,
                    model_file: str, download: dict, ev: dict) -> dict:
    """metadata.yaml: Ultralytics' keys (names, imgsz, stride, task, batch, args...), then ours."""
    machine = machine_id()
    base = BASELINE.get(variant, variant)
    int8 = VARIANTS[variant].precision == "int8"
    return {
        "description": f"{download['model']} as {variant}, recommended for {objective} on {machine['cpu']}",
        "author": "yolo-cpu",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": _version(),
        **bundle.ultralytics_keys(meta.names, meta.imgsz, meta.stride, meta.task, d["batch"], int8),
        "deploy": {
            "model": model_file,
            "runtime": d["runtime"],
            "precision": d["precision"],  # OpenVINO's INFERENCE_PRECISION_HINT
            "conf": DEPLOY_CONF,
            "iou": DEPLOY_IOU,
            "layout": meta.layout,
            "variant": variant,
            "objective": objective,
            "command": d["command"],
        },
        "source_model_sha256": download.get("model_source_sha256"),
        "measured": {
            "machine": machine,
            "map50_95": ev.get(f"{variant}_map50_95"),
            "map50_95_fp32": ev.get(f"{base}_map50_95"),
            "map_drop": rec["map_drop"],
            "map_delta_95": [ev.get(f"{variant}_delta_map50_95_lo"), ev.get(f"{variant}_delta_map50_95_hi")],
            "bench_ips": d["bench_ips"],
            "model_only_ips": d["model_only_ips"],
            "e2e_ips": d["e2e_ips"],
            "e2e_vs_model_only": d["e2e_vs_model_only"],
            "batch_1_p50_ms": d["batch_1_p50_ms"],
        },
    }


def main() -> None:
    started = time.perf_counter()
    rec = read_results("report")
    download, ev = read_results("download"), read_results("eval_map")
    model = download["model"]
    written, headline = {}, {}
    with atomic_path(paths.BUNDLES) as tmp:
        tmp.mkdir()
        for objective, d in rec.get("deployments", {}).items():
            variant = rec["objectives"][objective]["variant"]
            files = model_files(model, variant)
            meta = metadata.read(files[0])
            folder = tmp / bundle.folder_name(model, objective, d["runtime"])
            if folder.exists():
                raise RuntimeError(f"two objectives map to one bundle folder {folder.name}")
            md = bundle_metadata(objective, variant, d, rec["objectives"][objective], meta, files[0].name,
                                 download, ev)
            bundle.write(folder, files, md)
            written[objective] = {"folder": d["bundle"], "variant": variant, **md["deploy"], "batch": d["batch"]}
            headline[f"{objective}_bundle_mb"] = round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 2)
    write_results("bundle", headline, {"bundles": written}, started)
    for objective, w in written.items():
        print(f"{objective}: {w['folder']} ({w['variant']}, batch {w['batch']}, {w['precision']})")


if __name__ == "__main__":
    run(main)
