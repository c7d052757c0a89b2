"""The pull-request comment: headline tables in words (mAP per variant and its change, each variant
against the best FP32, the recommendation, gates crossed) and the full metrics diff folded away.
Absolute timings are compared only when both revisions ran on the same machine (same machine id in
metrics/fingerprint.json); otherwise only ratios. Every timing change says whether it is beyond the
noise: ratios by their revisions' 95% intervals, absolute timings by the interval of their ratio
from both runs' slices; an mAP shows its delta's interval against FP32."""

from __future__ import annotations

import re
from typing import Any

from yolo_cpu import keys
from yolo_cpu.measure.intervals import log_ratio_interval, separable
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS
from yolo_cpu.results.render import fmt, interval, table
from yolo_cpu.results.revisions import RECOMMENDATION_FILES, details_at, dvc_json, recommendation_details

# Figures that depend on the machine: shown across revisions only when the machine ids match.
ABSOLUTE = re.compile(r"(_ms|_ips|_images_per_s|_mb|_figure)$")


def machines(metrics: dict[str, dict[str, dict[str, Any]]]) -> tuple[str | None, str | None, str]:
    """(base, head) machine description 'CPU, N cores, id X' from metrics/fingerprint.json, and a note
    when the software (libraries, thread settings) differs between the two."""
    fp = metrics.get("metrics/fingerprint.json", {})
    if "machine_id" not in fp:
        return None, None, ""
    old, new = (
        None if fp["machine_id"].get(side) is None else f"{fp.get('cpu', {}).get(side)}, id {fp['machine_id'][side]}"
        for side in ("old", "new")
    )
    sw = fp.get("software_id", {})
    note = (
        ""
        if sw.get("old") == sw.get("new")
        else (
            f" The software differs (id {sw.get('old') or 'not recorded'} -> {sw.get('new')}): libraries or "
            "thread settings changed."
        )
    )
    return old, new, note


def _fmt(v: Any) -> str:
    return fmt(v, 3, missing="—", trim=True)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [table(header, rows, cell=_fmt), ""]


INPUT_PARAMS = {"model.name": "model", "model.source": "model source", "data.dataset": "dataset"}


def input_changes(metrics: dict, params: dict) -> list[str]:
    """What makes the two revisions' mAPs incomparable: another model, model source or dataset, or
    another set of evaluation images (download's eval_split_sha256)."""
    ps = params.get("params.yaml", {})
    out = [
        f"{what} `{d.get('old')}` → `{d.get('new')}`"
        for k, what in INPUT_PARAMS.items()
        if (d := ps.get(k)) is not None and d.get("old") != d.get("new")
    ]
    split = metrics.get("metrics/download.json", {}).get("eval_split_sha256")
    if split is not None and split.get("old") != split.get("new"):
        out.append("the evaluation images (eval_split_sha256)")
    return out


