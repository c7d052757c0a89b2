"""Report sections on what was measured where: the machine, the model and data, and how the timings
were taken."""

from __future__ import annotations

from typing import Any

from yolo_cpu.results.figures import TIMING_STAGES
from yolo_cpu.results.render import table


def environment(m: dict[str, Any]) -> list[str]:
    env = (m.get("bench_ov") or m.get("bench_ort") or {}).get("env", {})
    if not env:
        return []
    isa = ", ".join(k for k, v in env.get("isa", {}).items() if v)
    vers = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    machine = (m.get("bench_ov") or m.get("bench_ort") or {}).get("machine", {})
    cpu = env.get("cpu", {})
    return [
        "## Environment",
        "",
        f"- CPU: {env.get('cpu_model')}, {cpu.get('microarch', 'unknown')} "
        f"({cpu.get('vendor')} family {cpu.get('family')}, model {cpu.get('model')}, stepping {cpu.get('stepping')}); "
        f"{env.get('logical_cores')} logical cores, {env.get('memory_gib')} GiB; machine id {machine.get('id')}, "
        f"software id {machine.get('software')}",
        f"- ISA: {isa}",
        f"- Libraries: {vers}",
        f"- Python {env.get('python')}, {env.get('os')}",
        "",
    ]


def dataset_name(m: dict[str, Any]) -> str:
    d = m.get("download", {}).get("dataset", "coco")
    return "COCO val2017" if d == "coco" else f"`{d}`"


def model_and_data(m: dict[str, Any]) -> list[str]:
    d = m.get("download", {})
    if not d:
        return []
    calib = {"train": "its train images", "val": "val images disjoint from the evaluation images"}
    return [
        "## Model and data",
        "",
        f"- Model: {d.get('model')} from {d.get('model_source')} ({d.get('model_fetched_from')}); "
        f"{d.get('model_layout')}, {d.get('classes')} classes",
        f"- Dataset: {dataset_name(m)}: {d.get('eval_images')} evaluation images "
        f"({d.get('eval_objects')} objects), {d.get('calib_images')} calibration images from "
        f"{calib.get(d.get('calibration_from'), d.get('calibration_from'))}; "
        f"{d.get('images_without_labels')} images without a label file (no objects)",
        "",
    ]


def timing_quality(m: dict[str, Any]) -> list[str]:
    """How the timings were taken and whether the host was quiet: per timing stage, the slices, what
    stopped each group, the hypervisor's steal, the load and the spread of the paired ratios."""
    rows = []
    for src in TIMING_STAGES:
        d = m.get(src, {})
        if "noisy_run" not in d:
            continue
        groups = sorted(k.removesuffix("_stopped_by") for k in d if k.endswith("_stopped_by"))
        by = {g: d[f"{g}_stopped_by"] for g in groups}
        capped = [g for g in groups if by[g] == "time cap"]
        slices = [d[f"{g}_slices"] for g in groups if f"{g}_slices" in d]
        rows.append(
            [
                src,
                "**noisy**" if d["noisy_run"] else "quiet",
                f"{min(slices)}-{max(slices)}" if slices else "",
                f"{sum(b == 'precision' for b in by.values())} of {sum(b != 'slices' for b in by.values())}",
                ", ".join(capped) or "none",
                d.get("host_steal_pct"),
                d.get("host_other_cpu_pct", "not measured"),
                f"{d.get('host_load_1m_start')} -> {d.get('host_load_1m_end')}",
                f"{d.get('ratio_spread_max')} ({d.get('ratio_spread_max_pair')})",
            ]
        )
    if not rows:
        return []
    return [
        "## How the timings were taken",
        "",
        "Each timed group (a batch size) runs its variants in interleaved slices, the first variant rotating, "
        "until every speed-up's 95% interval is within the target half-width or the group's time cap (groups "
        "without a headline speed-up stop after `bench.min_slices`). A run "
        "is flagged noisy when a paired slice ratio spreads more than `bench.noisy_spread` (sd of the log "
        "ratio) or the hypervisor stole more than `bench.noisy_steal_pct`% of the CPU time, or other processes "
        "used more than `bench.noisy_other_cpu_pct`% of it (a second job slows every variant alike: the ratios "
        "within the stage stay tight while its absolute figures are off).",
        "",
        table(
            [
                "stage",
                "host",
                "slices per variant",
                "timed groups at the target",
                "groups stopped by the cap",
                "steal %",
                "other processes' CPU %",
                "load (1 min)",
                "largest ratio spread",
            ],
            rows,
        ),
        "",
    ]
