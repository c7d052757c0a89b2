"""bench-serve's results read back: each variant's headline figures, and the serve: section the bundle
stage writes into a bundle's metadata.yaml."""

from __future__ import annotations

from typing import Any

from yolo_cpu.serve.settings import ServeSettings


def _ratio(num: float | None, den: float | None) -> float | None:
    return round(num / den, 3) if num and den else None


def figures(variant: str, r: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of one variant's measurement: the best config's peak over HTTP with its
    bracket and p99, Server over Offline through the server, served over in-process Offline."""
    best = r.get("best")
    out: dict[str, Any] = {f"{variant}_serve_meets_target": best is not None}
    inproc = r.get("in_process", {}).get("offline", {}).get("completed_qps")
    if best is None:
        return out
    c = r["configs"][best]
    server, offline = c["http"]["server"], c["http"]["offline"]["completed_qps"]
    out.update(
        {
            f"{variant}_serve_config": c["label"],
            f"{variant}_serve_peak_rps": server["peak_rps"],
            f"{variant}_serve_peak_rps_lo": server["peak_lo_rps"],
            f"{variant}_serve_peak_rps_hi": server["peak_hi_rps"],
            f"{variant}_serve_p99_ms": server["p99_ms"],
            f"{variant}_serve_offline_rps": round(offline, 2),
            f"{variant}_serve_over_offline": _ratio(server["peak_rps"], offline),
            f"{variant}_served_over_in_process": _ratio(offline, inproc),
            f"{variant}_in_process_offline_rps": round(inproc, 2) if inproc else None,
        }
    )
    return out


def serve_sections(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{variant: the serve: section of its bundles}: the best config and what it sustained; without a
    config within the target, the defaults, saying so."""
    out = {}
    for variant, r in results.get("variants", {}).items():
        best = r.get("best")
        if best is None:
            out[variant] = {
                **ServeSettings().as_dict(),
                "measured": {
                    "meets_target": False,
                    "p99_target_ms": r.get("p99_target_ms"),
                    "note": "no serving config sustained a rate within the p99 target; these are the defaults"
                    if any(c.get("http") for c in r.get("configs", []))
                    else "not measured (serve.max_seconds left no time for it); these are the defaults",
                },
            }
            continue
        c = r["configs"][best]
        s = c["http"]["server"]
        out[variant] = {
            **c["settings"],
            "measured": {
                "meets_target": True,
                "p99_target_ms": r["p99_target_ms"],
                "config": c["label"],
                "path": "http",
                "capacity_rps": s["peak_rps"],
                "capacity_rps_interval": [s["peak_lo_rps"], s["peak_hi_rps"]],
                "p99_ms": s["p99_ms"],
                "p99_interval_ms": s["p99_interval_ms"],
                "queries": s["queries_at_peak"],
                "machine": results.get("machine"),
            },
        }
    return out
