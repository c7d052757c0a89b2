"""Where serving's CPU time goes: this process (the load generator and its client) and every process
it started, grouped as Ray Serve's HTTP proxy, the replicas and Ray's own daemons (raylet, GCS,
controller, workers), from the processes' own CPU times (psutil)."""

from __future__ import annotations

import psutil

GROUPS = ("load_generator", "proxy", "replica", "ray_daemons")


def _group(p: psutil.Process) -> str:
    cmd = " ".join(p.cmdline())
    if "ProxyActor" in cmd:
        return "proxy"
    if "ServeReplica" in cmd:
        return "replica"
    return "ray_daemons"


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far per group; a process that ended is no longer counted, so
    take both snapshots of a difference while the same processes run."""
    me = psutil.Process()
    t = me.cpu_times()
    out = dict.fromkeys(GROUPS, 0.0)
    out["load_generator"] = t.user + t.system
    for p in me.children(recursive=True):
        try:
            c = p.cpu_times()
            out[_group(p)] += c.user + c.system
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def per_query_ms(before: dict[str, float], after: dict[str, float], queries: int) -> dict[str, float]:
    """CPU-ms per query per group between two snapshots, and their total."""
    out = {g: round(1000 * (after[g] - before[g]) / max(queries, 1), 2) for g in GROUPS}
    out["total"] = round(sum(out[g] for g in GROUPS), 2)
    return out
