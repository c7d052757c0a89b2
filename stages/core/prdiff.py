"""The pull-request comment: a headline table (mAP per variant and its change, speed-ups, the
recommendation, gates crossed) and the full metrics diff folded away. Absolute timings are compared
only when both revisions ran on the same machine (same `machine.id`); otherwise only ratios."""
from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from .errors import UserError
from .variants import VARIANTS

# Figures that depend on the machine: shown across revisions only when the machine ids match.
ABSOLUTE = re.compile(r"(_p50_ms|_p90_ms|_p99_ms|_ips|_images_per_s|_rss_peak_mb|_figure)$")


def dvc_json(kind: str, revs: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """`dvc <kind> diff --json --all`: {file: {key: {old, new[, diff]}}}; raises with DVC's message."""
    proc = subprocess.run(["dvc", kind, "diff", *revs, "--json", "--all"], capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"dvc {kind} diff {' '.join(revs)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "{}")


def machines(metrics: dict[str, dict[str, dict[str, Any]]]) -> tuple[str | None, str | None]:
    """(base, head) machine description 'CPU, N cores, id X' from the stage metrics files."""
    for f in ("metrics/bench_ov.json", "metrics/bench_ort.json", "metrics/eval_map.json"):
        m = metrics.get(f, {})
        if "machine.id" in m:
            old, new = (None if m["machine.id"].get(side) is None else
                        f"{m['machine.cpu'][side]}, {m['machine.cores'][side]} cores, id {m['machine.id'][side]}"
                        for side in ("old", "new"))
            return old, new
    return None, None


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows], ""]


def headline(metrics: dict, params: dict) -> list[str]:
    """The tables a reviewer reads first."""
    ev = metrics.get("metrics/eval_map.json", {})
    out = ["### Accuracy (mAP50-95, points)", ""]
    rows = [[v, ev[k].get("old"), ev[k].get("new"), ev[k].get("diff")] for v in VARIANTS
            if (k := f"{v}_map50_95") in ev]
    out += _table(["variant", "base", "head", "change"], rows) if rows else ["_No mAP measured._", ""]
    speed = [[k, d.get("old"), d.get("new")] for f, keys in sorted(metrics.items())
             for k, d in sorted(keys.items()) if "_speedup_" in k]
    out += ["### Speed-ups over FP32 of the same runtime (each measured within one run)", ""]
    out += _table(["metric", "base", "head"], speed) if speed else ["_None measured._", ""]
    rec = metrics.get("metrics/recommendation.json", {})
    rows = [[k.removesuffix("_variant"), d.get("old"), d.get("new"), "**changed**" if d.get("old") != d.get("new")
             else ""] for k, d in rec.items() if k.endswith("_variant")]
    out += ["### Recommendation", ""] + (_table(["objective", "base", "head", ""], rows) if rows else
                                         ["_No recommendation._", ""])
    budget = params.get("params.yaml", {}).get("report.max_map_drop", {}).get("new")
    gates = []
    for v in VARIANTS:
        d = ev.get(f"{v}_delta_map50_95")
        if d and budget is not None:
            was, now = (d.get(s) is not None and -d[s] > budget for s in ("old", "new"))
            if was != now:
                gates.append(f"- `{v}` {'now loses' if now else 'no longer loses'} more than "
                             f"`report.max_map_drop` = {budget} mAP50-95 points ({_fmt(d.get('new'))})")
    out += ["### Gates", "", *(gates or ["_Nothing crossed a gate._"]), ""]
    return out


def changed_rows(diff: dict, same_machine: bool) -> list[list[Any]]:
    """Every changed metric; absolute timings only when both revisions ran on the same machine."""
    rows = []
    for f, keys in sorted(diff.items()):
        for k, d in sorted(keys.items()):
            if d.get("old") == d.get("new") or k.startswith("machine."):
                continue
            if ABSOLUTE.search(k) and not same_machine:
                continue
            rows.append([f, k, d.get("old"), d.get("new"), d.get("diff")])
    return rows


def render(base: str, head: str | None) -> str:
    revs = [base] + ([head] if head else [])
    metrics, params = dvc_json("metrics", revs), dvc_json("params", revs)
    old_m, new_m = machines(metrics)
    same = old_m is not None and old_m == new_m
    lines = [f"## Pipeline metrics: `{base}` → `{head or 'workspace'}`", ""]
    if same:
        lines += [f"Both ran on the same machine ({new_m}): absolute timings are compared.", ""]
    else:
        lines += [f"Different machines (base: {old_m or 'none recorded'}; head: {new_m or 'none recorded'}): "
                  "only ratios measured within each run are compared; absolute timings are left out.", ""]
    lines += headline(metrics, params)
    changed_params = [[k, d.get("old"), d.get("new")] for k, d in params.get("params.yaml", {}).items()
                      if d.get("old") != d.get("new")]
    lines += ["### Params changed", ""] + (_table(["param", "base", "head"], changed_params) if changed_params
                                           else ["_No parameter changed._", ""])
    rows = changed_rows(metrics, same)
    lines += [f"<details><summary>All changed metrics ({len(rows)})</summary>", ""]
    lines += _table(["file", "metric", "base", "head", "change"], rows) if rows else ["_No metric changed._", ""]
    lines += ["</details>", ""]
    return "\n".join(lines)
