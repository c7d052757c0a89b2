"""The recommend stage's answer, assembled: the recommendation per objective and everything the report,
details/recommend.json and the pull-request comment say about it (ratios over the best FP32, verdicts
against the budget, what the budget costs, what the evaluation cannot judge, host conditions)."""

from __future__ import annotations

from typing import Any

from yolo_cpu.accuracy.map_bootstrap import drop_verdict
from yolo_cpu.models.variants import BASELINE
from yolo_cpu.results.deployment import deployments
from yolo_cpu.results.figures import shares_of_peak
from yolo_cpu.results.recommend import TIE_RULE, judgeable, map_drops, over_best_fp32, recommend, tradeoffs
from yolo_cpu.results.sentences import judge_sentence, mixed_host_conditions, tradeoff_sentence, unsupported_sentence


def answer(results: dict[str, Any], budget: float) -> dict[str, Any]:
    """The recommendation summary from every stage's results and the report.max_map_drop budget."""
    rec = recommend(results, budget)
    drops = map_drops(results)
    summary = {
        "max_map_drop": budget,
        "map_drops": drops,
        "map_verdicts": {v: drop_verdict(results["eval_map"], v, budget) for v in drops if v in BASELINE},
        "tie_rule": TIE_RULE,
        "objectives": rec,
        "over_best_fp32": over_best_fp32(results),
        "shares_of_peak": shares_of_peak(results),
        "deployments": deployments(results, rec),
        "mixed_host_conditions": mixed_host_conditions(results),
        "unjudgeable": judgeable(results, budget),
        "tradeoffs": {o: {**t, "sentence": tradeoff_sentence(o, t)} for o, t in tradeoffs(results, rec).items()},
    }
    summary["judge_note"] = judge_sentence(summary["unjudgeable"], budget)
    summary["unsupported_note"] = unsupported_sentence(results, summary)
    return summary