def headline(
    metrics: dict,
    params: dict,
    report_details: tuple[dict, dict] = ({}, {}),
    eval_details: tuple[dict, dict] = ({}, {}),
) -> list[str]:
    """The tables a reviewer reads first, in words; no mAP is compared when the model or the data
    differ. report_details, eval_details: the base and head details/recommend.json and
    details/eval_map.json (the intervals of the ratios and of the mAP changes)."""
    ev = with_bounds(metrics.get("metrics/eval_map.json", {}), eval_details, "_delta_map50_95")
    out = ["### Accuracy (mAP50-95, points)", ""]
    differ = input_changes(metrics, params)
    if differ:
        out += [f"_Not compared: the two revisions measured different things ({'; '.join(differ)})._", ""]
        ev = {}
    rows = [
        [
            v,
            ev[k].get("old"),
            ev[k].get("new"),
            ev[k].get("diff"),
            _with_interval(ev, keys.map_delta(v), "old", ""),
            _with_interval(ev, keys.map_delta(v), "new", ""),
        ]
        for v in VARIANTS
        if (k := keys.map50_95(v)) in ev
    ]
    out += (
        _table(["variant", "base", "head", "change", "base change vs FP32", "head change vs FP32"], rows)
        if rows
        else []
        if differ
        else ["_No mAP measured._", ""]
    )
    ratios = with_bounds(recommendation(metrics), report_details, "_x_best_fp32")
    speed = [
        [
            v,
            words,
            *(
                _with_interval(ratios, k, side) if ratios[k].get(side) != 1.0 else "the best FP32"
                for side in ("old", "new")
            ),
            speed_change(ratios, k),
        ]
        for v in VARIANTS
        for o, words in (("latency_p50", "batch-1 latency"), ("throughput", "best images/s"))
        if (k := keys.over_best_fp32(v, o)) in ratios
    ]
    out += [
        "### Each variant against the best FP32 (times as fast, measured within each run, 95% intervals)",
        "",
        "The best FP32 of any runtime, the release model as downloaded included. A change is *not significant* "
        "when the two revisions' intervals overlap.",
        "",
    ]
    out += _table(["variant", "figure", "base", "head", "change"], speed) if speed else ["_None measured._", ""]
    rec = recommendation(metrics)
    rows = [
        [
            k.removesuffix("_variant").replace("_", " "),
            d.get("old"),
            d.get("new"),
            "**changed**" if d.get("old") != d.get("new") else "",
        ]
        for k, d in rec.items()
        if k.endswith("_variant")
    ]
    out += ["### Recommendation", ""] + (
        _table(["objective", "base", "head", ""], rows) if rows else ["_No recommendation._", ""]
    )
    head_rec = report_details[1]
    trade = [t["sentence"] for t in head_rec.get("tradeoffs", {}).values() if t.get("sentence")]
    out += [f"What the budget costs (head): {' '.join(trade)}", ""] if trade else []
    out += [n for note in ("judge_note", "unsupported_note") if head_rec.get(note) for n in (head_rec[note], "")]
    budget = params.get("params.yaml", {}).get("report.max_map_drop", {}).get("new")
    gates = []
    for v in VARIANTS:
        d = ev.get(keys.map_delta(v))
        if d and budget is not None:
            was, now = (d.get(s) is not None and -d[s] > budget for s in ("old", "new"))
            if was != now:
                gates.append(
                    f"- `{v}` {'now loses' if now else 'no longer loses'} more than "
                    f"`report.max_map_drop` = {budget} mAP50-95 points ({_fmt(d.get('new'))})"
                )
    out += [
        "### Gates",
        "",
        *(gates or ["_Not checked: the inputs differ._" if differ else "_Nothing crossed a gate._"]),
        "",
    ]
    return out


def with_bounds(
    figures: dict[str, dict[str, Any]], details: tuple[dict, dict], suffix: str
) -> dict[str, dict[str, Any]]:
    """The metrics diff's {key: {old, new}} plus, for every key ending in `suffix`, its interval
    bounds from each revision's details file (the headline keeps the figure, details the bounds)."""
    out = dict(figures)
    for k in [k for k in figures if k.endswith(suffix)]:
        for b in keys.interval(k):
            if b not in out:
                out[b] = {side: det.get(b) for side, det in zip(("old", "new"), details)}
    return out


def _is_figure(k: str) -> bool:
    return not k.endswith(("_lo", "_hi", "_batch"))


def _with_interval(keys: dict[str, dict[str, Any]], k: str, side: str, unit: str = "x") -> str:
    v = keys.get(k, {}).get(side)
    lo, hi = keys.get(f"{k}_lo", {}).get(side), keys.get(f"{k}_hi", {}).get(side)
    return interval(v, lo, hi, unit, 3, missing="—", trim=True)


def speed_change(keys: dict[str, dict[str, Any]], k: str) -> str:
    """'not significant' when the base and head intervals overlap (or one is missing), else the change."""
    old, new = keys.get(k, {}).get("old"), keys.get(k, {}).get("new")
    if old is None or new is None:
        return ""
    lo = [keys.get(f"{k}_lo", {}).get(s) for s in ("old", "new")]
    hi = [keys.get(f"{k}_hi", {}).get(s) for s in ("old", "new")]
    if None in lo or None in hi:
        return f"{new / old:.3f}x (no interval)"
    if lo[1] > hi[0] or hi[1] < lo[0]:
        return f"**{new / old:.3f}x**"
    return "not significant"


def slices_for(k: str, details: dict[str, Any]) -> list[float] | None:
    """The per-slice figures behind a headline timing in a stage's details: a batch-n p50 (its slices'
    medians) or a best images/s (at the best batch: OpenVINO's slices' images/s, ONNX Runtime's from
    the slices' mean ms)."""
    if (m := re.fullmatch(r"(\w+?)_b(\d+)_p50_ms", k)) is not None:
        return details.get(keys.slices(m.group(1), int(m.group(2)), "p50_ms"))
    if (m := re.fullmatch(r"(\w+?)_best_ips", k)) is not None:
        v, n = m.group(1), details.get(keys.best_batch(m.group(1)))
        if n is None:
            return None
        if v in OV_VARIANTS:
            return details.get(keys.slices(v, n, "ips"))
        mean = details.get(keys.slices(v, n, "mean_ms"))
        return [1000.0 * n / t for t in mean] if mean else None
    return None


