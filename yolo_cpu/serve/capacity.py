"""What one server sustains: LoadGen's SingleStream, Offline and Server scenarios through three paths
(in-process, Ray Serve's DeploymentHandle, Ray Serve over HTTP) and several serving configs, side by
side in one run, within a time budget.

The peak Server rate is a bisection over target rates between 0 and the path's Offline rate: a rate
counts as sustained only when LoadGen calls its trial VALID (p99 within the target, enough queries
for its early-stopping verdict) with no failed request. The peak's interval is the bracket the
search ends with: [highest rate sustained, lowest rate not sustained]; the chosen peak is run again
to confirm it (repeats), and a peak that fails its repeat falls back to the next rate sustained."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolo_cpu.serve import cpu_share
from yolo_cpu.serve.clients import Handle, Http, InProcess
from yolo_cpu.serve.engine import ServeEngine
from yolo_cpu.serve.loadgen import SystemUnderTest, Trial, run_trial
from yolo_cpu.serve.settings import ServeSettings


@dataclass(frozen=True)
class Plan:
    p99_ms: float
    configs: list[ServeSettings]
    trial_queries: int  # at least this many queries per Server and Offline trial
    trial_seconds: float  # ... and at least this long
    single_stream_queries: int
    search_steps: int  # Server trials in the bisection
    repeats: int  # trials at the chosen peak (the bisection's one included)
    max_seconds: float  # the whole measurement

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> Plan:
        """The plan of the params' serve: section (validated by the params schema)."""
        configs = []
        for c in p["configs"]:
            replicas, batch, streams = re.fullmatch(r"r(\d+)b(\d+)(?:s(\d+))?", c).groups()
            configs.append(
                ServeSettings(int(replicas), int(batch), p["batch_wait_ms"], p["max_queued"], int(streams or 1)).check(
                    f"serve.configs {c}"
                )
            )
        return cls(
            p99_ms=p["p99_ms"],
            configs=configs,
            trial_queries=p["trial_queries"],
            trial_seconds=p["trial_seconds"],
            single_stream_queries=p["single_stream_queries"],
            search_steps=p["search_steps"],
            repeats=p["repeats"],
            max_seconds=p["max_seconds"],
        )


