"""PNG renderings of the plot CSVs (DVC's HTML plots need a CDN these machines cannot reach)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from yolo_cpu import keys
from yolo_cpu.io import atomic_path
from yolo_cpu.results.colours import colour


def write_csv(path: str | Path, rows: list[dict[str, Any]], fieldnames: list[str] | None = None) -> None:
    """Rows with the same keys -> CSV, atomically (header only when rows is empty and fieldnames given)."""
    if not rows and not fieldnames:
        raise ValueError(f"no rows for {path}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def line_png(
    path: str | Path,
    series: dict[str, tuple[list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
) -> None:
    """One line per series {label: (xs, ys)} -> PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label, color=colour(label))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log", base=2)
        ticks = sorted({x for xs, _ in series.values() for x in xs})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the data; the PNG grows
    save_png(fig, path)


def bar_png(path: str | Path, labels: list[str], values: dict[str, list[float]], ylabel: str, title: str) -> None:
    """Grouped bars: one group per label, one bar per series in `values`."""
    plt = pyplot()
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(labels) * max(1, len(values))), 4.5), dpi=110)
    width = 0.8 / max(len(values), 1)
    x = np.arange(len(labels))
    for i, (name, vals) in enumerate(values.items()):
        ax.bar(x + i * width, vals, width, label=name)
    ax.set_xticks(x + width * (len(values) - 1) / 2, labels, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the data; the PNG grows
    save_png(fig, path)


def save_png(fig, path: str | Path) -> None:
    """Write a figure to `path` atomically and close it."""
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")  # legends outside the axes included
    pyplot().close(fig)


def write_series(stem: str | Path, x_name: str, xs: list, series: dict[str, list], ylabel: str, title: str) -> None:
    """<stem>.csv in wide form (one x column, one column per series, so DVC draws each series as its
    own line; missing values empty) and <stem>.png, only when some series has a value: no chart of
    empty axes is written (an old one is removed)."""
    rows = [
        {x_name: x, **{s: ("" if vals[i] is None else vals[i]) for s, vals in series.items()}} for i, x in enumerate(xs)
    ]
    write_csv(f"{stem}.csv", rows, fieldnames=[x_name, *series])
    lines = {
        s: ([float(x) for x, v in zip(xs, vals) if v is not None], [v for v in vals if v is not None])
        for s, vals in series.items()
    }
    drawn = {s: xy for s, xy in lines.items() if xy[0]}
    if not drawn:
        Path(f"{stem}.png").unlink(missing_ok=True)
        return
    line_png(
        f"{stem}.png", drawn, x_name, ylabel, title, logx=len(xs) > 1 and all(isinstance(x, int) and x > 0 for x in xs)
    )


def write_per_image_latency(
    stem: str | Path, sizes: list[int], variants: list[str], figures: dict[str, Any], runtime: str
) -> None:
    """<stem>.csv/.png: each variant's p50 latency per image (its batch p50 / the batch size) by batch
    size, from the keys.at_batch p50 figures."""
    per_image = {
        v: [None if (t := figures.get(keys.at_batch(v, n, "p50_ms"))) is None else round(t / n, 4) for n in sizes]
        for v in variants
    }
    write_series(
        stem,
        "batch",
        sizes,
        per_image,
        "p50 latency per image (ms): batch p50 / batch size",
        f"{runtime}: latency per image by batch size",
    )


def delta_bars_png(
    path: str | Path, per_variant: dict[str, list[dict[str, Any]]], worst: int, xlabel: str, title: str
) -> None:
    """One panel per variant: its `worst` rows (class, delta, delta_lo, delta_hi, instances; sorted
    worst first) as horizontal bars with their 95% intervals, labelled with the instance counts."""
    plt = pyplot()
    n = len(per_variant)
    fig, axes = plt.subplots(1, n, figsize=(min(14.5, 1.0 + 3.4 * n), 0.28 * worst + 1.6), dpi=110, squeeze=False)
    for ax, (v, rows) in zip(axes[0], per_variant.items()):
        rows = rows[:worst][::-1]
        y = list(range(len(rows)))
        d = [r["delta"] for r in rows]
        lo = [r["delta"] - (r["delta_lo"] if r["delta_lo"] is not None else r["delta"]) for r in rows]
        hi = [(r["delta_hi"] if r["delta_hi"] is not None else r["delta"]) - r["delta"] for r in rows]
        from matplotlib.colors import to_rgba

        ax.barh(y, d, color=[to_rgba(colour(v) or "0.4", 0.9 if x < 0 else 0.4) for x in d])  # a gain: paler
        ax.errorbar(d, y, xerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        ax.set_yticks(y, [f"{r['class']} ({r['instances']})" for r in rows], fontsize=7)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(v, fontsize=9, color=colour(v))
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    fig.supxlabel(xlabel, fontsize=8)
    fig.suptitle(f"{title} (instances in brackets)", fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
