"""MLPerf Inference's LoadGen (`mlperf_loadgen`) driving a system under test, one trial at a time.

A system under test is anything with `issue(indices, done)`: start the samples (indices into the
in-memory sample set) and call `done(position, ok)` for each as it completes, from any thread, never
blocking LoadGen's issue thread. A trial is one LoadGen run (SingleStream, Offline or Server at a
target rate) in PerformanceOnly mode; its figures come from LoadGen's own logs: the per-query
latencies of its trace (counted from each query's scheduled arrival, so no coordinated omission),
its validity and early-stopping verdict."""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from yolo_cpu.measure.intervals import quantile_interval

SCENARIOS = ("SingleStream", "Offline", "Server")
_SAMPLE = re.compile(r'"name":"Sample".*?"ph":"b".*?"complete_ns":(\d+)')


class SystemUnderTest(Protocol):
    def issue(self, indices: Sequence[int], done: Callable[[int, bool], None]) -> None: ...


@dataclass
class Trial:
    """One LoadGen run's figures. Latencies in ms; p99 with its distribution-free 95% interval
    (None for a bound its query count cannot give)."""

    scenario: str
    target_qps: float | None
    queries: int
    errors: int
    completed_qps: float
    valid: bool
    early_stopping_met: bool
    latency_met: bool
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_lo_ms: float | None
    p99_hi_ms: float | None
    seconds: float
    invalid_reason: str = ""
    cpu: dict[str, Any] = field(default_factory=dict)

    @property
    def meets(self) -> bool:
        """Counted as meeting the latency target: LoadGen calls the run VALID (minimum duration and
        queries, the p99 within the target, early stopping satisfied) and no request failed."""
        return self.valid and self.errors == 0

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()} | {
            "meets": self.meets
        }


def _detail(outdir: Path) -> dict[str, Any]:
    out = {}
    for line in (outdir / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG ") :])
            out[entry["key"]] = entry["value"]
    return out


def latencies_ns(outdir: Path) -> np.ndarray:
    """Every sample's latency from its scheduled arrival to its completion, from LoadGen's trace."""
    text = (outdir / "mlperf_log_trace.json").read_text()
    return np.array([int(m) for m in _SAMPLE.findall(text)], np.int64)


def run_trial(
    sut: SystemUnderTest,
    samples: int,
    scenario: str,
    p99_ms: float,
    target_qps: float | None = None,
    min_queries: int = 500,
    min_seconds: float = 5.0,
    max_seconds: float = 120.0,
    seed: int = 0,
) -> Trial:
    """One LoadGen trial of `scenario` over `samples` in-memory samples. Server runs Poisson arrivals
    at target_qps with the p99 target p99_ms; Offline issues every query at once; SingleStream one
    after the other. min_queries and min_seconds bound the trial from below, max_seconds from above."""
    import mlperf_loadgen as lg

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r} is not one of {SCENARIOS}")
    errors = [0]
    lock = threading.Lock()

    def issue_queries(queries) -> None:
        ids = [q.id for q in queries]
        indices = [q.index for q in queries]

        def done(pos: int, ok: bool) -> None:
            if not ok:
                with lock:
                    errors[0] += 1
            lg.QuerySamplesComplete([lg.QuerySampleResponse(ids[pos], 0, 0)])

        sut.issue(indices, done)

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_query_count = min_queries
    settings.min_duration_ms = int(min_seconds * 1000)
    settings.max_duration_ms = int(max_seconds * 1000)
    settings.schedule_rng_seed = settings.sample_index_rng_seed = settings.qsl_rng_seed = seed
    if scenario == "Server":
        settings.server_target_qps = float(target_qps)
        settings.server_target_latency_ns = int(p99_ms * 1e6)
        settings.server_target_latency_percentile = 0.99
    elif scenario == "Offline":
        settings.offline_expected_qps = float(target_qps or 1)
    else:
        settings.single_stream_expected_latency_ns = int(p99_ms * 1e6)
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        log = lg.LogSettings()
        log.log_output.outdir = tmp
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = True
        sut_handle = lg.ConstructSUT(issue_queries, lambda: None)
        qsl = lg.ConstructQSL(samples, samples, lambda s: None, lambda s: None)
        started = time.perf_counter()
        try:
            lg.StartTestWithLogSettings(sut_handle, qsl, settings, log)
        finally:
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut_handle)
        seconds = time.perf_counter() - started
        detail, lat = _detail(Path(tmp)), latencies_ns(Path(tmp)) / 1e6
    p99, p99_lo, p99_hi = quantile_interval(lat, 0.99)
    return Trial(
        scenario=scenario,
        target_qps=target_qps if scenario == "Server" else None,
        queries=int(lat.size),
        errors=errors[0],
        completed_qps=float(
            detail.get("result_completed_samples_per_sec") or detail.get("result_samples_per_second") or 0
        ),
        valid=detail.get("result_validity") == "VALID",
        early_stopping_met=bool(detail.get("early_stopping_met")),
        latency_met=bool(detail.get("result_perf_constraints_met")),
        p50_ms=quantile_interval(lat, 0.5)[0],
        p90_ms=quantile_interval(lat, 0.9)[0],
        p99_ms=p99,
        p99_lo_ms=p99_lo,
        p99_hi_ms=p99_hi,
        seconds=seconds,
        invalid_reason=str(detail.get("result_invalid_reason") or ""),
    )