class Budget:
    """The stage's time budget: work not started before the deadline is listed as skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline, self.skipped = time.perf_counter() + seconds, []

    def allows(self, what: str) -> bool:
        if time.perf_counter() < self.deadline:
            return True
        self.skipped.append(what)
        return False


def label(s: ServeSettings) -> str:
    batching = f"batch <= {s.max_batch_size}, wait {s.batch_wait_ms:g} ms" if s.max_batch_size > 1 else "no batching"
    streams = f"{s.streams} stream{'s' if s.streams > 1 else ''}" if s.streams else "OpenVINO's streams"
    return f"{s.replicas} replica{'s' if s.replicas > 1 else ''}, {batching}, {streams}"


def measured(
    sut: SystemUnderTest, samples: int, scenario: str, plan: Plan, qps: float | None = None, queries: int | None = None
) -> Trial:
    """One trial with its CPU-ms per query per process group."""
    before = cpu_share.cpu_seconds()
    n = queries or plan.trial_queries
    # room for every query at the offered rate: a trial cut short has too few queries for its p99 verdict
    longest = max(60.0, 4 * plan.trial_seconds, 1.5 * n / qps + 10 if scenario == "Server" else 0.0)
    t = run_trial(
        sut,
        samples,
        scenario,
        plan.p99_ms,
        qps,
        min_queries=n,
        min_seconds=0 if scenario == "Offline" else plan.trial_seconds,
        max_seconds=longest,
    )
    t.cpu = cpu_share.per_query_ms(before, cpu_share.cpu_seconds(), t.queries)
    failures = getattr(sut, "failures", None)
    if failures:
        t.cpu["failures"] = dict(failures)
        failures.clear()
    return t


def find_peak(
    trial_at: Callable[[float], Trial], offline_qps: float, plan: Plan, budget: Budget, what: str
) -> dict[str, Any]:
    """Bisection of the Server rate in (0, offline_qps], then repeats at the peak."""
    lo, hi, rate = 0.0, offline_qps, 0.5 * offline_qps
    trials: list[Trial] = []
    for step in range(plan.search_steps):
        if not budget.allows(f"{what}: Server trial {step + 1}"):
            break
        t = trial_at(rate)
        trials.append(t)
        lo, hi = (rate, hi) if t.meets else (lo, rate)
        rate = (lo + hi) / 2
    for r in range(plan.repeats - 1):
        if lo <= 0 or not budget.allows(f"{what}: repeat {r + 1} at {lo:.1f}/s"):
            break
        t = trial_at(lo)
        trials.append(t)
        if not t.meets:  # not confirmed: the next rate sustained below it, if any
            hi = lo
            lo = max((x.target_qps for x in trials if x.meets and x.target_qps < hi), default=0.0)
    at_peak = [t for t in trials if t.meets and t.target_qps == lo]
    return {
        "peak_rps": round(lo, 2) if lo > 0 else None,
        "peak_lo_rps": round(lo, 2),
        "peak_hi_rps": round(hi, 2),
        "p99_ms": round(at_peak[-1].p99_ms, 2) if at_peak else None,
        "p99_interval_ms": [at_peak[-1].p99_lo_ms, at_peak[-1].p99_hi_ms] if at_peak else None,
        "queries_at_peak": at_peak[-1].queries if at_peak else None,
        "offline_rps": round(offline_qps, 2),
        "trials": [t.as_dict() for t in trials],
    }


def path_figures(
    sut: SystemUnderTest, samples: int, plan: Plan, budget: Budget, what: str, single_stream: bool = True
) -> dict[str, Any]:
    """SingleStream, Offline and the Server peak of one path (one serving config)."""
    out: dict[str, Any] = {}
    if single_stream and budget.allows(f"{what}: SingleStream"):
        out["single_stream"] = measured(
            sut, samples, "SingleStream", plan, queries=plan.single_stream_queries
        ).as_dict()
    if not budget.allows(f"{what}: Offline"):
        return out
    off = measured(sut, samples, "Offline", plan)
    out["offline"] = off.as_dict()
    out["server"] = find_peak(
        lambda q: measured(sut, samples, "Server", plan, q), off.completed_qps, plan, budget, what
    )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def closing_sut(sut) -> Iterator:
    try:
        yield sut
    finally:
        sut.close()


def replica_cpu(handle, replicas: int) -> dict[str, float]:
    """Decode and NMS thread CPU seconds summed over the replicas (asked until each has answered)."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(8 * replicas):
        s = handle.stats.remote().result(timeout_s=30)
        seen[s["pid"]] = s
        if len(seen) >= replicas:
            break
    return {k: sum(s[k] for s in seen.values()) for k in ("decode_cpu_s", "nms_cpu_s", "served")}


def measure(folder: Path, samples: Sequence[bytes], plan: Plan, budget: Budget | None = None) -> dict[str, Any]:
    """Every path and config for one bundle; the best config within the p99 target chosen. Nothing
    starts (no engine, no Ray) once the budget is spent: a zero serve.max_seconds skips the stage's work."""
    budget = budget or Budget(plan.max_seconds)
    skipped_before = len(budget.skipped)  # one budget for the stage: this variant's skips only
    result: dict[str, Any] = {"p99_target_ms": plan.p99_ms, "samples": len(samples)}
    if budget.allows("in-process"):
        result["in_process"] = in_process(folder, samples, plan, budget)
    if budget.allows("served paths"):
        result.update(served(folder, samples, plan, budget))
    result["skipped_by_time_budget"] = budget.skipped[skipped_before:]
    return result


def in_process(folder: Path, samples: Sequence[bytes], plan: Plan, budget: Budget) -> dict[str, Any]:
    """The bundle in this process (no Ray, no HTTP) at the first config's streams, and its CPU split."""
    n, streams = len(samples), plan.configs[0].streams  # params: the first config is the baseline
    engine = ServeEngine(folder, max(c.max_batch_size for c in plan.configs), streams=streams)
    try:
        with closing_sut(InProcess(engine, samples, os.cpu_count() or 1)) as sut:
            out = {"streams": streams, **path_figures(sut, n, plan, budget, "in-process")}
            d0, n0 = engine.decode_cpu.seconds, engine.nms_cpu.seconds
            off = measured(sut, n, "Offline", plan) if budget.allows("in-process: CPU split") else None
            if off:
                out["cpu_split_ms"] = {
                    "decode": round(1000 * (engine.decode_cpu.seconds - d0) / off.queries, 2),
                    "nms": round(1000 * (engine.nms_cpu.seconds - n0) / off.queries, 2),
                    "process": off.cpu["load_generator"],
                }
        return out
    finally:
        engine.close()


