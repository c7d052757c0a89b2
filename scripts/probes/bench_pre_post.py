"""Cost of preprocessing one 640x480 COCO image and postprocessing yolov5n's output at conf 0.001
(the evaluation setting), against yolov5n's batch-1 inference, timed side by side in one run.

Usage: python scripts/probes/bench_pre_post.py [--runs 200] [--model models/yolov5n.onnx]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu.measure import timing  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.runtime.postprocess import candidates, detect_layout, postprocess  # noqa: E402
from yolo_cpu.runtime.preprocess import preprocess, read_image  # noqa: E402
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--model", default="models/yolov5n.onnx")
    ap.add_argument("--image", default=None, help="a 640x480 image (default: first such eval image)")
    args = ap.parse_args()
    image = (
        Path(args.image)
        if args.image
        else next(p for p in sorted(Path("data/eval/images").glob("*.jpg")) if read_image(p).shape[:2] == (480, 640))
    )
    img = read_image(image)
    x, lbs = preprocess([img])
    ort, ov = OrtRuntime(args.model), OvRuntime(args.model, precision="f32")
    y = ort.infer(x).copy()
    n_cand = len(candidates(y[0], detect_layout(y), 0.001)[1])
    fns = {
        "preprocess": lambda: preprocess([img]),
        "postprocess_conf0.001": lambda: postprocess(y, lbs, conf=0.001, iou=0.65, max_det=300),
        "infer_ort_fp32": lambda: ort.infer(x, copy=False),
        "infer_ov_fp32": lambda: ov.infer(x, copy=False),
    }
    med = {k: timing.summarize(t, 1)["p50_ms"] for k, t in timing.interleaved(fns, 10, args.runs).items()}
    pre_post = med["preprocess"] + med["postprocess_conf0.001"]
    print(f"image {image.name} ({img.shape[1]}x{img.shape[0]}), {n_cand} candidates at conf 0.001")
    for k, v in med.items():
        print(f"  {k:24s} p50 {v:7.3f} ms")
    for ref in ("infer_ort_fp32", "infer_ov_fp32"):
        print(f"  preprocess + postprocess = {100 * pre_post / med[ref]:.1f}% of {ref} (target < 15%)")
    write_probe(
        "bench_pre_post",
        Path(args.model).stem,
        {
            "image": image.name,
            "candidates": n_cand,
            "runs": args.runs,
            "p50_ms": {k: round(v, 4) for k, v in med.items()},
        },
    )


if __name__ == "__main__":
    main()
