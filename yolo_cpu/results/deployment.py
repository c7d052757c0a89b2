"""How to deploy each recommendation: the bundle it gets, its batch size, precision flag and runtime,
the `yolo-cpu detect` command, and what it measured model-only and end to end (bench-deploy)."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.deploy.bundle import folder_name
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS
from yolo_cpu.results.figures import latency_figure

BUNDLED = ("latency_p50", "throughput")  # objectives that get a bundle
E2E_TARGET = 0.9  # end to end should keep this share of the model-only images/s


def _bench_batches(m: dict[str, Any], v: str) -> dict[int, float]:
    """Model-only images/s per batch size from bench-ov (THROUGHPUT hint) or bench-ort (sync runs)."""
    src = m.get("bench_ov" if v in OV_VARIANTS else "bench_ort", {})
    return {n: src[k] for n in src.get("batch_sizes", []) if (k := keys.at_batch(v, n, "ips")) in src}


def _deploy_batches(m: dict[str, Any], v: str) -> dict[int, float]:
    """End-to-end images/s per batch size from bench-deploy (OpenVINO variants only)."""
    dep = m.get("bench_deploy", {})
    return {n: dep[k] for n in dep.get("batch_sizes", []) if (k := f"{v}_deploy_b{n}_e2e_ips") in dep}


def deployment(m: dict[str, Any], objective: str, variant: str, model_name: str) -> dict[str, Any]:
    """The bundle and the figures of one recommended variant. Throughput takes the batch size with the
    best end-to-end images/s where bench-deploy measured the variant (what a user gets), else the best
    model-only batch; latency takes batch 1."""
    var = VARIANTS[variant]
    bench, e2e = _bench_batches(m, variant), _deploy_batches(m, variant)
    if objective == "throughput":
        batch = max(e2e, key=e2e.get) if e2e else (max(bench, key=bench.get) if bench else 1)
    else:
        batch = 1
    runtime = "openvino" if var.is_openvino else "onnxruntime"
    precision = var.hint_precision or "f32"
    bundle = f"bundles/{folder_name(model_name, objective, runtime)}"
    dep = m.get("bench_deploy", {})
    ratio = dep.get(f"{variant}_deploy_b{batch}_vs_model_only")
    return {
        "bundle": bundle,
        "runtime": runtime,
        "batch": batch,
        "precision": precision,
        "command": f"yolo-cpu detect {bundle} IMAGES... > detections.jsonl",
        "flags": f"--batch {batch} --precision {precision}"
        + (" --runtime onnxruntime" if runtime != "openvino" else ""),
        "bench_ips": bench.get(batch),  # bench-ov/bench-ort at this batch
        "model_only_ips": dep.get(f"{variant}_deploy_b{batch}_model_only_ips"),  # bench-deploy, same compiled model
        "e2e_ips": e2e.get(batch),
        "e2e_vs_model_only": ratio,
        "e2e_target": E2E_TARGET,
        "e2e_meets_target": None if ratio is None else ratio >= E2E_TARGET,
        "batch_1_p50_ms": _p50(m, variant),
        # the phase split behind end to end / model-only: CPU milliseconds per image
        "decode_letterbox_ms": dep.get("decode_letterbox_ms_per_image"),
        "nms_ms": dep.get(f"{variant}_deploy_nms_ms_per_image"),
        "model_only_ms": None
        if not dep.get(f"{variant}_deploy_b{batch}_model_only_ips")
        else round(1000 / dep[f"{variant}_deploy_b{batch}_model_only_ips"], 3),
    }


def _p50(m: dict[str, Any], v: str) -> float | None:
    return latency_figure(m, v, 1, "p50_ms")


def deployments(m: dict[str, Any], rec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """deployment() of every bundled objective that has a recommendation."""
    name = m.get("download", {}).get("model", "model")
    return {o: deployment(m, o, rec[o]["variant"], name) for o in BUNDLED if o in rec}
