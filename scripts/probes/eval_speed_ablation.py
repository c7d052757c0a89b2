"""What eval-map's speed machinery buys today, measured side by side in one process on the real
evaluation split (run after `dvc repro`):

- prefetch threads (decode/tensor of the next batch and NMS of the previous one overlap inference):
  images/s of a whole prediction run with and without, alternating over several rounds;
- NMS: the block fixpoint against a plain sequential greedy loop (which must keep the same boxes).

Usage: python scripts/probes/eval_speed_ablation.py [--variant ov_int8] [--rounds 3] [--images 500]"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data.dataset import load_split  # noqa: E402
from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.models.variants import VARIANTS  # noqa: E402
from yolo_cpu.pipeline import params
from yolo_cpu.runtime import postprocess as pp  # noqa: E402
from yolo_cpu.runtime import predict as pr  # noqa: E402


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, thr: float, max_det: int) -> np.ndarray:
    """The textbook sequential greedy NMS (one kept box per step), as the reference."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < max_det:
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[pp.box_iou(boxes[i : i + 1], boxes[rest])[0] <= thr]
    return np.asarray(keep, dtype=np.int64)


def run_predict(rt, lbx, batch: int, prefetch: bool) -> float:
    """Images/s of one prediction run over the letterboxed split."""
    _, t = pr.predict(rt, lbx, batch, 0.001, 0.65, 300, prefetch=prefetch)
    return t.images / t.wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="ov_int8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    p = params.load("model", "eval", "eval_timing")
    name, batch = p["model"]["name"], p["eval_timing"]["batch"]
    lbx = pr.letterbox_split(load_split(paths.EVAL_DIR, args.images), p["model"]["imgsz"])
    rt = VARIANTS[args.variant].load(name, hint="LATENCY")
    print(f"{machine_id()['cpu']}, {args.variant}, {len(lbx)} images, batch {batch}")

    configs: dict[bool, list[float]] = {True: [], False: []}
    run_predict(rt, lbx[:32], batch, True)  # warm-up
    for r in range(args.rounds):
        for prefetch in (True, False) if r % 2 == 0 else (False, True):
            configs[prefetch].append(run_predict(rt, lbx, batch, prefetch))
    base = statistics.median(configs[True])
    for prefetch, ips in configs.items():
        m = statistics.median(ips)
        print(f"  prefetch={prefetch!s:5}: {m:7.2f} images/s (median of {len(ips)}), {m / base:.3f}x of prefetch on")

    # NMS on the real candidates of 100 images.
    cands = []
    x = pr.to_tensor(lbx.images[:100])
    for i in range(0, 100, batch):
        y = rt.infer(x[i : i + batch])
        cands += pp.select_candidates(y, 0.001)
    offset = [(b + (c[:, None] * pp.MAX_WH).astype(np.float32), s) for b, s, c in cands]
    for b, s in offset:
        assert np.array_equal(pp.nms(b, s, 0.65, 300), greedy_nms(b, s, 0.65, 300)), "NMS differs from greedy"
    timings = {"block fixpoint (today)": pp.nms, "sequential greedy loop": greedy_nms}
    res = {k: [] for k in timings}
    for _ in range(5):
        for k, fn in timings.items():
            t0 = time.perf_counter()
            for b, s in offset:
                fn(b, s, 0.65, 300)
            res[k].append(1000 * (time.perf_counter() - t0) / len(offset))
    n = statistics.mean(len(s) for _, s in offset)
    print(f"NMS per image ({n:.0f} candidates on average, identical boxes from both):")
    for k, ms in res.items():
        print(f"  {k:42s} {min(ms):6.3f} ms (min of 5)")
    write_probe(
        "eval_speed_ablation",
        name,
        {
            "variant": args.variant,
            "images": len(lbx),
            "batch": batch,
            "images_per_s": {f"prefetch_{k}": round(statistics.median(v), 2) for k, v in configs.items()},
            "nms_ms_per_image_min_of_5": {k: round(min(v), 4) for k, v in res.items()},
            "nms_candidates_mean": round(n, 1),
        },
    )


if __name__ == "__main__":
    main()
