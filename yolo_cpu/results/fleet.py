"""The fleet answer: from each machine's snapshot (bench-serve's capacity within its p99 target) and a
user's fleet.yaml (the target rate, the p99 target, prices per hour), per machine kind the requests/s
one server sustains, the servers a target rate needs (sized on the capacity's lower bound, the
highest rate a trial sustained), the cost per million images, and the cheapest kind that meets the
target. A machine without a capacity figure is named as such, never guessed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yolo_cpu.errors import UserError
from yolo_cpu.measure.cpu import from_fingerprint
from yolo_cpu.results.render import fmt, table

KEYS = {"model", "target_rps", "p99_ms", "prices"}


@dataclass(frozen=True)
class Fleet:
    """What a user plans for: a model's snapshots, a target rate, its p99 target, prices per hour."""

    model: str
    target_rps: float | None
    p99_ms: float
    prices: dict[str, float]

    @classmethod
    def read(cls, path: Path) -> Fleet:
        """fleet.yaml, validated: errors name the file and the key."""
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as e:
            raise UserError(f"{path}: cannot read the fleet file ({e.strerror})") from e
        except yaml.YAMLError as e:
            raise UserError(f"{path}: not valid YAML ({e})") from e
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a mapping with {', '.join(sorted(KEYS))}")
        if unknown := sorted(set(data) - KEYS):
            raise UserError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
        if not isinstance(data.get("model"), str):
            raise UserError(f"{path}: model: the model whose snapshots to read (results/<machine>/<model>/)")
        prices = data.get("prices") or {}
        if not isinstance(prices, dict):
            raise UserError(f"{path}: prices: a mapping of machine id or CPU name to price per hour")
        for name, price in prices.items():
            _positive(path, f"prices.{name}", price)
        target = data.get("target_rps")
        return cls(
            model=data["model"],
            target_rps=None if target is None else _positive(path, "target_rps", target),
            p99_ms=_positive(path, "p99_ms", data.get("p99_ms", 100)),
            prices={str(k): float(v) for k, v in prices.items()},
        )


