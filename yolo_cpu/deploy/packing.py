"""Packing the recommendation into bundles: for each bundled objective (batch-1 latency, throughput),
a folder with the variant's model files and a metadata.yaml in Ultralytics' layout plus how to run it,
what it measured and (when bench-serve measured it) how to serve it. bench-serve packs into a
temporary folder to serve what `bundle` will pack; `bundle` packs bundles/."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from yolo_cpu.deploy import bundle
from yolo_cpu.deploy.detector import DEPLOY_CONF, DEPLOY_IOU
from yolo_cpu.io import require_file
from yolo_cpu.measure.env import machine_id
from yolo_cpu.models import metadata
from yolo_cpu.models.variants import BASELINE, VARIANTS


def model_files(model: str, variant: str) -> list[Path]:
    """The variant's model file(s): an IR's .xml and .bin, or one .onnx."""
    main = require_file(VARIANTS[variant].model_path(model), f"model of {variant}")
    return [main, require_file(main.with_suffix(".bin"), f"weights of {variant}")] if main.suffix == ".xml" else [main]


def _version() -> str:
    try:
        return version("yolo-cpu")
    except PackageNotFoundError:
        return "unknown"


def bundle_metadata(
    objective: str,
    variant: str,
    deployment: dict,
    choice: dict,
    meta: metadata.ModelMeta,
    model_file: str,
    download: dict,
    evaluation: dict,
) -> dict[str, Any]:
    """metadata.yaml: Ultralytics' keys (names, imgsz, stride, task, batch, args...), then ours."""
    machine = machine_id()
    base = BASELINE.get(variant, variant)
    int8 = VARIANTS[variant].precision == "int8"
    ev = evaluation
    return {
        "description": f"{download['model']} as {variant}, recommended for {objective} on {machine['cpu']}",
        "author": "yolo-cpu",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": _version(),
        **bundle.ultralytics_keys(meta.names, meta.imgsz, meta.stride, meta.task, deployment["batch"], int8),
        "deploy": {
            "model": model_file,
            "runtime": deployment["runtime"],
            "precision": deployment["precision"],  # OpenVINO's INFERENCE_PRECISION_HINT
            "conf": DEPLOY_CONF,
            "iou": DEPLOY_IOU,
            "layout": meta.layout,
            "variant": variant,
            "objective": objective,
            "command": deployment["command"],
        },
        "source_model_sha256": download.get("model_source_sha256"),
        "measured": {
            "machine": machine,
            "map50_95": ev.get(f"{variant}_map50_95"),
            "map50_95_fp32": ev.get(f"{base}_map50_95"),
            "map_drop": choice["map_drop"],
            "map_delta_95": [ev.get(f"{variant}_delta_map50_95_lo"), ev.get(f"{variant}_delta_map50_95_hi")],
            "bench_ips": deployment["bench_ips"],
            "model_only_ips": deployment["model_only_ips"],
            "e2e_ips": deployment["e2e_ips"],
            "e2e_vs_model_only": deployment["e2e_vs_model_only"],
            "batch_1_p50_ms": deployment["batch_1_p50_ms"],
        },
    }


def pack(
    dest: Path, recommendation: dict, download: dict, evaluation: dict, serve_sections: dict[str, dict] | None = None
) -> dict[str, dict[str, Any]]:
    """One bundle folder per bundled objective under `dest`; {objective: folder, variant, settings}.
    serve_sections: {variant: the serve: section bench-serve measured for it}."""
    model = download["model"]
    written: dict[str, dict[str, Any]] = {}
    for objective, d in recommendation.get("deployments", {}).items():
        variant = recommendation["objectives"][objective]["variant"]
        files = model_files(model, variant)
        folder = dest / bundle.folder_name(model, objective, d["runtime"])
        if folder.exists():
            raise RuntimeError(f"two objectives map to one bundle folder {folder.name}")
        md = bundle_metadata(
            objective,
            variant,
            d,
            recommendation["objectives"][objective],
            metadata.read(files[0]),
            files[0].name,
            download,
            evaluation,
        )
        if serve_sections and variant in serve_sections:
            md["serve"] = serve_sections[variant]
        bundle.write(folder, files, md)
        written[objective] = {
            "folder": d["bundle"],
            "path": folder,
            "variant": variant,
            **md["deploy"],
            "batch": d["batch"],
            "bytes": sum(f.stat().st_size for f in folder.iterdir()),
        }
    return written


def to_serve(recommendation: dict) -> dict[str, dict[str, Any]]:
    """{variant: its bundled objectives, runtime and precision}: all that serving a bundle depends on
    (serving forms its own batches; the bundle's batch is the Detector's)."""
    out: dict[str, dict[str, Any]] = {}
    for objective, d in recommendation.get("deployments", {}).items():
        variant = recommendation["objectives"][objective]["variant"]
        entry = out.setdefault(variant, {"objectives": [], "runtime": d["runtime"], "precision": d["precision"]})
        entry["objectives"].append(objective)
    return out


def serving_bundle(dest: Path, model: str, variant: str, runtime: str, precision: str) -> Path:
    """A bundle folder of the variant as `bundle` packs it, holding what serving reads: the model files,
    names and input size, runtime, precision and the deployment thresholds."""
    files = model_files(model, variant)
    meta = metadata.read(files[0])
    folder = dest / f"{model}_{variant}"
    bundle.write(
        folder,
        files,
        {
            **bundle.ultralytics_keys(
                meta.names, meta.imgsz, meta.stride, meta.task, 1, VARIANTS[variant].precision == "int8"
            ),
            "deploy": {
                "model": files[0].name,
                "runtime": runtime,
                "precision": precision,
                "conf": DEPLOY_CONF,
                "iou": DEPLOY_IOU,
                "layout": meta.layout,
                "variant": variant,
            },
        },
    )
    return folder
