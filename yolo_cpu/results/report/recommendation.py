"""Report section on the recommendation for this machine and its bundles, ready to deploy."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.results.render import fmt, table, with_interval


def recommendation(m: dict[str, Any]) -> list[str]:
    """m["recommendation"]: {"max_map_drop": budget, "map_drops": {variant: drop}, "map_verdicts":
    {variant: within | over | not separable}, "objectives": recommend.recommend(...), "tie_rule": ...}."""
    rec = m.get("recommendation")
    if rec is None:
        return []
    budget = rec["max_map_drop"]
    ev = m.get("eval_map", {})
    rows = []
    ratios = rec.get("over_best_fp32", {})
    for objective, r in rec["objectives"].items():
        v = r["variant"]
        drop = (
            with_interval(
                {
                    "d": -ev[keys.map_delta(v)],
                    "d_lo": _neg(ev.get(keys.interval(keys.map_delta(v))[1])),
                    "d_hi": _neg(ev.get(keys.interval(keys.map_delta(v))[0])),
                },
                "d",
                "",
            )
            if keys.map_delta(v) in ev
            else f"{r['map_drop'] + 0.0:.2f}"
        )
        ahead = (
            f"{with_interval(r, 'advantage')} over {r['runner_up']}"
            if r.get("advantage") is not None
            else f"no interval (over {r['runner_up']})"
            if r.get("runner_up")
            else "only candidate"
        )
        chosen = f"tie of {', '.join(r['tied'])}: {r['chosen_by'].removeprefix('tie: ')}" if r.get("tie") else ""
        gain = (
            with_interval(ratios, keys.over_best_fp32(v, objective)) + f" {ratios.get(f'best_fp32_{objective}')}"
            if keys.over_best_fp32(v, objective) in ratios
            else ""
        )
        rows.append(
            [
                r["what"],
                v,
                f"{fmt(r['figure'])} {r['unit']}",
                gain,
                drop,
                rec.get("map_verdicts", {}).get(v, ""),
                ahead,
                chosen,
            ]
        )
    over = [f"{v} (-{d:.2f})" for v, d in rec["map_drops"].items() if d > budget]
    unsure = [v for v, verdict in rec.get("map_verdicts", {}).items() if verdict == "not separable"]
    mixed = rec.get("mixed_host_conditions")
    notes = [n for n in (rec.get("unsupported_note"), rec.get("judge_note")) if n]
    trade = [f"- {t['sentence']}" for t in rec.get("tradeoffs", {}).values()]
    return [
        "## Recommendation for this machine",
        "",
        *([mixed, ""] if mixed else []),
        f"For each objective, the best variant measured on this machine whose mAP50-95 drop against FP32 "
        f"is at most {budget} points (`report.max_map_drop`)."
        + (f" Over the budget (measured drop): {', '.join(over)}." if over else "")
        + (
            f" Not separable from the budget (the drop's 95% interval straddles it): {', '.join(unsure)}."
            if unsure
            else ""
        ),
        "",
        "A drop is *within* the budget when its whole 95% interval is at or under it, *over* when all of it "
        "is above, else *not separable*; eligibility uses the measured drop. The advantage is the best "
        "variant's figure over the runner-up's with its 95% interval (paired slices when both were timed "
        f"together); when it covers no difference, {rec.get('tie_rule', 'the two tie')}.",
        "",
        table(
            [
                "objective",
                "variant",
                "figure",
                "x the best FP32 [95%]",
                "mAP50-95 drop [95%]",
                "against the budget",
                "advantage [95%] over the runner-up",
                "tie",
            ],
            rows,
        ),
        "",
        *[x for n in notes for x in (n, "")],
        *(
            [
                "What the budget costs, per objective (the best variant of all against the recommended one; 95% "
                "intervals, the mAP from paired resamples of the evaluation images):",
                "",
                *trade,
                "",
            ]
            if trade
            else []
        ),
        *ready_to_deploy(rec.get("deployments", {})),
    ]


def ready_to_deploy(deps: dict[str, dict[str, Any]]) -> list[str]:
    """The bundle of each bundled objective, how to run it, and what it gives model-only and end to end."""
    if not deps:
        return []
    rows, short = [], []
    for objective, d in deps.items():
        rows.append(
            [
                objective,
                f"`{d['command']}`",
                d["batch"],
                d["precision"],
                fmt(d["bench_ips"]),
                fmt(d["model_only_ips"]),
                fmt(d["e2e_ips"]),
                fmt(d["e2e_vs_model_only"]),
                fmt(d["batch_1_p50_ms"]),
            ]
        )
        if d["e2e_meets_target"] is False:
            split = (
                f": per image, decoding and letterboxing take {fmt(d['decode_letterbox_ms'])} ms of one core "
                f"and NMS {fmt(d['nms_ms'])} ms, beside {fmt(d['model_only_ms'])} ms per image of model-only "
                "inference"
                if d.get("decode_letterbox_ms") is not None
                else ""
            )
            short.append(f"{objective} at batch {d['batch']} ({fmt(d['e2e_vs_model_only'])}x{split})")
    return [
        "### Ready to deploy",
        "",
        "`bundle` writes one folder per objective: the model, and a metadata.yaml with names, input size, "
        "batch, precision, thresholds and the figures below (Ultralytics' layout: `YOLO(folder)` loads an "
        "OpenVINO bundle too). Its command needs the `deploy` extra alone (`pip install 'yolo-cpu[deploy]'`). "
        "The bundle sets its batch size and precision; flags override them. Model-only is bench-ov or "
        "bench-ort's figure at that batch; bench-deploy times the same compiled model on ready inputs "
        "(model-only) and from JPEG files to detections (end to end), alternating rounds.",
        "",
        table(
            [
                "objective",
                "command",
                "batch",
                "precision hint",
                "bench images/s",
                "model-only images/s",
                "end-to-end images/s",
                "end to end / model-only",
                "batch-1 p50 (ms)",
            ],
            rows,
        ),
        "",
        *(
            [
                f"End to end keeps less than {next(iter(deps.values()))['e2e_target']} of model-only for "
                f"{'; '.join(short)}. Decoding, letterboxing and NMS run in threads beside inference, so on a "
                "machine with few cores they take cycles inference would use.",
                "",
            ]
            if short
            else []
        ),
    ]


def _neg(x: float | None) -> float | None:
    return None if x is None else -x