def _positive(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise UserError(f"{path}: {key}: {value!r} is not a positive number")
    return float(value)


@dataclass(frozen=True)
class Capacity:
    """One machine's served capacity within a p99 target: the best bundled variant's peak and bracket."""

    variant: str
    peak_rps: float  # the highest rate a LoadGen trial sustained: the bracket's lower bound
    bracket_hi_rps: float  # the lowest rate it did not sustain
    p99_ms: float


def capacity(bench_serve: dict[str, Any], p99_ms: float) -> Capacity | str:
    """The variant with the highest sustained peak within p99_ms, or why there is none."""
    variants = bench_serve.get("variants") or {}
    if not variants:
        return "no capacity figure: its snapshot has no bench-serve results"
    measured = {r.get("p99_target_ms") for r in variants.values()}
    if measured != {p99_ms}:
        got = ", ".join(f"{t:g}" for t in sorted(t for t in measured if t is not None))
        return f"no capacity figure at p99 {p99_ms:g} ms: bench-serve measured at p99 {got} ms"
    found = [
        Capacity(v, bench_serve[f"{v}_serve_peak_rps"], bench_serve[f"{v}_serve_peak_rps_hi"], p99_ms)
        for v in variants
        if bench_serve.get(f"{v}_serve_meets_target") and bench_serve.get(f"{v}_serve_peak_rps")
    ]
    if not found:
        return f"no capacity figure: no serving config sustained any tried rate within p99 {p99_ms:g} ms"
    return max(found, key=lambda c: c.peak_rps)


def servers_needed(target_rps: float, peak_rps: float) -> int:
    """Servers for the target rate, each counted at the rate it sustained (the bracket's lower bound)."""
    return max(1, math.ceil(target_rps / peak_rps - 1e-9))


def cost_per_million(servers: int, price_per_hour: float, target_rps: float) -> float:
    """What the fleet costs per million images served at the target rate."""
    return servers * price_per_hour / (target_rps * 3600) * 1e6


def price_of(machine: str, cpu: str, prices: dict[str, float]) -> float | None:
    """A machine's price per hour, by its id first, then by its CPU name."""
    return prices.get(machine, prices.get(cpu))


def rows(snapshots: dict[str, dict[str, Any]], fleet: Fleet) -> list[dict[str, Any]]:
    """One row per machine kind: its capacity (or why none), and with a target and a price, the
    servers, the fleet's price per hour and its cost per million images."""
    out = []
    for machine, snap in snapshots.items():
        fp = snap.get("fingerprint", {})
        cpu, cores = from_fingerprint(fp), fp.get("logical_cores")
        row: dict[str, Any] = {"machine": machine, "cpu": cpu, "cores": cores}
        cap = capacity(snap.get("bench_serve", {}), fleet.p99_ms)
        if isinstance(cap, str):
            out.append({**row, "note": cap})
            continue
        row.update(variant=cap.variant, peak_rps=cap.peak_rps, bracket_hi_rps=cap.bracket_hi_rps)
        if cores:
            row["images_per_core_hour"] = round(cap.peak_rps * 3600 / cores)
        price = price_of(machine, cpu, fleet.prices)
        if fleet.target_rps:
            row["servers"] = servers_needed(fleet.target_rps, cap.peak_rps)
            if price is not None:
                row.update(
                    price_per_hour=price,
                    fleet_per_hour=round(row["servers"] * price, 4),
                    cost_per_million=round(cost_per_million(row["servers"], price, fleet.target_rps), 4),
                )
        out.append(row)
    return out


def unmatched_prices(snapshots: dict[str, dict[str, Any]], fleet: Fleet) -> list[str]:
    """Price keys that name no snapshot's machine id or CPU: a typo would otherwise price nothing."""
    names = {m for m in snapshots} | {from_fingerprint(s.get("fingerprint", {})) for s in snapshots.values()}
    return sorted(set(fleet.prices) - names)


def cheapest(table_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The kind whose fleet for the target costs least per hour (ties: fewer servers)."""
    priced = [r for r in table_rows if "fleet_per_hour" in r]
    return min(priced, key=lambda r: (r["fleet_per_hour"], r["servers"])) if priced else None


def render(table_rows: list[dict[str, Any]], fleet: Fleet) -> str:
    """The fleet table in markdown, the cheapest kind under it."""
    priced = any("fleet_per_hour" in r for r in table_rows)
    header = ["machine id", "CPU", "cores", "variant", f"requests/s per server at p99 <= {fleet.p99_ms:g} ms"]
    header += ["images per core-hour"]
    if fleet.target_rps:
        header += [f"servers for {fleet.target_rps:g} requests/s"]
    if priced:
        header += ["price per hour", "fleet per hour", "cost per million images"]
    body = []
    for r in table_rows:
        if "note" in r:
            body.append([r["machine"], r["cpu"], r["cores"], r["note"], *[""] * (len(header) - 4)])
            continue
        cells = [r["machine"], r["cpu"], r["cores"], r["variant"]]
        cells += [f"{r['peak_rps']:.1f} (not {r['bracket_hi_rps']:.1f})", r.get("images_per_core_hour")]
        if fleet.target_rps:
            cells.append(r["servers"])
        if priced:
            cells += [r.get("price_per_hour"), r.get("fleet_per_hour"), r.get("cost_per_million")]
        body.append(cells)
    best = cheapest(table_rows)
    lines = [
        f"## Fleet: {fleet.model}" + (f" at {fleet.target_rps:g} requests/s" if fleet.target_rps else ""),
        "",
        "Each server's rate is the highest a LoadGen Server trial sustained within the p99 target on that "
        "machine (the bracket's lower bound; in brackets the lowest rate it did not sustain); servers are "
        "sized on it."
        + (
            " Cost per million images: the fleet's bill for an hour over the images it serves in that hour."
            if priced
            else ""
        ),
        "",
        table(header, body, cell=lambda c: fmt(c, 4, missing="", trim=True)),
        "",
    ]
    if best:
        lines += [
            f"Cheapest that meets the target: `{best['machine']}` ({best['cpu']}), {best['servers']} servers "
            f"of {best['variant']}, {fmt(best['fleet_per_hour'], 4, trim=True)} per hour.",
            "",
        ]
    elif fleet.target_rps and fleet.prices:
        lines += ["No priced machine has a capacity figure: no kind can be sized for the target.", ""]
    return "\n".join(lines)
