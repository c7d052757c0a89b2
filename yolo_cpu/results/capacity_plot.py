"""The capacity chart: for each bundled variant, p50 and p99 latency against the offered Server rate per
serving config and path (every LoadGen Server trial of bench-serve), the p99 target and the chosen peak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolo_cpu.results.plots import pyplot, save_png


def series(r: dict[str, Any]) -> dict[str, list[tuple[float, float, float, bool]]]:
    """{path/config label: [(offered rate, p50 ms, p99 ms, met), ...] by rate}."""
    out: dict[str, list] = {}
    compared = r.get("compared")
    at = r["configs"][compared]["label"] if compared is not None else "no config"
    named = [("in-process", r.get("in_process", {})), (f"handle, {at}", r.get("handle", {}))]
    named += [(f"HTTP, {c['label']}", c.get("http", {})) for c in r.get("configs", [])]
    for name, d in named:
        trials = d.get("server", {}).get("trials", [])
        if trials:
            out[name] = sorted((t["target_qps"], t["p50_ms"], t["p99_ms"], t["meets"]) for t in trials)
    return out


def capacity_png(path: str | Path, bench_serve: dict[str, Any]) -> None:
    """One panel per measured variant (a note instead when bench-serve ran no Server trial)."""
    variants = {v: r for v, r in bench_serve.get("variants", {}).items() if series(r)}
    plt = pyplot()
    if not variants:
        fig, ax = plt.subplots(figsize=(8, 2), dpi=110)
        ax.axis("off")
        ax.text(0.5, 0.5, "bench-serve ran no Server trial (see details/bench_serve.json)", ha="center")
        save_png(fig, path)
        return
    fig, axes = plt.subplots(1, len(variants), figsize=(8.5 * len(variants), 5.8), dpi=110, squeeze=False)
    for ax, (v, r) in zip(axes[0], variants.items()):
        for i, (name, pts) in enumerate(series(r).items()):
            c = f"C{i % 10}"
            xs = [p[0] for p in pts]
            ax.plot(xs, [p[2] for p in pts], "-o", color=c, label=f"{name}: p99", markersize=4)
            ax.plot(xs, [p[1] for p in pts], ":", color=c, alpha=0.7, label=f"{name}: p50")
            for x, _, p99, met in pts:
                if not met:
                    ax.scatter([x], [p99], s=40, facecolors="white", edgecolors=c, zorder=3)
        target = r.get("p99_target_ms")
        if target:
            ax.axhline(target, color="black", linewidth=1, linestyle="--", label=f"p99 target {target:g} ms")
        best = r.get("best")
        if best is not None:
            s = r["configs"][best]["http"]["server"]
            ax.scatter(
                [s["peak_rps"]],
                [s["p99_ms"]],
                s=220,
                facecolors="none",
                edgecolors="black",
                zorder=4,
                label=f"chosen: {r['configs'][best]['label']}, {s['peak_rps']:g} requests/s",
            )
        ax.set_yscale("log")
        ax.set(
            xlabel="offered rate, Poisson arrivals (requests/s)",
            ylabel="latency from scheduled arrival (ms)",
            title=f"{v}: latency against offered rate (hollow: trial not sustained)",
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False, ncol=2)
    fig.tight_layout()
    save_png(fig, path)
