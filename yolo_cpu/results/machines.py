"""Results of several machines side by side: a snapshot of one run's results per machine and model
(results/<machine id>/<model>/, the id from the hardware alone; the software id is in the snapshot's
fingerprint), and one table and one plot over every snapshot of a model. Figures of different
machines share a table, never a ratio: each speed-up is measured within its own run. CPU names come
from the fingerprints (cpu.from_fingerprint), never from memory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from yolo_cpu import keys, paths
from yolo_cpu.errors import UserError
from yolo_cpu.io import read_json, write_json, write_text
from yolo_cpu.measure.cpu import from_fingerprint
from yolo_cpu.models.variants import BASELINE, VARIANTS
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.results.figures import SOURCES, latency_figure, shares_of_peak
from yolo_cpu.results.recommend import FIGURES, best_throughput, map_drops, over_best_fp32
from yolo_cpu.results.render import table, with_interval

RESULTS = Path("results")
ISA_SHOWN = {"VNNI": ("avx512_vnni", "avx_vnni"), "AMX": ("amx_int8",), "bf16": ("avx512_bf16", "amx_bf16")}


def snapshot(root: Path = Path("."), dest: Path = RESULTS) -> Path:
    """Copy this run's results (headline and detail, without the env block), its fingerprint and
    report into dest/<machine id>/<model>/; returns that folder."""
    results = {s: read_results(s, root) for s in (*SOURCES, "recommend", "bench_serve")}
    folder = dest / results["bench_ov"]["machine"]["id"] / results["download"]["model"]
    folder.mkdir(parents=True, exist_ok=True)
    for stage, figures in results.items():
        write_json(folder / f"{stage}.json", {k: v for k, v in figures.items() if k != "env"})
    shutil.copyfile(root / paths.DETAILS / "fingerprint.json", folder / "fingerprint.json")
    shutil.copyfile(root / paths.METRICS / "report.md", folder / "report.md")
    return folder


def load(folder: Path) -> dict[str, Any]:
    """A snapshot folder as {stage: figures}."""
    return {f.stem: read_json(f) for f in sorted(folder.glob("*.json"))}


def machine_rows(m: dict[str, Any], machine: str) -> list[list[Any]]:
    """One row per variant: batch-1 p50 and best images/s, each as times the best FP32 of any runtime
    on that machine (with its 95% interval), the share of that CPU's peak for its precision (where the
    run measured the peak), and the mAP change against FP32."""
    drops, ratios, shares = map_drops(m), over_best_fp32(m), shares_of_peak(m)
    rows = []
    for v in VARIANTS:
        ips = best_throughput(m, v)
        if ips is None:
            continue
        share = shares.get(v)
        rows.append(
            [
                machine,
                v,
                latency_figure(m, v, 1, "p50_ms"),
                _ratio(m, ratios, v, "latency_p50"),
                round(ips, 1),
                _ratio(m, ratios, v, "throughput"),
                f"{100 * share:.0f}%" if share is not None else "",
                -drops[v] if v in drops and v in BASELINE else "",
            ]
        )
    return rows


def _ratio(m: dict[str, Any], ratios: dict[str, Any], v: str, objective: str) -> str:
    """The ratio over the best FP32 with its interval; a snapshot without slices (older runs) gets the
    ratio of the figures, marked as having no interval."""
    key = keys.over_best_fp32(v, objective)
    if key in ratios:
        return with_interval(ratios, key)
    ref = ratios.get(f"best_fp32_{objective}")
    mine, base = (FIGURES[objective](m, u) if u else None for u in (v, ref))
    if not mine or not base:
        return ""
    return f"{(base / mine if objective == 'latency_p50' else mine / base):.2f}x (no slices)"


def describe(m: dict[str, Any]) -> list[Any]:
    """CPU (name and microarchitecture, from the fingerprint), software id, cores, ISA, recommendation."""
    fp = m.get("fingerprint", {})
    isa = fp.get("isa", {})
    rec = m.get("recommend") or m.get("report", {})  # snapshots before the recommend stage: report.json
    return [
        from_fingerprint(fp),
        fp.get("software_id", "not recorded"),
        fp.get("logical_cores"),
        *("yes" if any(isa.get(f) for f in flags) else "no" for flags in ISA_SHOWN.values()),
        rec.get("latency_p50_variant"),
        rec.get("throughput_variant"),
    ]


def cross_machine(model: str, root: Path = RESULTS) -> tuple[str, dict[str, dict[str, float]]]:
    """Markdown tables of every machine's snapshot of `model`, and {machine: {variant: best images/s}}
    for the plot."""
    snaps = {f.parent.name: load(f) for f in sorted(root.glob(f"*/{model}")) if (f / "fingerprint.json").is_file()}
    machines = [[mid, *describe(m)] for mid, m in snaps.items()]
    variants = [r for mid, m in snaps.items() for r in machine_rows(m, mid)]
    text = "\n".join(
        [
            f"## {model} on {len(snaps)} machine(s)",
            "",
            "Each machine's figures come from its own run; ratios are over the best FP32 of any runtime on the "
            "same machine (the release model as downloaded included), with their 95% intervals. Recommended: the "
            "fastest variant within the report's mAP budget.",
            "",
            table(
                [
                    "machine id",
                    "CPU",
                    "software id",
                    "cores",
                    *ISA_SHOWN,
                    "recommended (batch-1 latency)",
                    "recommended (throughput)",
                ],
                machines,
            ),
            "",
            table(
                [
                    "machine id",
                    "variant",
                    "batch-1 p50 ms",
                    "x best FP32 (latency)",
                    "best images/s",
                    "x best FP32 (images/s)",
                    "share of the CPU's peak",
                    "mAP50-95 change",
                ],
                variants,
            ),
            "",
        ]
    )
    series = {mid: {v: best_throughput(m, v) for v in VARIANTS if best_throughput(m, v)} for mid, m in snaps.items()}
    return text, series


def fleet_text(fleet_file: Path, root: Path = RESULTS) -> tuple[str, bool]:
    """The fleet table for fleet_file over every snapshot of its model, and whether it has prices."""
    from yolo_cpu.results import fleet

    plan = fleet.Fleet.read(fleet_file)
    snaps = {f.parent.name: load(f) for f in sorted(root.glob(f"*/{plan.model}")) if (f / "fingerprint.json").is_file()}
    if not snaps:
        raise UserError(f"{fleet_file}: model: no snapshot of {plan.model!r} in {root}/<machine id>/{plan.model}/")
    if bad := fleet.unmatched_prices(snaps, plan):
        known = sorted({*snaps, *(from_fingerprint(s.get("fingerprint", {})) for s in snaps.values())})
        raise UserError(
            f"{fleet_file}: prices: {', '.join(map(repr, bad))} name no machine id or CPU of the {plan.model} "
            f"snapshots (known: {', '.join(known)})"
        )
    return fleet.render(fleet.rows(snaps, plan), plan), bool(plan.prices)


def write_cross_machine(models: list[str], root: Path = RESULTS, extra: str = "") -> None:
    """results/machines.md (with `extra`, the fleet table, at its end), and per model a CSV and PNG of
    best images/s per variant, a series per machine."""
    from yolo_cpu.results.plots import bar_png, write_csv

    parts = [
        "# Results per machine",
        "",
        "Made by `yolo-cpu machines table` from the snapshots in "
        "`results/<machine id>/<model>/` (`yolo-cpu machines snapshot` after a run).",
        "",
    ]
    for model in models:
        text, series = cross_machine(model, root)
        parts.append(text)
        variants = [v for v in VARIANTS if any(v in s for s in series.values())]
        if variants:  # snapshots without timings (a serving-only run) give no plot
            write_csv(
                root / f"machines_{model}_throughput.csv",
                [{"variant": v, **{mid: s.get(v) for mid, s in series.items()}} for v in variants],
            )
            cpu = {mid: from_fingerprint(read_json(root / mid / model / "fingerprint.json")) for mid in series}
            bar_png(
                root / f"machines_{model}_throughput.png",
                variants,
                {f"{mid} ({cpu[mid]})": [s.get(v, 0.0) for v in variants] for mid, s in series.items()},
                "best images/s",
                f"{model}: best throughput per variant, one series per machine",
            )
    write_text(root / "machines.md", "\n".join([*parts, extra] if extra else parts))


def dvc(*args: str) -> None:
    import subprocess

    if subprocess.run(["dvc", *args]).returncode != 0:
        raise UserError(f"`dvc {' '.join(args)}` failed (its output is above)")


def main(command: str, pull: bool = False, fleet_file: Path | None = None) -> None:
    """`yolo-cpu machines`: run = (dvc pull,) dvc repro, snapshot, table; snapshot; table (with the
    fleet table when fleet_file has prices); fleet = the fleet table, printed."""
    import subprocess

    fleet, priced = fleet_text(fleet_file) if fleet_file else ("", False)
    if command == "fleet":
        if not fleet_file:
            raise UserError("machines fleet: give --fleet fleet.yaml (model, target_rps, p99_ms, prices)")
        print(fleet)
        return

    if command == "run":
        if pull and subprocess.run(["dvc", "pull"]).returncode != 0:
            print("machines: dvc pull failed; dvc repro rebuilds what is missing from the mirror or the URLs")
        dvc("repro")
    if command in ("run", "snapshot"):
        print(f"snapshot written to {snapshot()}")
    models = sorted({p.parent.name for p in RESULTS.glob("*/*/fingerprint.json")})
    write_cross_machine(models, extra=fleet if priced else "")
    print(f"{RESULTS / 'machines.md'}: {len(models)} model(s)")