def served(folder: Path, samples: Sequence[bytes], plan: Plan, budget: Budget) -> dict[str, Any]:
    """Each config over HTTP on one local Ray, then the handle and HTTP paths side by side at the chosen
    config (or, none within the target, the fastest Offline), on the deployment still up when it is
    that config."""
    from yolo_cpu.serve.server import ray_instance

    n, configs = len(samples), []
    with ray_instance(num_cpus=os.cpu_count() or 1), contextlib.ExitStack() as deployment:
        live: tuple[int, Any, str] | None = None  # (config index, handle, url) of the deployment up now
        for i, s in enumerate(plan.configs):
            entry: dict[str, Any] = {"settings": s.as_dict(), "label": label(s)}
            configs.append(entry)
            if not budget.allows(f"{label(s)}: serve"):
                continue
            deployment.close()  # the previous config's
            live = (i, *_deploy(deployment, folder, s))
            with closing_sut(Http(live[2], samples, s.replicas * s.max_ongoing)) as sut:
                warm(sut, n)
                entry["http"] = path_figures(sut, n, plan, budget, label(s), single_stream=False)
        best = choose(configs)
        compared = best if best is not None else fastest(configs)
        out: dict[str, Any] = {"configs": configs, "best": best, "compared": compared}
        if compared is not None:
            s = ServeSettings(**configs[compared]["settings"])
            if live is None or live[0] != compared:
                deployment.close()
                live = (compared, *_deploy(deployment, folder, s))
            out.update(compare_paths(live[1], live[2], samples, s, plan, budget, configs[compared]))
    return out


def _deploy(stack: contextlib.ExitStack, folder: Path, s: ServeSettings) -> tuple[Any, str]:
    """The bundle served with `s` until `stack` closes: its handle and its /detect URL."""
    from yolo_cpu.serve.server import serving

    port = free_port()
    return stack.enter_context(serving(folder, s, port=port)), f"http://127.0.0.1:{port}/detect"


def compare_paths(
    handle, url: str, samples: Sequence[bytes], s: ServeSettings, plan: Plan, budget: Budget, entry: dict[str, Any]
) -> dict[str, Any]:
    """At one deployed config: the CPU split and SingleStream over HTTP (into `entry`), and the handle path."""
    n, out = len(samples), {}
    with closing_sut(Http(url, samples, s.replicas * s.max_ongoing)) as sut:
        warm(sut, n)
        before = replica_cpu(handle, s.replicas)
        off = measured(sut, n, "Offline", plan) if budget.allows("http: CPU split") else None
        if off:
            after = replica_cpu(handle, s.replicas)
            out["http_cpu_split_ms"] = {
                **off.cpu,
                "offline_rps": off.completed_qps,
                "replica_decode": round(1000 * (after["decode_cpu_s"] - before["decode_cpu_s"]) / off.queries, 2),
                "replica_nms": round(1000 * (after["nms_cpu_s"] - before["nms_cpu_s"]) / off.queries, 2),
            }
        if budget.allows("http: SingleStream"):
            entry["http"]["single_stream"] = measured(
                sut, n, "SingleStream", plan, queries=plan.single_stream_queries
            ).as_dict()
    with closing_sut(Handle(handle, samples, s.replicas * s.max_ongoing)) as sut:
        warm(sut, n)
        out["handle"] = path_figures(sut, n, plan, budget, "handle")
    return out


def warm(sut: SystemUnderTest, n: int, queries: int = 16) -> None:
    """A few requests through the path before it is timed (connections, first inferences)."""
    import threading

    left, finished, lock = [queries], threading.Event(), threading.Lock()

    def done(pos: int, ok: bool) -> None:
        with lock:
            left[0] -= 1
            if left[0] == 0:
                finished.set()

    sut.issue([i % n for i in range(queries)], done)
    finished.wait(120)


def fastest(configs: list[dict[str, Any]]) -> int | None:
    """The config with the most Offline images/s over HTTP (None if none was measured)."""
    ok = [(c["http"]["offline"]["completed_qps"], i) for i, c in enumerate(configs) if c.get("http", {}).get("offline")]
    return max(ok)[1] if ok else None


def choose(configs: list[dict[str, Any]]) -> int | None:
    """The config with the highest sustained peak (ties: fewer replicas, then smaller batches)."""
    ok = [
        (c["http"]["server"]["peak_rps"], -c["settings"]["replicas"], -c["settings"]["max_batch_size"], i)
        for i, c in enumerate(configs)
        if c.get("http", {}).get("server", {}).get("peak_rps")
    ]
    return max(ok)[3] if ok else None
