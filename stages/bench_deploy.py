"""bench-deploy stage: the deployment path (JPEG files in, detections out; yolo_cpu/deploy/detector.py) per
OpenVINO variant and batch size: end-to-end images/s with the preprocessing inside the compiled model
and with numpy's, beside model-only images/s of the same compiled model, timed in alternating rounds;
its detections checked against the evaluation path's."""

from __future__ import annotations

import statistics
import time
from typing import Any

from yolo_cpu import paths
from yolo_cpu.data.dataset import load_split
from yolo_cpu.deploy.detector import Detector, model_only, reference_detections
from yolo_cpu.io import require_file
from yolo_cpu.measure import budget
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.runtime.postprocess import match_rate
from yolo_cpu.runtime.preprocess import letterbox, read_image


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def nms_seconds(detector: Detector, images: list) -> float:
    """Seconds the detector's postprocessing (candidates, NMS, boxes back to pixels) takes over the
    outputs of all images, in one thread."""
    batches = list(detector.batches(images))
    outputs = [detector.compiled({0: detector.model_input(b)})[0].copy() for b in batches]
    return timed(lambda: [detector.postprocess_batch(y, b) for y, b in zip(outputs, batches)])


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "bench_deploy")
    name, size, d = p["model"]["name"], p["model"]["imgsz"], p["bench_deploy"]
    budget.check(*budget.needs(p)["bench_deploy"])
    variants = [v for v in d["variants"] if VARIANTS[v].supported()]
    images = load_split(paths.EVAL_DIR, d["images"])
    headline: dict[str, Any] = {}
    detail: dict[str, Any] = {
        "images": len(images),
        "rounds": d["rounds"],
        "batch_sizes": d["batch_sizes"],
        "unsupported_variants": [v for v in d["variants"] if v not in variants],
    }
    for v in variants:
        model = require_file(VARIANTS[v].model_path(name), f"model for {v}")
        precision = VARIANTS[v].hint_precision
        best: tuple[float, Detector | None] = (0.0, None)
        for n in d["batch_sizes"]:
            in_model = Detector(model, precision, batch=n, imgsz=size)
            numpy_pre = Detector(model, precision, batch=n, imgsz=size, in_model_preprocessing=False)
            ready = [in_model.model_input(b) for b in in_model.batches(images)]
            ways = {
                "e2e": lambda in_model=in_model: in_model.detect(images),
                "e2e_numpy_preprocessing": lambda numpy_pre=numpy_pre: numpy_pre.detect(images),
                "model_only": lambda in_model=in_model, ready=ready: model_only(in_model, ready),
            }
            for fn in ways.values():  # warm-up
                fn()
            seconds: dict[str, list[float]] = {k: [] for k in ways}
            for _ in range(d["rounds"]):  # alternating rounds: the three see the same minutes of the machine
                for k, fn in ways.items():
                    seconds[k].append(timed(fn))
            ips = {k: len(images) / statistics.median(s) for k, s in seconds.items()}
            key = f"{v}_deploy_b{n}"
            detail.update({f"{key}_{k}_ips": round(val, 2) for k, val in ips.items()})
            detail[f"{key}_vs_model_only"] = round(ips["e2e"] / ips["model_only"], 3)
            detail[f"{key}_in_model_preprocessing_speedup"] = round(ips["e2e"] / ips["e2e_numpy_preprocessing"], 3)
            detail[f"{key}_requests"] = in_model.requests
            if ips["e2e"] > best[0]:
                best = (ips["e2e"], in_model)
                headline[f"{v}_deploy_best_ips"] = round(ips["e2e"], 2)
                headline[f"{v}_deploy_vs_model_only"] = detail[f"{key}_vs_model_only"]
                detail[f"{v}_deploy_best_batch"] = n
        ref = reference_detections(model, precision, images, size)
        headline[f"{v}_deploy_agreement"] = round(match_rate(ref, best[1].detect(images)), 4)  # at its best batch
        detail[f"{v}_deploy_nms_ms_per_image"] = round(1000 * nms_seconds(best[1], images) / len(images), 3)
    # the phase split of end to end: decoding and letterboxing (per image, one thread), NMS (per variant)
    detail["decode_letterbox_ms_per_image"] = round(
        1000 * timed(lambda: [letterbox(read_image(f), size) for f in images]) / len(images), 3
    )
    write_results("bench_deploy", headline, detail, started)


if __name__ == "__main__":
    run(main)
