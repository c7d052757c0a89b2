"""One colour per variant, the same in every chart (matplotlib's tab10, in the variant registry's order)."""

from __future__ import annotations

from yolo_cpu.models.variants import VARIANTS

_TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
VARIANT_COLOURS: dict[str, str] = {v: _TAB10[i] for i, v in enumerate([*VARIANTS, "torch_fp32"])}


def colour(name: str) -> str | None:
    """The variant's colour; None (matplotlib's choice) for a series that is not a variant."""
    return VARIANT_COLOURS.get(name)
