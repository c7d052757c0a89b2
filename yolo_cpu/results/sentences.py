"""The recommendation's findings in words, shared by the report, details/recommend.json and the
pull-request comment: what the budget costs, what the evaluation cannot judge, why bf16 is missing,
and timings taken under different host conditions."""

from __future__ import annotations

from typing import Any

from yolo_cpu.measure.intervals import separable
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.results.figures import TIMING_STAGES
from yolo_cpu.results.render import with_interval

BETTER = {
    "latency_p50": ("be", "faster at batch 1 than"),
    "latency_p99": ("be", "faster at batch 1 (p99) than"),
    "throughput": ("give", "the images/s of"),
    "memory": ("be", "smaller in memory than"),
}


def tradeoff_sentence(objective: str, t: dict[str, Any]) -> str:
    """The trade-off in words: what the best variant of all on an objective would give over the
    recommended one, and for how many more mAP50-95 points."""
    if t["fastest"] == t["recommended"]:
        return f"{objective}: `{t['recommended']}` is also the best of all variants, budget or not."
    verb, what = BETTER[objective]
    ratio = with_interval(t, "advantage") if t.get("advantage") is not None else "n/a"
    tie = (
        ""
        if t.get("advantage_lo") is None or separable(t["advantage_lo"], t["advantage_hi"])
        else " (the interval covers 1: no measurable gain)"
    )
    cost = with_interval(t, "more_points", "") if t.get("more_points_lo") is not None else f"{t['more_points']:.2f}"
    return (
        f"{objective}: `{t['fastest']}` would {verb} {ratio} {what} `{t['recommended']}`{tie}, for {cost} more "
        "points of mAP50-95 lost."
    )


def judge_sentence(unjudged: dict[str, dict[str, Any]], budget: float) -> str | None:
    """The budget the evaluation cannot judge: the variants whose drop interval is wider than it."""
    if not unjudged:
        return None
    worst = max(unjudged.values(), key=lambda u: u["half_width"])
    listed = ", ".join(f"`{v}` ±{u['half_width']:.2f}" for v, u in unjudged.items())
    need = f"about {worst['images_needed']:,} would" if worst["images_needed"] else "no image count can"
    return (
        f"A budget of {budget:g} points cannot be judged with {worst['images']} evaluation images: the drops of "
        f"{listed} are known only to within more than the budget (95% half-width); {need} narrow "
        "them to it (an interval narrows as 1/sqrt(N)). Their verdicts stand as measured."
    )


def unsupported_sentence(m: dict[str, Any], rec: dict[str, Any]) -> str | None:
    """Why the candidates lack bf16 on a CPU without it, and what that leaves."""
    missing = sorted({v for s in ("bench_ov", "eval_map") for v in m.get(s, {}).get("unsupported_variants") or []})
    if not missing:
        return None
    int8 = sorted({r["variant"] for r in rec["objectives"].values() if VARIANTS[r["variant"]].precision == "int8"})
    return (
        f"This CPU runs no bf16 (OpenVINO's OPTIMIZATION_CAPABILITIES lack BF16): {', '.join(missing)} were not "
        "measured, so the candidates are FP32 and INT8"
        + (
            f"; {', '.join(int8)} {'is' if len(int8) == 1 else 'are'} recommended where the drop is within the budget."
            if int8
            else "; no INT8 variant is within the budget, so the answer is FP32."
        )
    )


def mixed_host_conditions(m: dict[str, Any]) -> str | None:
    """A warning when the timing stages whose figures the report combines were timed under different
    host conditions (one flagged noisy, the other not), naming each stage's reasons; else None."""
    flagged = {src: m[src]["noisy_run"] for src in TIMING_STAGES if "noisy_run" in m.get(src, {})}
    if len(flagged) < 2 or len(set(flagged.values())) == 1:
        return None
    noisy = [src for src, f in flagged.items() if f]
    why = "; ".join(f"{src}: {', '.join(m[src].get('noisy_reasons') or ['flagged noisy'])}" for src in noisy)
    quiet = ", ".join(src for src, f in flagged.items() if not f)
    return (
        f"**Timings from different host conditions.** {', '.join(noisy)} ran on a noisy host ({why}) while "
        f"{quiet} ran on a quiet one. Ratios that combine figures of these stages (a variant of one against the "
        "best FP32 of the other, the recommendation across runtimes) mix the two conditions and are not "
        f"comparable: rerun `dvc repro -f {' '.join(s.replace('_', '-') for s in flagged)}` on a quiet host."
    )