def timing_change(k: str, old_details: dict[str, Any], new_details: dict[str, Any]) -> str:
    """Whether an absolute timing moved beyond the noise between two runs on one machine: the 95%
    interval of new/old from both runs' slices (Welch, on logs); 'not significant' when it covers 1."""
    a, b = slices_for(k, new_details), slices_for(k, old_details)
    if not a or not b:
        return ""
    r, lo, hi = log_ratio_interval(a, b, paired=False)
    verdict = "significant" if separable(lo, hi) else "not significant"
    return f"{r:.3f}x [{lo:.3f}, {hi:.3f}], {verdict} ({len(b)} / {len(a)} slices)"


def recommendation(metrics: dict) -> dict[str, dict[str, Any]]:
    """The recommendation's {key: {old, new}}, lined up across the move from the report stage's
    metrics file to the recommend stage's (each side from whichever file it was in)."""
    out: dict[str, dict[str, Any]] = {}
    for f in RECOMMENDATION_FILES:
        for k, d in metrics.get(f, {}).items():
            merged = out.setdefault(k, {})
            for side in ("old", "new"):
                if merged.get(side) is None and d.get(side) is not None:
                    merged[side] = d[side]
    for d in out.values():
        if (
            d.get("old") is not None
            and d.get("new") is not None
            and isinstance(d["new"], (int, float))
            and not isinstance(d["new"], bool)
        ):
            d["diff"] = round(d["new"] - d["old"], 6)
    return out


def changed_rows(
    diff: dict, same_machine: bool, revs: tuple[str, str | None] | None = None, same_inputs: bool = True
) -> list[list[Any]]:
    """Every changed metric; absolute timings only when both revisions ran on the same machine, each
    with whether it moved beyond the noise (from both runs' slices, read at `revs`); mAPs only when
    both measured the same model on the same images."""
    rows = []
    for f, figures in sorted(diff.items()):
        if f == "metrics/eval_map.json" and not same_inputs:
            continue
        details = None
        for k, d in sorted(figures.items()):
            if d.get("old") == d.get("new"):
                continue
            if ABSOLUTE.search(k) and not same_machine:
                continue
            note = ""
            if ABSOLUTE.search(k) and revs is not None:
                details = details or (details_at(revs[0], f), details_at(revs[1], f))
                note = timing_change(k, *details)
            rows.append([_stage(f), keys.describe(k), d.get("old"), d.get("new"), d.get("diff"), note])
    return rows


def _stage(metrics_file: str) -> str:
    """metrics/bench_ov.json -> bench-ov (the stage that wrote it)."""
    stem = metrics_file.removeprefix("metrics/").removesuffix(".json")
    return next((stage for stage, f in keys.STAGE_FILES.items() if f == stem), stem)


def render(base: str, head: str | None) -> str:
    revs = [base] + ([head] if head else [])
    metrics, params = dvc_json("metrics", revs), dvc_json("params", revs)
    old_m, new_m, software = machines(metrics)
    same = old_m is not None and old_m == new_m
    lines = [f"## Pipeline metrics: `{base}` → `{head or 'workspace'}`", ""]
    if same:
        lines += [f"Both ran on the same machine ({new_m}): absolute timings are compared.{software}", ""]
    else:
        lines += [
            f"Different machines (base: {old_m or 'none recorded'}; head: {new_m or 'none recorded'}): "
            "only ratios measured within each run are compared; absolute timings are left out.",
            "",
        ]
    differ = input_changes(metrics, params)
    if differ:
        lines += [f"**Different inputs:** {'; '.join(differ)}. The mAPs of the two revisions are not compared.", ""]
    lines += headline(
        metrics,
        params,
        (recommendation_details(base), recommendation_details(head)),
        (details_at(base, "metrics/eval_map.json"), details_at(head, "metrics/eval_map.json")),
    )
    changed_params = [
        [k, d.get("old"), d.get("new")]
        for k, d in params.get("params.yaml", {}).items()
        if d.get("old") != d.get("new")
    ]
    lines += ["### Params changed", ""] + (
        _table(["param", "base", "head"], changed_params) if changed_params else ["_No parameter changed._", ""]
    )
    rows = changed_rows(metrics, same, (base, head), same_inputs=not differ)
    lines += [
        f"<details><summary>All changed metrics ({len(rows)})</summary>",
        "",
        "Absolute timings carry the 95% interval of head / base from both runs' slices: *not significant* "
        "when it covers no change.",
        "",
    ]
    lines += (
        _table(["stage", "figure", "base", "head", "change", "head / base [95%]"], rows)
        if rows
        else ["_No metric changed._", ""]
    )
    lines += ["</details>", ""]
    return "\n".join(lines)
