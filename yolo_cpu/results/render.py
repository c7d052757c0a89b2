"""How the results documents write a figure: one formatter for values, intervals and markdown tables,
used by the report, the pull-request comment and the machines table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yolo_cpu import keys


def fmt(v: Any, digits: int = 2, missing: str = "n/a", trim: bool = False) -> str:
    """A cell: None as `missing`, booleans as yes/no, floats to `digits` (trailing zeros cut with trim)."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        text = f"{v:.{digits}f}"
        return text.rstrip("0").rstrip(".") if trim else text
    return str(v)


def interval(
    v: float | None,
    lo: float | None,
    hi: float | None,
    unit: str = "x",
    digits: int = 2,
    missing: str = "n/a",
    trim: bool = False,
) -> str:
    """A figure with its 95% interval, '1.85x [1.80, 1.90]'; the bracket only when both bounds are known."""
    if v is None:
        return missing
    text = f"{fmt(float(v), digits, trim=trim)}{unit}"
    if lo is None or hi is None:
        return text
    return text + f" [{fmt(float(lo), digits, trim=trim)}, {fmt(float(hi), digits, trim=trim)}]"


def with_interval(d: dict[str, Any], key: str, unit: str = "x", digits: int = 2) -> str:
    """The figure `key` of a results dict with its interval (keys.interval's bounds)."""
    lo, hi = keys.interval(key)
    return interval(d.get(key), d.get(lo), d.get(hi), unit, digits)


def table(header: list[str], rows: list[list[Any]], cell: Callable[[Any], str] = fmt) -> str:
    """A markdown table; each cell written by `cell`."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to two decimals, None when either is missing or zero."""
    return round(a / b, 2) if a and b else None
