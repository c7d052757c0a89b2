"""The accuracy-latency trade-off chart: each variant's batch-1 p50 latency against its mAP50-95, the
Pareto front, the band within report.max_map_drop of FP32, and the recommended variant."""

from __future__ import annotations

from pathlib import Path

from yolo_cpu.results.colours import colour
from yolo_cpu.results.plots import pyplot, save_png


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """The variants no other variant beats on both axes (lower latency and higher mAP), fastest first."""
    front, best = [], float("-inf")
    for name, (_, ap) in sorted(points.items(), key=lambda kv: (kv[1][0], -kv[1][1])):
        if ap > best:
            front.append(name)
            best = ap
    return front


def tradeoff_png(
    path: str | Path,
    points: dict[str, tuple[float, float]],
    drops: dict[str, float],
    fp32_map: float,
    max_drop: float,
    recommended: str | None,
) -> None:
    """`points` {variant: (p50 ms, mAP50-95)}; a filled marker is within the mAP budget (`drops`, points
    lost against the same runtime's FP32), a hollow one is over it. The y-axis spans at least four
    budgets, so a drop of a few tenths of a point looks its size."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.8), dpi=110)
    front = pareto_front(points)
    ax.plot(
        [points[v][0] for v in front],
        [points[v][1] for v in front],
        color="0.55",
        linewidth=1,
        zorder=1,
        drawstyle="steps-post",
        label="Pareto front (nothing is both faster and more accurate)",
    )
    ax.axhspan(
        fp32_map - max_drop,
        fp32_map,
        color="#2ca02c",
        alpha=0.08,
        zorder=0,
        label=f"within {max_drop:g} mAP points of FP32 (report.max_map_drop)",
    )
    span_ms = (max(ms for ms, _ in points.values()) - min(ms for ms, _ in points.values())) or 1.0
    placed: list[tuple[float, float]] = []
    for v, (ms, ap) in sorted(points.items(), key=lambda kv: kv[1]):
        within = drops.get(v, 0.0) <= max_drop
        ax.scatter(
            [ms], [ap], s=55, zorder=3, color=colour(v) if within else "white", edgecolors=colour(v), linewidths=1.5
        )
        # a label whose point sits close to an already labelled one goes below it, not on top of it
        near = sum(abs(ms - x) < 0.06 * span_ms and abs(ap - y) < 0.05 for x, y in placed)
        ax.annotate(
            v,
            (ms, ap),
            textcoords="offset points",
            xytext=(6, 5 - 12 * near),
            fontsize=8,
            va="bottom" if not near else "top",
        )
        placed.append((ms, ap))
    if any(drops.get(v, 0.0) > max_drop for v in points):
        ax.scatter(
            [],
            [],
            s=55,
            color="white",
            edgecolors="0.3",
            linewidths=1.5,
            label="hollow: loses more than the budget against its runtime's FP32",
        )
    if recommended in points:
        ms, ap = points[recommended]
        ax.scatter(
            [ms],
            [ap],
            s=260,
            marker="o",
            facecolors="none",
            edgecolors="black",
            linewidths=1.2,
            zorder=4,
            label=f"recommended for batch-1 latency: {recommended}",
        )
    aps = [ap for _, ap in points.values()] + [fp32_map - max_drop, fp32_map]
    lo, hi = min(aps), max(aps)
    pad = max(0.0, 4 * max_drop - (hi - lo)) / 2 + 0.1 * max(hi - lo, max_drop)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set(
        xlabel="batch-1 p50 latency per image (ms), lower is better",
        ylabel="mAP50-95 (%)",
        title="Accuracy against latency: each variant on this machine",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    fig.tight_layout()
    save_png(fig, path)
