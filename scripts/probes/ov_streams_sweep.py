"""OpenVINO streams and threads on this machine, side by side against today's defaults (bench-ov's
LATENCY and THROUGHPUT hints with OpenVINO's own choice of streams and threads): per variant and
batch size, images/s with an AsyncInferQueue and synchronous batch latency p50, each configuration
timed in alternating rounds in one process (medians over rounds).

Usage (after `dvc repro`): python scripts/probes/ov_streams_sweep.py [--seconds 2] [--rounds 3]
    [--variants ov_bf16 ov_int8 ...] [--batch-sizes 1 8] [--out FILE]"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data.dataset import sample_batch  # noqa: E402
from yolo_cpu.measure.env import machine_id  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.measure.timing import async_throughput, time_calls  # noqa: E402
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS  # noqa: E402
from yolo_cpu.pipeline import params

# name: OvRuntime settings besides the variant's precision. The first two are today's (bench-ov:
# OpenVINO picks streams and threads for the hint).
CONFIGS: dict[str, dict] = {
    "latency_hint": {"hint": "LATENCY"},
    "throughput_hint": {"hint": "THROUGHPUT"},
    "1_stream_1_thread": {"hint": "THROUGHPUT", "streams": 1, "threads": 1},
    "1_stream_2_threads": {"hint": "THROUGHPUT", "streams": 1, "threads": 2},
    "2_streams_2_threads": {"hint": "THROUGHPUT", "streams": 2, "threads": 2},
    "latency_hint_unpinned": {"hint": "LATENCY", "pinning": False},
    "throughput_hint_unpinned": {"hint": "THROUGHPUT", "pinning": False},
}


def measure(variants: list[str], sizes: list[int], seconds: float, rounds: int, runs: int) -> dict:
    name, size = (lambda m: (m["name"], m["imgsz"]))(params.load("model")["model"])
    x = sample_batch("real", max(sizes), size, paths.EVAL_DIR)
    out: dict = {}
    for v in variants:
        for n in sizes:
            rts = {c: VARIANTS[v].load(name, batch=n, **cfg) for c, cfg in CONFIGS.items()}
            ips: dict[str, list[float]] = {c: [] for c in rts}
            p50: dict[str, list[float]] = {c: [] for c in rts}
            for _ in range(rounds):
                for c, rt in rts.items():
                    ips[c].append(async_throughput(rt.compiled, x[:n], seconds)["throughput_ips"])
                    infer = lambda rt=rt, n=n: rt.infer(x[:n], copy=False)  # noqa: E731
                    infer()  # warm the synchronous request
                    p50[c].append(1000 * statistics.median(time_calls(infer, runs)))
            for c, rt in rts.items():
                actual = {k.removeprefix("actual_"): val for k, val in rt.settings().items() if k.startswith("actual_")}
                out[f"{v}_b{n}_{c}"] = {
                    "ips": round(statistics.median(ips[c]), 2),
                    "p50_ms": round(statistics.median(p50[c]), 2),
                    "ips_rounds": ips[c],
                    **actual,
                }
            base = out[f"{v}_b{n}_throughput_hint"]["ips"], out[f"{v}_b{n}_latency_hint"]["p50_ms"]
            for c in rts:
                r = out[f"{v}_b{n}_{c}"]
                r["ips_vs_throughput_hint"] = round(r["ips"] / base[0], 3)
                r["p50_vs_latency_hint"] = round(r["p50_ms"] / base[1], 3)
                print(
                    f"{v} b{n} {c:<24} streams {r['num_streams']:>2} threads {r['inference_num_threads']:>2} "
                    f"pinned {r['enable_cpu_pinning']:<5}: {r['ips']:7.1f} img/s ({r['ips_vs_throughput_hint']:.3f}x "
                    f"throughput hint), p50 {r['p50_ms']:7.2f} ms ({r['p50_vs_latency_hint']:.3f}x latency hint)",
                    flush=True,
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="async throughput seconds per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20, help="synchronous calls per round for p50")
    ap.add_argument(
        "--variants", nargs="+", default=[v for v in OV_VARIANTS if VARIANTS[v].supported()], choices=OV_VARIANTS
    )
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--out", type=Path, help="default: results/<machine id>/<model>/probes/ov_streams_sweep.json")
    a = ap.parse_args()
    figures = measure(a.variants, a.batch_sizes, a.seconds, a.rounds, a.runs)
    result = {
        "machine": machine_id(),
        "model": params.load("model")["model"]["name"],
        "configs": CONFIGS,
        "seconds": a.seconds,
        "rounds": a.rounds,
        "runs": a.runs,
        "figures": figures,
    }
    write_probe("ov_streams_sweep", result["model"], result, a.out)


if __name__ == "__main__":
    main()
