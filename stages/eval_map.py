"""eval-map stage: COCO mAP of each variant on the evaluation split, all classes and a class subset,
deltas against FP32 of the same runtime with 95% intervals from a paired bootstrap over images (overall
and per class), evaluation images/s against model-only images/s, and an optional INT8 drop gate."""

from __future__ import annotations

import time
from typing import Any

from yolo_cpu import paths
from yolo_cpu.accuracy.evaluate import check_int8_drop, decode_once, evaluate_paired, speed_figures
from yolo_cpu.accuracy.map_bootstrap import (
    DeltaInterval,
    Matches,
    delta_keys,
    matches_of,
    names_of,
    paired_delta,
    pairwise_differences,
    per_class_rows,
)
from yolo_cpu.accuracy.scoring import MAP_KEYS, coco_map, evaluated
from yolo_cpu.data import coco, dataset
from yolo_cpu.io import atomic_path, read_json, require_file, write_json
from yolo_cpu.measure import budget
from yolo_cpu.measure.timing import summarize
from yolo_cpu.models.variants import BASELINE, VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.results.plots import delta_bars_png, write_csv
from yolo_cpu.runtime.predict import Letterboxed
from yolo_cpu.runtime.preprocess import preprocess, to_tensor

WORST_CLASSES = 20  # classes per variant in the per-class chart
HEADLINE = ("map50_95", "subset_map50_95", "images_per_s")  # per variant; the rest: detail


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "eval", "eval_timing")
    name, size, e = p["model"]["name"], p["model"]["imgsz"], {**p["eval"], **p["eval_timing"]}
    budget.check(*budget.needs(p)["eval_map"])
    gt = read_json(require_file(paths.EVAL_GT, "evaluation ground truth"))
    classes = coco.Classes.from_gt(gt)  # COCO's 80 with ids 1-90, or a data YAML's own
    subset = dataset.choose_subset(
        e["class_subset_size"], e["class_subset_seed"], e["class_subset_names"], classes.names
    )
    subset_idx = [classes.names.index(c) for c in subset]
    images = dataset.load_split(paths.EVAL_DIR)
    unsupported = [v for v in e["variants"] if not VARIANTS[v].supported()]  # bf16 without CPU support
    variants = [v for v in e["variants"] if v not in unsupported]
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    headline: dict[str, Any] = {}
    detail: dict[str, Any] = {
        "images": len(images),
        "unsupported_variants": unsupported,
        "class_subset": subset,
        **{k: e[k] for k in ("conf", "iou", "max_det", "batch")},
    }
    source, shared = decode_once(images, e["decode_once"], size)
    detail.update(shared)
    # Model-only input: real images at the evaluation batch size, from the decode-once pass if it ran.
    x = (
        to_tensor(source.images[: e["batch"]])
        if isinstance(source, Letterboxed)
        else preprocess(dataset.load_images(images[: e["batch"]])[0], size)[0]
    )
    per_class: dict[str, dict[str, float]] = {}
    matches: dict[str, Matches] = {}
    for v in variants:
        # Synchronous batches: OpenVINO's LATENCY hint gives one request all cores.
        opts = (
            {"threads": e["threads"], "hint": "LATENCY"} if VARIANTS[v].is_openvino else {"intra_threads": e["threads"]}
        )
        rt = VARIANTS[v].load(name, **opts)
        xv = x[: rt.fixed_batch] if rt.fixed_batch is not None else x
        dets, t, model_only = evaluate_paired(rt, source, e, xv, f"eval {v}", size, classes.ids)
        write_json(paths.PREDICTIONS / f"{v}.json", dets)
        ev = evaluated(gt, dets)  # pycocotools matches once: for the mAP and for the bootstrap
        full, sub = coco_map(gt, dets, ev=ev), coco_map(gt, dets, subset_idx)
        matches[v] = matches_of(ev)
        figures = {f"{v}_{k}": round(100 * full[k], 3) for k in MAP_KEYS}
        figures.update({f"{v}_subset_{k}": round(100 * sub[k], 3) for k in MAP_KEYS})
        figures.update(
            speed_figures(
                v, t, shared["decode_once_seconds"] / len(variants), summarize(model_only, len(xv))["throughput_ips"]
            )
        )
        for k, val in figures.items():
            (headline if k.removeprefix(f"{v}_") in HEADLINE else detail)[k] = val
        per_class[v] = {c: round(100 * ap, 3) for c, ap in full["per_class"].items()}
    deltas: dict[str, DeltaInterval] = {}
    for v, base in BASELINE.items():
        if v in variants and base in variants:
            for k in ("map50_95", "subset_map50_95"):
                headline[f"{v}_delta_{k}"] = round(headline[f"{v}_{k}"] - headline[f"{base}_{k}"], 3)
            deltas[v] = paired_delta(matches[base], matches[v], e["bootstrap_resamples"], e["bootstrap_seed"])
            headline.update(delta_keys(v, deltas[v]))
            detail[f"{v}_per_class_delta"] = per_class_rows(deltas[v], names_of(gt, list(deltas[v].per_class)))
    detail.update(
        bootstrap=e["bootstrap_resamples"],
        bootstrap_seed=e["bootstrap_seed"],
        bootstrap_reference={v: BASELINE[v] for v in deltas},
        map_differences=pairwise_differences(matches, e["bootstrap_resamples"], e["bootstrap_seed"]),
    )
    with atomic_path(paths.PLOTS / "per_class_ap") as tmp:  # one file per variant: one DVC plot panel each
        for v, pc in per_class.items():
            rows = {r["class"]: r for r in detail.get(f"{v}_per_class_delta", [])}
            write_csv(
                tmp / f"{v}.csv",
                [
                    {
                        "class": c,
                        "ap50_95": ap,
                        **{k: rows.get(c, {}).get(k, "") for k in ("delta", "delta_lo", "delta_hi", "instances")},
                    }
                    for c, ap in pc.items()
                ],
            )
        for v in unsupported:  # a file for each declared variant (dvc.yaml's plot names them), empty here
            write_csv(tmp / f"{v}.csv", [], ["class", "ap50_95", "delta", "delta_lo", "delta_hi", "instances"])
    if deltas:
        delta_bars_png(
            paths.PLOTS / "per_class_ap.png",
            {v: detail[f"{v}_per_class_delta"] for v in deltas},
            WORST_CLASSES,
            "AP50-95 change against FP32 (points), 95% interval",
            f"Per-class AP change: the {WORST_CLASSES} worst classes per variant",
        )
    write_results("eval_map", headline, detail, started)
    check_int8_drop(headline, e["max_int8_drop"])


if __name__ == "__main__":
    run(main)
