"""Report section on capacity: the requests/s one server sustains within the p99 target, per serving
config and path (bench-serve)."""

from __future__ import annotations

from typing import Any

from yolo_cpu.results.render import fmt, ratio, table


def _p99(t: dict[str, Any] | None) -> str:
    if not t:
        return "n/a"
    lo, hi = t.get("p99_lo_ms"), t.get("p99_hi_ms")
    return f"{t['p99_ms']:.1f} [{fmt(lo, 1)}, {fmt(hi, 1) if hi is not None else 'unbounded'}]"


def _peak(s: dict[str, Any] | None) -> str:
    if not s:
        return "not measured"
    if not s.get("peak_rps"):
        tried = [t for t in s.get("trials", []) if t.get("target_qps")]
        low = min(tried, key=lambda t: t["target_qps"]) if tried else None
        at_low = f"; at {low['target_qps']:.1f}/s p99 {low['p99_ms']:.0f} ms, {_failed(low)}" if low else ""
        return f"none sustained (< {s['peak_hi_rps']:.1f}{at_low})"
    return f"{s['peak_rps']:.1f} [{s['peak_lo_rps']:.1f}, {s['peak_hi_rps']:.1f}]"


def _failed(t: dict[str, Any]) -> str:
    """Which verdict a trial failed: the p99 target, LoadGen's early-stopping bound, or failed requests."""
    if not t.get("latency_met"):
        return "over the p99 target"
    if not t.get("early_stopping_met"):
        return "LoadGen's early-stopping bound not met"
    return (
        f"{t.get('errors')} failed requests" if t.get("errors") else f"LoadGen: {t.get('invalid_reason') or 'INVALID'}"
    )


