"""Where serving's latency goes at light load: the recommended bundle served at one config, with
LoadGen's SingleStream and a Server trial at a fixed light rate, through the three paths (in-process,
Ray Serve's DeploymentHandle, Ray Serve over HTTP), for several arms side by side in one run. Each arm
runs in its own process (Ray Serve reads its environment when it is imported):

- base: the serve defaults of `yolo-cpu serve`;
- throughput_optimized: Ray Serve's RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (gRPC between proxy and
  replicas, GC frozen after start, user code on the replica's main event loop);
- any arm named ENV=VALUE[,ENV=VALUE]: those environment variables set.

For each trial: p50, p90, p99 (with its 95% interval and query count), the worst latency, and
CPU-ms per query per process group (load generator, proxy, replica, Ray's daemons).

    python scripts/probes/serve_overhead.py [--config r1b1] [--rate 8] [--queries 400]
        [--arms base throughput_optimized] [--out FILE]
(default out: results/<machine id>/<model>/probes/serve_overhead.json)"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from yolo_cpu import paths  # noqa: E402
from yolo_cpu.data.dataset import load_split  # noqa: E402
from yolo_cpu.deploy import packing  # noqa: E402
from yolo_cpu.io import read_json  # noqa: E402
from yolo_cpu.measure.probes import write_probe  # noqa: E402
from yolo_cpu.pipeline import params  # noqa: E402

ARMS = {"base": {}, "throughput_optimized": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}}


def arm_env(arm: str) -> dict[str, str]:
    if arm in ARMS:
        return ARMS[arm]
    return dict(kv.split("=", 1) for kv in arm.split(","))


def trials(folder: Path, config: str, rate: float, queries: int, in_process: bool) -> dict:
    """This process's arm: SingleStream and a Server trial at `rate` through each path."""
    from yolo_cpu.serve import capacity
    from yolo_cpu.serve.clients import Handle, Http, InProcess
    from yolo_cpu.serve.engine import ServeEngine
    from yolo_cpu.serve.server import ray_instance, serving

    p = params.load("serve")["serve"]
    plan = capacity.Plan.from_params({**p, "configs": [config], "trial_queries": queries, "trial_seconds": 5})
    s = plan.configs[0]
    samples = [Path(f).read_bytes() for f in load_split(paths.EVAL_DIR, p["images"])]
    n, out = len(samples), {}

    def both(sut) -> dict:
        capacity.warm(sut, n)
        return {
            "single_stream": capacity.measured(sut, n, "SingleStream", plan, queries=150).as_dict(),
            "server": capacity.measured(sut, n, "Server", plan, rate).as_dict(),
        }

    if in_process:
        engine = ServeEngine(folder, s.max_batch_size, streams=s.streams)
        try:
            with capacity.closing_sut(InProcess(engine, samples, os.cpu_count() or 1)) as sut:
                out["in_process"] = both(sut)
        finally:
            engine.close()
    with ray_instance(num_cpus=os.cpu_count()):
        port = capacity.free_port()
        with serving(folder, s, port=port) as handle:
            out["listening"] = listening()
            with capacity.closing_sut(Handle(handle, samples, s.replicas * s.max_ongoing)) as sut:
                out["handle"] = both(sut)
            with capacity.closing_sut(
                Http(f"http://127.0.0.1:{port}/detect", samples, s.replicas * s.max_ongoing)
            ) as sut:
                out["http"] = both(sut)
    return out


def listening() -> list[str]:
    """The addresses this process's children listen on (a server here must keep to 127.0.0.1)."""
    import psutil

    pids = {c.pid for c in psutil.Process().children(recursive=True)}
    return sorted(
        {
            f"{c.laddr.ip}:{c.laddr.port}"
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.pid in pids
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="r1b1", help="r<replicas>b<max batch size>[s<streams>]")
    ap.add_argument("--rate", type=float, default=8.0, help="the Server trial's target queries/s")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=3, metavar=("FOLDER", "ARM", "JSON"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        folder, arm, dest = a.child
        figures = trials(Path(folder), a.config, a.rate, a.queries, in_process=arm == a.arms[0])
        Path(dest).write_text(json.dumps(figures))
        return
    if not re.fullmatch(r"r\d+b\d+(s\d+)?", a.config):
        sys.exit(f"--config {a.config!r}: give r<replicas>b<max batch size>, e.g. r1b1")
    model = params.load("model")["model"]["name"]
    variant, target = next(iter(read_json(paths.DETAILS / "to_serve.json").items()))
    arms = {}
    with tempfile.TemporaryDirectory(prefix="serve-overhead-") as tmp:
        folder = packing.serving_bundle(Path(tmp), model, variant, target["runtime"], target["precision"])
        for arm in a.arms:
            dest = Path(tmp) / f"{len(arms)}.json"
            print(f"serve_overhead: arm {arm}", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--config",
                    a.config,
                    "--rate",
                    str(a.rate),
                    "--queries",
                    str(a.queries),
                    "--arms",
                    *a.arms,
                    "--child",
                    str(folder),
                    arm,
                    str(dest),
                ],
                env={**os.environ, **arm_env(arm)},
                check=True,
            )
            arms[arm] = {"env": arm_env(arm), **json.loads(dest.read_text())}
    write_probe(
        "serve_overhead",
        model,
        {"variant": variant, "config": a.config, "rate_qps": a.rate, "queries": a.queries, "arms": arms},
        a.out,
    )
    for arm, paths_ in arms.items():
        print(f"{arm}: listening on {', '.join(paths_['listening'])}")
        for path, t in paths_.items():
            if path in ("env", "listening"):
                continue
            ss, sv = t["single_stream"], t["server"]
            print(
                f"{arm:>22} {path:>10}: SingleStream p50 {ss['p50_ms']:.1f} p90 {ss['p90_ms']:.1f} | Server "
                f"{a.rate:g}/s p50 {sv['p50_ms']:.1f} p99 {sv['p99_ms']:.1f} valid {sv['valid']} cpu {sv['cpu']}"
            )


if __name__ == "__main__":
    main()
