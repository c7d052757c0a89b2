"""`yolo-cpu benchmark-app`: OpenVINO's benchmark_app and this project's harness on the same IR and
settings, in paired rounds: median latency and throughput side by side with their ratio, so the
pipeline's OpenVINO figures can be checked against an independent tool.

Each round runs both tools back to back (order alternating) and compiles afresh: a VM's slow and
fast spells last seconds to minutes, so the headline figure is the median of the per-round ratios
(a paired comparison); each tool's median round and best round are reported too. Writes
results/<machine id>/<model>/probes/benchmark_app_compare[_b<N>].json, never a tracked metric."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from yolo_cpu import paths
from yolo_cpu.data.dataset import sample_batch
from yolo_cpu.errors import UserError
from yolo_cpu.measure import timing
from yolo_cpu.measure.probes import write_probe
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.runtime.runtimes import OvRuntime


def benchmark_app(model: Path, precision: str, hint: str, batch: int, seconds: float, size: int) -> dict[str, float]:
    """Median latency (ms) and throughput (FPS) as benchmark_app reports them."""
    exe = Path(sys.executable).with_name("benchmark_app")
    cmd = [
        str(exe),
        "-m",
        str(model),
        "-d",
        "CPU",
        "-hint",
        hint,
        "-infer_precision",
        precision,
        "-shape",
        f"[{batch},3,{size},{size}]",
        "-t",
        str(max(1, round(seconds))),
    ]
    if hint == "latency":
        cmd += ["-api", "sync"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode:
        raise RuntimeError(f"benchmark_app failed ({proc.returncode}): {out[-2000:]}")
    median = float(re.search(r"Median:\s+([\d.]+) ms", out).group(1))
    fps = float(re.search(r"Throughput:\s+([\d.]+) FPS", out).group(1))
    return {"median_ms": median, "throughput_fps": fps}


def ours(model: Path, precision: str, hint: str, batch: int, seconds: float, size: int) -> dict[str, float]:
    """The same figures from this project's harness (OvRuntime, the THROUGHPUT hint's AsyncInferQueue)."""
    rt = OvRuntime(model, precision=precision, hint=hint.upper(), batch=batch)
    x = sample_batch("random", batch, size, paths.EVAL_DIR).astype(rt.input_dtype, copy=False)
    if hint == "throughput":
        return {"throughput_fps": timing.async_throughput(rt.compiled, x, seconds)["throughput_ips"]}
    times = timing.interleaved({"m": lambda: rt.infer(x, copy=False)}, warmup=10, runs=10, min_seconds=seconds)["m"]
    s = timing.summarize(times, batch)
    return {"median_ms": s["p50_ms"], "throughput_fps": s["throughput_ips"]}


def compare(variants: list[str], hints: list[str], batch: int, rounds: int, seconds: float) -> Path:
    """Run the paired rounds for each variant and hint (after `dvc repro quantize-ov`), print each
    comparison and write the probe file; returns its path."""
    m = params.load("model")["model"]
    name, size = m["name"], m["imgsz"]
    for v in variants:
        if v not in OV_VARIANTS:
            raise UserError(f"--variants {v}: not an OpenVINO variant (one of {', '.join(OV_VARIANTS)})")
        if not VARIANTS[v].model_path(name).is_file():
            raise UserError(f"{VARIANTS[v].model_path(name)} (model for {v}) is missing: run `dvc repro quantize-ov`")
    headline: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for v in variants:
        model, hint_prec = VARIANTS[v].model_path(name), VARIANTS[v].hint_precision
        for hint, metric in (("latency", "median_ms"), ("throughput", "throughput_fps")):
            if hint not in hints:
                continue
            theirs, mine = [], []
            for r in range(rounds):
                # A round runs the two tools back to back, in alternating order, so the machine's slow
                # and fast spells (they last seconds to minutes here) hit both tools alike.
                runs = [("theirs", benchmark_app), ("mine", ours)][:: 1 if r % 2 == 0 else -1]
                for who, tool in runs:
                    (theirs if who == "theirs" else mine).append(
                        tool(model, hint_prec, hint, batch, seconds, size)[metric]
                    )
            best = min if metric == "median_ms" else max
            a, b = statistics.median(mine), statistics.median(theirs)
            a_best, b_best = best(mine), best(theirs)
            paired = statistics.median(m / t for m, t in zip(mine, theirs))
            headline[f"{v}_{hint}_ratio_paired"] = round(paired, 4)
            detail.update(
                {
                    f"{v}_{hint}_{metric}_ours": round(a, 3),
                    f"{v}_{hint}_{metric}_benchmark_app": round(b, 3),
                    f"{v}_{hint}_ratio": round(a / b, 4),
                    f"{v}_{hint}_{metric}_ours_best_round": round(a_best, 3),
                    f"{v}_{hint}_{metric}_benchmark_app_best_round": round(b_best, 3),
                    f"{v}_{hint}_ratio_best_round": round(a_best / b_best, 4),
                    f"{v}_{hint}_{metric}_ours_rounds": [round(x, 3) for x in mine],
                    f"{v}_{hint}_{metric}_benchmark_app_rounds": [round(x, 3) for x in theirs],
                }
            )
            print(
                f"{v:12s} {hint:10s} {metric:15s} median of rounds: ours {a:8.2f} benchmark_app {b:8.2f} "
                f"({abs(a / b - 1) * 100:.1f}% apart); median of paired ratios {paired:.4f} "
                f"({abs(paired - 1) * 100:.1f}% apart); best round: ours {a_best:8.2f} benchmark_app "
                f"{b_best:8.2f} ({abs(a_best / b_best - 1) * 100:.1f}% apart)",
                flush=True,
            )
    probe = "benchmark_app_compare" if batch == 1 else f"benchmark_app_compare_b{batch}"
    return write_probe(
        probe, name, {**headline, "rounds_detail": {"batch": batch, "rounds": rounds, "seconds": seconds, **detail}}
    )