def capacity(m: dict[str, Any]) -> list[str]:
    """bench-serve: the requests/s one server sustains within the p99 target, per config and path."""
    bs = m.get("bench_serve", {})
    if not bs.get("variants"):
        return []
    cpu = m.get("fingerprint", {}).get("cpu") or bs.get("machine", {}).get("cpu", "this CPU")
    out = ["## Capacity", ""]
    for v, r in bs["variants"].items():
        target, best = r["p99_target_ms"], r.get("best")
        inproc = r.get("in_process", {})
        in_off = inproc.get("offline", {}).get("completed_qps")
        in_peak = inproc.get("server", {}).get("peak_rps")
        if not inproc and not any(c.get("http") for c in r.get("configs", [])):
            skipped = "; ".join(r.get("skipped_by_time_budget") or []) or "everything"
            out += [f"**{v}: nothing measured**: serve.max_seconds left no time ({skipped} skipped).", ""]
            continue
        if best is None:
            out += [
                f"**No serving config of {v} sustained any tried rate within p99 <= {target:g} ms** on {cpu} "
                f"(its bundles get the default serve: settings, marked as not meeting the target).",
                "",
            ]
        else:
            c = r["configs"][best]
            s, off = c["http"]["server"], c["http"]["offline"]["completed_qps"]
            out += [
                f"**One {cpu} server with {v} sustains {s['peak_rps']:.1f} requests/s "
                f"[{s['peak_lo_rps']:.1f}, {s['peak_hi_rps']:.1f}] at p99 <= {target:g} ms** (measured p99 "
                f"{_p99(_at(s))} ms over {s['queries_at_peak']} queries; "
                f"config: {c['label']}, over HTTP), {fmt(ratio(s['peak_rps'], in_peak))} of the in-process "
                f"peak ({fmt(in_peak, 1)} requests/s) and {fmt(ratio(s['peak_rps'], off))} of Offline through "
                f"the same server ({off:.1f} images/s; MLPerf's CPU detector submissions reach 0.74-0.80). "
                f"Offline through the server is {fmt(ratio(off, in_off))} of in-process Offline "
                f"({fmt(in_off, 1)} images/s). Bundles of {v} ({', '.join(r['objectives'])}) carry this "
                "config in their `serve:` section, so `yolo-cpu serve BUNDLE` starts with it.",
                "",
            ]
        rows = []
        for c in r.get("configs", []):
            h = c.get("http", {})
            s = h.get("server")
            rows.append(
                [
                    c["label"] + (" (chosen)" if best is not None and c is r["configs"][best] else ""),
                    fmt(h.get("offline", {}).get("completed_qps"), 1),
                    _peak(s),
                    _p99(_at(s)) if s and s.get("peak_rps") else "n/a",
                    fmt(ratio(s.get("peak_rps"), h["offline"]["completed_qps"])) if s else "n/a",
                ]
            )
        out += [
            "Serving configs over HTTP (Ray Serve's batcher, `serve.batch`); the peak is the highest Poisson "
            "rate whose LoadGen trial is VALID (p99 within the target and enough queries for LoadGen's "
            "early-stopping verdict, no failed request); its bracket is [highest sustained, lowest not "
            "sustained]; p99 with its distribution-free 95% interval:",
            "",
            table(
                [
                    "config",
                    "Offline (images/s)",
                    "peak (requests/s) [bracket]",
                    "p99 at peak (ms) [95%]",
                    "peak / Offline",
                ],
                rows,
            ),
            "",
        ]
        compared = r.get("compared", best)
        st = inproc.get("streams")
        inproc_name = "in-process (no Ray, no HTTP" + (
            f"; {st} stream{'s' if st > 1 else ''})" if st else "; OpenVINO's streams)" if st == 0 else ")"
        )
        paths = [
            (inproc_name, inproc),
            ("Ray Serve handle (no HTTP)", r.get("handle", {})),
            ("Ray Serve over HTTP", r["configs"][compared].get("http", {}) if compared is not None else {}),
        ]
        prow = [
            [
                name,
                fmt(d.get("single_stream", {}).get("p50_ms"), 1),
                fmt(d.get("single_stream", {}).get("p90_ms"), 1),
                fmt(d.get("offline", {}).get("completed_qps"), 1),
                _peak(d.get("server")),
            ]
            for name, d in paths
        ]
        at = (
            "the chosen config"
            if compared == best
            else f"{r['configs'][compared]['label']}, the config with the most Offline throughput"
            if compared is not None
            else "no config: none was served"
        )
        out += [
            f"Three paths side by side (the handle and HTTP paths at {at}):",
            "",
            table(
                [
                    "path",
                    "SingleStream p50 (ms)",
                    "SingleStream p90 (ms)",
                    "Offline (images/s)",
                    "Server peak (requests/s) [bracket]",
                ],
                prow,
            ),
            "",
        ]
        split, in_split = r.get("http_cpu_split_ms"), inproc.get("cpu_split_ms")
        if split and in_split:
            inference = round(split["replica"] - split["replica_decode"] - split["replica_nms"], 2)
            in_infer = round(in_split["process"] - in_split["decode"] - in_split["nms"], 2)
            out += [
                "Where the CPU goes, per request (CPU-ms from the processes' own CPU times during an Offline "
                "trial; the load generator shares the machine):",
                "",
                table(
                    [
                        "",
                        "load generator",
                        "HTTP proxy",
                        "replica: decode + letterbox",
                        "replica: NMS",
                        "replica: inference and the rest",
                        "Ray's daemons",
                        "total",
                    ],
                    [
                        [
                            "in-process",
                            in_infer + in_split["decode"] + in_split["nms"],
                            0,
                            in_split["decode"],
                            in_split["nms"],
                            in_infer,
                            0,
                            in_split["process"],
                        ],
                        [
                            "over HTTP",
                            split["load_generator"],
                            split["proxy"],
                            split["replica_decode"],
                            split["replica_nms"],
                            inference,
                            split["ray_daemons"],
                            split["total"],
                        ],
                    ],
                ),
                "",
                "In-process, the load generator's process runs everything (its column is the total). Served, "
                "the work the model does is the same; the difference is the proxy, Ray's daemons and the "
                "replica's own request handling.",
                "",
            ]
        if r.get("skipped_by_time_budget"):
            out += [f"Skipped by the time budget (serve.max_seconds): {'; '.join(r['skipped_by_time_budget'])}.", ""]
    return out + ["![capacity](../plots/capacity.png)", ""]


def _at(s: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last sustained trial at the peak rate (its p99 and interval)."""
    if not s or not s.get("peak_rps"):
        return None
    at = [
        t
        for t in s["trials"]
        if t["meets"] and abs(t["target_qps"] - s["peak_lo_rps"]) < 1e-6 * max(1, s["peak_lo_rps"]) + 0.01
    ]
    return at[-1] if at else None
