"""eval-map stage: COCO mAP of each variant on the evaluation split, all classes and the class subset,
with INT8/bf16 deltas against FP32 of the same runtime and an optional INT8 drop gate."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm import tqdm

from .core import coco, dataset, params, paths
from .core.bench import interleaved, summarize
from .core.evaluate import Letterboxed, PredictTimes, coco_map, letterbox_bytes, letterbox_split, predict
from .core.io import read_json, require_file, write_json
from .core.plots import bar_png, write_csv
from .core.preprocess import preprocess, to_tensor
from .core.runtimes import VARIANTS
from .core.stage import run, write_metrics

MODEL_ONLY_IMAGES = 32  # images per model-only timing window (at least 4 calls)

BASELINE = {"ort_int8": "ort_fp32", "ov_bf16": "ov_f32", "ov_int8": "ov_f32", "ov_int8_bf16": "ov_f32"}
INT8_VARIANTS = [v for v in BASELINE if "int8" in v]  # gated by eval.max_int8_drop


class Int8DropError(RuntimeError):
    """An INT8 variant lost more mAP than eval.max_int8_drop allows."""


def model_only_runs(batch: int) -> int:
    """Timed model-only calls per window: about MODEL_ONLY_IMAGES images, whatever the batch size."""
    return max(4, -(-MODEL_ONLY_IMAGES // batch))


def evaluate_paired(rt, source: list | Letterboxed, e: dict[str, Any], x: np.ndarray, desc: str, size: int,
                    bad_input: str) -> tuple[list, PredictTimes, list[float]]:
    """Predict in chunks with model-only timing windows before, between and after them, so the two
    figures sample the same minutes of this shared machine (its slow spells last seconds to minutes).
    Returns detections, summed prediction times and every model-only call's seconds."""
    # Chunk bounds on whole batches, so every batch holds the same images as in one unchunked run.
    n_batches = -(-len(source) // e["batch"])
    bounds = np.minimum(np.linspace(0, n_batches, e["model_only_windows"], dtype=int) * e["batch"], len(source))
    dets: list = []
    times = PredictTimes()
    runs = model_only_runs(len(x))
    with tqdm(total=len(source), desc=desc, unit="img", disable=desc is None) as bar:  # one bar per variant
        model_only = timed_window(rt, x, runs, bar)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi == lo:
                continue
            d, t = predict(rt, source[lo:hi], e["batch"], e["conf"], e["iou"], e["max_det"], bad_input,
                           imgsz=size, prefetch=e["prefetch"], progress=bar)
            dets += d
            times.add(t)
            model_only += timed_window(rt, x, runs, bar)
    return dets, times, model_only


def timed_window(rt, x: np.ndarray, runs: int, bar: tqdm) -> list[float]:
    """One window of timed model-only calls on a real preprocessed batch of the evaluation batch
    size, shown on the variant's progress bar while it runs."""
    bar.set_postfix_str("timing model-only")
    seconds = interleaved({"m": lambda: rt.infer(x, copy=False)}, warmup=1, runs=runs)["m"]
    bar.set_postfix_str("")
    return seconds


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "eval", "data")
    name, e, size = p["model"]["name"], p["eval"], p["model"]["imgsz"]
    gt = read_json(require_file(paths.EVAL_GT, "evaluation ground truth"))
    subset = dataset.read_subset(require_file(paths.SUBSET_FILE, "class subset file"))
    images = dataset.load_split(paths.EVAL_DIR)
    for v in [v for v in e["variants"] if not VARIANTS[v].supported()]:
        print(f"eval-map: {v} needs bf16, which this CPU lacks: recorded as unsupported")
    variants = [v for v in e["variants"] if VARIANTS[v].supported()]
    for v in variants:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    metrics: dict[str, Any] = {"images": len(images), "conf": e["conf"], "iou": e["iou"], "max_det": e["max_det"],
                               "batch": e["batch"], "prefetch": e["prefetch"], "decode_once": e["decode_once"],
                               "subset_classes": len(subset),
                               **{f"{v}_supported": v in variants for v in e["variants"]}}
    source, shared_s, skipped = decode_once(images, e, size, p["data"]["bad_input"], metrics)
    # Model-only input: real images at the evaluation batch size, from the decode-once pass if it ran.
    if isinstance(source, Letterboxed):
        sample_x = to_tensor(source.images[: e["batch"]])
    else:
        sample_x, _ = preprocess(dataset.load_images(images[: e["batch"]], p["data"]["bad_input"])[0], size)
    rows = []
    for v in variants:
        var = VARIANTS[v]
        # Synchronous batches: OpenVINO's LATENCY hint gives one request all cores (THROUGHPUT would
        # split them into streams that a single synchronous request cannot use).
        ropts = {"intra_threads": e["threads"]} if var.runtime.kind == "onnxruntime" else \
            {"threads": e["threads"], "hint": "LATENCY"}
        rt = var.load(name, **ropts)
        x = sample_x[: rt.fixed_batch] if rt.fixed_batch is not None else sample_x
        dets, t, model_only = evaluate_paired(rt, source, e, x, f"eval {v}", size, p["data"]["bad_input"])
        write_json(paths.DATA / "predictions" / f"{v}.json", dets)
        full = coco_map(gt, dets)
        sub = coco_map(gt, dets, subset)
        for k in ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large"):
            metrics[f"{v}_{k}"] = round(100 * full[k], 3)
            metrics[f"{v}_subset_{k}"] = round(100 * sub[k], 3)
        # The shared decode + letterbox pass is charged to the variants in equal parts.
        ips = t.images / (t.wall + shared_s / len(variants))
        model_ips = summarize(model_only, len(x))["throughput_ips"]
        metrics.update({
            f"{v}_images_per_s": round(ips, 3),
            f"{v}_model_only_images_per_s": round(model_ips, 3),
            f"{v}_eval_vs_model_only": round(ips / model_ips, 3),
            f"{v}_decode_ms_per_image": round(1000 * t.decode / t.images, 3),
            f"{v}_preprocess_ms_per_image": round(1000 * t.preprocess / t.images, 3),
            f"{v}_infer_ms_per_image": round(1000 * t.infer / t.images, 3),
            f"{v}_postprocess_ms_per_image": round(1000 * t.postprocess / t.images, 3),
            f"{v}_non_inference_share": round(1 - t.infer / (t.wall + shared_s / len(variants)), 3),
            f"{v}_skipped_images": len(t.skipped) + skipped,
        })
        for cls in coco.NAMES:
            if cls in full["per_class"]:
                rows.append({"variant": v, "class": cls, "ap50_95": round(100 * full["per_class"][cls], 3)})
    for v, base in BASELINE.items():
        if v in variants and base in variants:
            metrics[f"{v}_delta_map50_95"] = round(metrics[f"{v}_map50_95"] - metrics[f"{base}_map50_95"], 3)
            metrics[f"{v}_subset_delta_map50_95"] = round(
                metrics[f"{v}_subset_map50_95"] - metrics[f"{base}_subset_map50_95"], 3)
    write_csv(paths.PLOTS / "per_class_ap.csv", rows)
    classes = [c for c in coco.NAMES if any(r["class"] == c for r in rows)]
    bar_png(paths.PLOTS / "per_class_ap.png", classes,
            {v: [next((r["ap50_95"] for r in rows if r["variant"] == v and r["class"] == c), 0.0) for c in classes]
             for v in variants}, "AP50-95 (%)", "Per-class AP")
    write_metrics(paths.METRICS / "eval_map.json", metrics, started)

    check_int8_drop(metrics, e["max_int8_drop"])


