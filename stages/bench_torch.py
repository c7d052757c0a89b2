"""bench-torch stage: the seed study's first row, PyTorch eager on CPU, timed side by side with ONNX
Runtime and OpenVINO (all FP32, the same real inputs, alternating rounds) at each batch size, after
checking that PyTorch's outputs match ONNX Runtime's; the speed-ups over PyTorch carry 95% intervals
from the paired slices. PyTorch runs the .pt's Ultralytics module when
model.source is one, else the dynamic ONNX graph in torch ops. Without the export extra (torch), it
records "not installed" instead of failing."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np

from yolo_cpu import keys, paths
from yolo_cpu.data.dataset import sample_batch
from yolo_cpu.io import require_file
from yolo_cpu.measure import budget
from yolo_cpu.measure.benchmark import best_batch_speedup, best_figures, latency_round, speedup
from yolo_cpu.models.model_source import recorded_checkpoint
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.results.plots import write_series

OTHERS = ("ort_fp32", "ov_fp32")  # PyTorch's FP32 peers, as bench-ort and bench-ov load them


def plot(sizes: list[int], figures: dict[str, Any], title: str) -> None:
    write_series(
        paths.PLOTS / "bench_torch_ips",
        "batch",
        sizes,
        {v: [figures.get(keys.at_batch(v, n, "ips")) for n in sizes] for v in ("torch_fp32", *OTHERS)},
        "images/s (FP32, synchronous)",
        title,
    )


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "bench", "bench_torch")
    name, size, b, t = p["model"]["name"], p["model"]["imgsz"], p["bench"], p["bench_torch"]
    sizes = t["batch_sizes"]
    if importlib.util.find_spec("torch") is None:
        plot(sizes, {}, "PyTorch is not installed (./dev export-extra)")
        write_results(
            "bench_torch",
            {"torch_installed": False},
            {"note": "PyTorch is not installed: ./dev export-extra adds it (torch CPU build)"},
            started,
        )
        return
    from yolo_cpu.runtime.torch_runtime import TorchRuntime

    pt = recorded_checkpoint(p["model"]["source"])
    model = require_file(pt if pt is not None else paths.dynamic_onnx(name), "model for torch_fp32")
    for v in OTHERS:
        require_file(VARIANTS[v].model_path(name), f"model for {v}")
    budget.check(*budget.needs(p)["bench_torch"])
    x = sample_batch(b["input"], max(sizes), size, paths.EVAL_DIR)
    threads = t["threads"]
    rts = {
        "torch_fp32": TorchRuntime(model, threads=threads),
        "ort_fp32": VARIANTS["ort_fp32"].load(name, intra_threads=threads),
        "ov_fp32": VARIANTS["ov_fp32"].load(name, threads=threads),
    }
    check = x[: min(2, len(x))]
    diff = float(np.abs(rts["torch_fp32"].infer(check) - rts["ort_fp32"].infer(check)).max())
    if not diff <= t["tolerance"]:
        raise RuntimeError(
            f"PyTorch ({rts['torch_fp32'].source}, {model}) and ONNX Runtime disagree by {diff:.4g} "
            f"> bench_torch.tolerance {t['tolerance']}: the timings would not be of the same model"
        )

    figures: dict[str, Any] = {
        "torch_installed": True,
        "batch_sizes": sizes,
        "input": b["input"],
        "max_abs_diff_vs_ort": round(diff, 6),
        **{f"{v}_settings": rt.settings() for v, rt in rts.items()},
    }
    medians: dict[int, dict[str, list[float]]] = {}
    ips: dict[int, dict[str, list[float]]] = {}
    for n in sizes:  # timed until each runtime's ratio to PyTorch is known within the target, or the cap
        f, medians[n] = latency_round(rts, x[:n], b, f"b{n}", pairs=[(v, "torch_fp32") for v in OTHERS])
        figures.update(f)
        ips[n] = {v: [1000.0 * n / t for t in f[keys.slices(v, n, "mean_ms")]] for v in rts}
    figures.update(best_figures(figures, list(rts), sizes))
    for v in OTHERS:  # how many times faster than PyTorch, measured in this run, with 95% intervals
        if 1 in sizes:
            figures.update(speedup(medians[1][v], medians[1]["torch_fp32"], False, f"{v}_speedup_over_torch_b1_p50"))
        figures.update(best_batch_speedup(ips, figures, v, "torch_fp32", f"{v}_speedup_over_torch_best_ips"))
    plot(sizes, figures, "PyTorch eager against ONNX Runtime and OpenVINO (FP32)")
    write_results("bench_torch", figures, None, started)


if __name__ == "__main__":
    run(main)
