"""Run OpenVINO's benchmark_app and this project's harness on the same IR and settings, in paired
rounds, and print median latency and throughput side by side with their ratio.

Each round runs both tools back to back (order alternating) and compiles afresh. This machine
has slow and fast spells lasting seconds to minutes (bf16 batch-1 latency: 11.9 ms through one
process, 9.8 ms in processes a few minutes later, 12.1 then 10.4 ms within another), so the headline figure is the median of the per-round ratios (a paired comparison); the
median of each tool's rounds and the best round of each are reported too.

Usage (after `dvc repro quantize-ov`):
  python scripts/compare_benchmark_app.py [--variants ov_fp32 ov_bf16 ov_int8 ov_int8_bf16] [--rounds 8] [--seconds 3]
Writes the headline (median of the paired ratios per variant and hint) and every round to
results/<machine id>/<model>/benchmark_app_compare.json (batch 1) or benchmark_app_compare_b<N>.json:
with the machine it was measured on, not among the pipeline's tracked metrics."""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_cpu.pipeline import params
from yolo_cpu import paths
from yolo_cpu.measure import timing  # noqa: E402
from yolo_cpu.data.dataset import sample_batch  # noqa: E402
from yolo_cpu.measure.env import environment, machine_id  # noqa: E402
from yolo_cpu.io import write_json  # noqa: E402
from yolo_cpu.runtime.runtimes import OvRuntime  # noqa: E402
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS  # noqa: E402


def benchmark_app(model: Path, precision: str, hint: str, batch: int, seconds: float) -> dict[str, float]:
    """Median latency (ms) and throughput (FPS) as benchmark_app reports them."""
    exe = Path(sys.executable).with_name("benchmark_app")
    cmd = [str(exe), "-m", str(model), "-d", "CPU", "-hint", hint, "-infer_precision", precision,
           "-shape", f"[{batch},3,640,640]", "-t", str(max(1, round(seconds)))]
    if hint == "latency":
        cmd += ["-api", "sync"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode:
        raise RuntimeError(f"benchmark_app failed ({proc.returncode}): {out[-2000:]}")
    median = float(re.search(r"Median:\s+([\d.]+) ms", out).group(1))
    fps = float(re.search(r"Throughput:\s+([\d.]+) FPS", out).group(1))
    return {"median_ms": median, "throughput_fps": fps}


def ours(model: Path, precision: str, hint: str, batch: int, seconds: float) -> dict[str, float]:
    rt = OvRuntime(model, precision=precision, hint=hint.upper(), batch=batch)
    x = sample_batch("random", batch, 640, paths.EVAL_DIR).astype(rt.input_dtype, copy=False)
    if hint == "throughput":
        return {"throughput_fps": timing.async_throughput(rt.compiled, x, seconds)["throughput_ips"]}
    times = timing.interleaved({"m": lambda: rt.infer(x, copy=False)}, warmup=10, runs=10, min_seconds=seconds)["m"]
    s = timing.summarize(times, batch)
    return {"median_ms": s["p50_ms"], "throughput_fps": s["throughput_ips"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["ov_fp32", "ov_bf16", "ov_int8"], choices=list(OV_VARIANTS))
    ap.add_argument("--hints", nargs="+", default=["latency", "throughput"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3)
    args = ap.parse_args()
    name = params.load("model")["model"]["name"]
    headline, detail = {}, {}
    for v in args.variants:
        model, hint_prec = VARIANTS[v].model_path(name), VARIANTS[v].hint_precision
        for hint, metric in (("latency", "median_ms"), ("throughput", "throughput_fps")):
            if hint not in args.hints:
                continue
            theirs, mine = [], []
            for r in range(args.rounds):
                # A round runs the two tools back to back, in alternating order, so the machine's slow
                # and fast spells (they last seconds to minutes here) hit both tools alike.
                runs = [("theirs", benchmark_app), ("mine", ours)][:: 1 if r % 2 == 0 else -1]
                for who, tool in runs:
                    (theirs if who == "theirs" else mine).append(tool(model, hint_prec, hint, args.batch,
                                                                      args.seconds)[metric])
            best = min if metric == "median_ms" else max
            a, b = statistics.median(mine), statistics.median(theirs)
            a_best, b_best = best(mine), best(theirs)
            paired = statistics.median(m / t for m, t in zip(mine, theirs))
            headline[f"{v}_{hint}_ratio_paired"] = round(paired, 4)
            detail.update({
                f"{v}_{hint}_{metric}_ours": round(a, 3), f"{v}_{hint}_{metric}_benchmark_app": round(b, 3),
                f"{v}_{hint}_ratio": round(a / b, 4),
                f"{v}_{hint}_{metric}_ours_best_round": round(a_best, 3),
                f"{v}_{hint}_{metric}_benchmark_app_best_round": round(b_best, 3),
                f"{v}_{hint}_ratio_best_round": round(a_best / b_best, 4),
                f"{v}_{hint}_{metric}_ours_rounds": [round(x, 3) for x in mine],
                f"{v}_{hint}_{metric}_benchmark_app_rounds": [round(x, 3) for x in theirs],
            })
            print(f"{v:12s} {hint:10s} {metric:15s} median of rounds: ours {a:8.2f} benchmark_app {b:8.2f} "
                  f"({abs(a / b - 1) * 100:.1f}% apart); median of paired ratios {paired:.4f} "
                  f"({abs(paired - 1) * 100:.1f}% apart); best round: ours {a_best:8.2f} benchmark_app "
                  f"{b_best:8.2f} ({abs(a_best / b_best - 1) * 100:.1f}% apart)", flush=True)
    name = "benchmark_app_compare.json" if args.batch == 1 else f"benchmark_app_compare_b{args.batch}.json"
    machine = machine_id()
    dest = Path("results") / machine["id"] / params.load("model")["model"]["name"] / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_json(dest, {**headline, "machine": machine, "rounds_detail": {
        "batch": args.batch, "rounds": args.rounds, "seconds": args.seconds, **detail,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "env": environment()}})


if __name__ == "__main__":
    main()