def decode_once(images: list, e: dict[str, Any], size: int, bad_input: str, metrics: dict[str, Any]
                ) -> tuple[list | Letterboxed, float, int]:
    """With eval.decode_once (and the letterboxed split fitting in a third of free memory), decode and
    letterbox every image once for all variants. Returns (source for predict, its seconds, skipped)."""
    import psutil

    need = letterbox_bytes(len(images), size)
    free = psutil.virtual_memory().available
    if not e["decode_once"] or need > free / 3:
        if e["decode_once"]:
            print(f"eval.decode_once: {need / 2**20:.0f} MiB of letterboxed images would not fit in a third of "
                  f"the {free / 2**20:.0f} MiB free; decoding per variant instead")
        metrics["decode_once_used"] = False
        return images, 0.0, 0
    t0 = time.perf_counter()
    lbx = letterbox_split(images, size, bad_input, desc="decode + letterbox (once)")
    shared_s = time.perf_counter() - t0
    metrics.update({"decode_once_used": True, "decode_once_mib": round(need / 2**20, 1),
                    "decode_once_seconds": round(shared_s, 3),
                    "decode_once_decode_ms_per_image": round(1000 * lbx.decode_s / max(len(lbx), 1), 3),
                    "decode_once_letterbox_ms_per_image": round(1000 * lbx.letterbox_s / max(len(lbx), 1), 3)})
    return lbx, shared_s, len(lbx.skipped)


def check_int8_drop(metrics: dict[str, Any], max_drop: float | None) -> None:
    """Raise naming the variant when an INT8 variant lost more mAP50-95 points than max_drop."""
    if max_drop is None:
        return
    for v in INT8_VARIANTS:
        drop = -metrics.get(f"{v}_delta_map50_95", 0.0)
        if drop > max_drop:
            raise Int8DropError(f"{v} loses {drop:.2f} mAP50-95 points against FP32, more than "
                                f"eval.max_int8_drop={max_drop} (metrics were written)")


if __name__ == "__main__":
    run(main)
