"""Report sections on memory and accuracy: resident memory, mAP before and after INT8, and what the
OpenVINO INT8 model keeps float."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.results.render import table, with_interval
from yolo_cpu.results.report.context import dataset_name

EVAL_ORDER = [v for v in VARIANTS if v != "ort_fp32_fixed"]  # rows of the memory and mAP tables


def memory(m: dict[str, Any]) -> list[str]:
    mem = m.get("memory", {})
    phases = ("start", "after_import", "after_load", "after_warmup", "peak")
    rows = [
        [v, *(mem[f"{v}_rss_{k}_mb"] for k in phases), mem[f"{v}_model_bytes"] / 2**20]
        for v in EVAL_ORDER
        if f"{v}_rss_start_mb" in mem
    ]
    if not rows:
        return []
    return [
        "## Memory (resident, MiB, fresh process each)",
        "",
        table(["variant", "start", "after import", "after load", "after warm-up", "peak", "model MiB"], rows),
        "",
    ]


def accuracy(m: dict[str, Any]) -> list[str]:
    ev = m.get("eval_map", {})
    rows = [
        [
            v,
            ev[keys.map50_95(v)],
            ev.get(f"{v}_map50"),
            with_interval(ev, keys.map_delta(v), "") if keys.map_delta(v) in ev else None,
            ev[keys.map50_95(v, True)],
            ev.get(keys.map_delta(v, True)),
            ev[f"{v}_images_per_s"],
            ev.get(f"{v}_model_only_images_per_s"),
            ev.get(f"{v}_eval_vs_model_only"),
        ]
        for v in EVAL_ORDER
        if keys.map50_95(v) in ev
    ]
    if not rows:
        return []
    subset = ev.get("class_subset") or []
    return [
        "## mAP before and after INT8",
        "",
        f"pycocotools on {ev.get('images')} {dataset_name(m)} images (conf {ev.get('conf')}, IoU {ev.get('iou')}, "
        f"max_det {ev.get('max_det')}, batch {ev.get('batch')}); the subset is {len(subset)} classes: "
        f"{', '.join(subset)}. Deltas are against FP32 of the same runtime, with the 95% interval of a paired "
        f"bootstrap over the images ({ev.get('bootstrap')} resamples: FP32 and the variant scored on the same "
        "resample); the worst classes with their intervals are in the chart below. Eval images/s covers the whole "
        "evaluation (decode share, preprocessing, inference, NMS); model-only images/s is the same model at "
        "the same batch size, timed in windows spread through the evaluation.",
        "",
        table(
            [
                "variant",
                "mAP50-95",
                "mAP50",
                "delta",
                "subset mAP50-95",
                "subset delta",
                "eval images/s",
                "model-only images/s",
                "eval / model-only",
            ],
            rows,
        ),
        "",
        "![mAP against latency](../plots/map_vs_latency.png)",
        "",
        "![Per-class AP change against FP32](../plots/per_class_ap.png)",
        "",
    ]


def int8_scope(m: dict[str, Any]) -> list[str]:
    """Which layers the OpenVINO INT8 model keeps float, and why (quantize-ov's scope)."""
    q = m.get("quantize_ov", {})
    if "scope" not in q:
        return []
    layers = q.get("float_layers", [])
    if q["scope"] != "accuracy_control":
        head = f"Scope `{q['scope']}` (quantize_ov.scope): the box decode ({q.get('decode_ops')} ops) stays float" + (
            ", and these layers: " if layers else ", everything else is INT8."
        )
        return [
            "## What the OpenVINO INT8 model keeps float",
            "",
            head,
            "",
            *([table(["layer", "why"], [[r["layer"], r["reason"]] for r in layers]), ""] if layers else []),
        ]
    verdict = "within" if q["budget_met"] else "over (NNCF could not reach it within quantize_ov.max_float_layers)"
    out = [
        "## What the OpenVINO INT8 model keeps float",
        "",
        f"NNCF's accuracy control (quantize_ov.scope=accuracy_control) quantizes everything but the box decode "
        f"({q.get('decode_ops')} ops), validates on {q['held_out_images']} held-out calibration images (mAP50-95 "
        f"against their labels) and, while the drop exceeds {100 * q['max_drop']:g} points (report.max_map_drop), "
        f"ranks the quantized ops on {q['ranking_subset_size']} of them and reverts the worst to float, at most "
        f"{q['max_num_iterations']} times. Held-out mAP50-95: FP32 {q['heldout_map50_95_fp32']:.3f}, INT8 "
        f"{q['heldout_map50_95_int8']:.3f}, a drop of {q['heldout_drop_points']:.3f} "
        f"points: {verdict} the budget.",
        "",
    ]
    if layers:
        out += [table(["layer", "why"], [[r["layer"], r["reason"]] for r in layers]), ""]
    else:
        out += ["Every quantizable layer is INT8.", ""]
    return out
