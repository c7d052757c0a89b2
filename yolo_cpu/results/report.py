"""Build the results document from the stages' results (headline metrics merged with their detail
files): pure functions, dicts in, markdown out."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.measure.intervals import separable
from yolo_cpu.measure.roofline import PEAK_PRECISION, PeakError, share_of_peak
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS

SOURCES = (
    "download",
    "export_dynamic",
    "convert_ir",
    "calibrate",
    "quantize_ov",
    "quantize_ort",
    "bench_ort",
    "bench_ov",
    "bench_deploy",
    "bench_torch",
    "memory",
    "eval_map",
    "roofline",
)

TIMING_STAGES = ("bench_ort", "bench_ov")  # the stages whose figures the ratios over the best FP32 combine

# Figures quoted from elsewhere, never measured here: kept apart and labelled in the report.
QUOTED = [
    ("yolov5n COCO val2017 mAP50-95 (all 5000 images, 640)", "28.0", "Ultralytics YOLOv5 v7.0 release table"),
    ("yolov5s COCO val2017 mAP50-95 (all 5000 images, 640)", "37.4", "Ultralytics YOLOv5 v7.0 release table"),
]
ORT_INT8_WORTH = 1.3  # below this speed-up over FP32 the report calls ONNX Runtime INT8 not worth it here
EVAL_ORDER = [v for v in VARIANTS if v != "ort_fp32_fixed"]  # rows of the memory and mAP tables


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def with_interval(d: dict[str, Any], key: str, unit: str = "x", digits: int = 2) -> str:
    """A figure with its 95% interval from keys key, key_lo, key_hi: '1.85x [1.80, 1.90]'."""
    v, lo, hi = d.get(key), d.get(f"{key}_lo"), d.get(f"{key}_hi")
    if v is None:
        return "n/a"
    text = f"{v:.{digits}f}{unit}"
    return text + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else "")


def table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def timing_source(variant: str) -> str:
    """The results source of a variant's timings: bench_ov or bench_ort."""
    return "bench_ov" if variant in OV_VARIANTS else "bench_ort"


def latency_figure(m: dict[str, Any], variant: str, n: int, figure: str) -> Any:
    """A variant's synchronous timing figure at batch n (keys.at_batch), from bench-ov or bench-ort."""
    return m.get(timing_source(variant), {}).get(keys.at_batch(variant, n, figure))


def batch_sizes(m: dict[str, Any]) -> list[int]:
    return sorted({n for src in ("bench_ort", "bench_ov") for n in m.get(src, {}).get("batch_sizes", [])})


def map_vs_latency(m: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """{variant: (batch-1 p50 ms, mAP50-95)} for every variant measured by both stages."""
    ev = m.get("eval_map", {})
    out = {}
    for v in VARIANTS:
        lat, ap = latency_figure(m, v, 1, "p50_ms"), ev.get(keys.map50_95(v))
        if lat is not None and ap is not None:
            out[v] = (lat, ap)
    return out


def _environment(m: dict[str, Any]) -> list[str]:
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


def _dataset_name(m: dict[str, Any]) -> str:
    d = m.get("download", {}).get("dataset", "coco")
    return "COCO val2017" if d == "coco" else f"`{d}`"


def _model_and_data(m: dict[str, Any]) -> list[str]:
    d = m.get("download", {})
    if not d:
        return []
    calib = {"train": "its train images", "val": "val images disjoint from the evaluation images"}
    return [
        "## Model and data",
        "",
        f"- Model: {d.get('model')} from {d.get('model_source')} ({d.get('model_fetched_from')}); "
        f"{d.get('model_layout')}, {d.get('classes')} classes",
        f"- Dataset: {_dataset_name(m)}: {d.get('eval_images')} evaluation images "
        f"({d.get('eval_objects')} objects), {d.get('calib_images')} calibration images from "
        f"{calib.get(d.get('calibration_from'), d.get('calibration_from'))}; "
        f"{d.get('images_without_labels')} images without a label file (no objects)",
        "",
    ]


def _over_best_fp32(m: dict[str, Any]) -> list[str]:
    """The headline table: each variant's batch-1 latency and best images/s, both as times the best
    FP32 of any runtime (the release model as downloaded included), and its mAP change."""
    rec, ev = m.get("recommendation", {}), m.get("eval_map", {})
    ratios = rec.get("over_best_fp32", {})
    ref = {o: ratios.get(f"best_fp32_{o}") for o in keys.HEADLINE_OBJECTIVES}
    if not any(ref.values()):
        return []
    rows = []
    for v in VARIANTS:
        src = m.get(timing_source(v), {})
        if keys.b1_p50(v) not in src and keys.best_ips(v) not in src:
            continue
        rows.append(
            [
                v,
                src.get(keys.b1_p50(v)),
                with_interval(ratios, keys.over_best_fp32(v, "latency_p50")),
                f"{_fmt(src.get(keys.best_ips(v)), 1)} (batch {src.get(keys.best_batch(v))})",
                with_interval(ratios, keys.over_best_fp32(v, "throughput")),
                with_interval(ev, keys.map_delta(v), "")
                if keys.map_delta(v) in ev
                else ("reference" if keys.map50_95(v) in ev else ""),
            ]
        )
    return [
        "## Each variant against the best FP32",
        "",
        f"The best FP32 of any runtime is the baseline a user already has: {ref['latency_p50']} for batch-1 "
        f"latency, {ref['throughput']} for images/s at the best batch size. Ratios above 1 are better, with "
        "their 95% intervals (paired slices when timed in one group, else Welch's). bench-ov times ONNX "
        "Runtime's FP32 beside OpenVINO's at batch 1, so the batch-1 ratios pair up there and the best FP32 "
        "is picked there; the p50 column is each variant's own stage's figure. The mAP change is against "
        "FP32 of the same runtime, with its paired-bootstrap interval.",
        "",
        table(
            [
                "variant",
                "batch-1 p50 ms",
                "x best FP32 (latency)",
                "best images/s",
                "x best FP32 (images/s)",
                "mAP50-95 change",
            ],
            rows,
        ),
        "",
    ]


def shares_of_peak(m: dict[str, Any]) -> dict[str, float | None]:
    """{variant: achieved operations per second at its best images/s over this CPU's peak for its
    precision}; None where that would exceed the peak (share_of_peak refuses: the peak is not this
    CPU's limit)."""
    roof = m.get("roofline", {})
    out: dict[str, float | None] = {}
    for v in VARIANTS:
        ips, peak = m.get(timing_source(v), {}).get(keys.best_ips(v)), roof.get(f"peak_{PEAK_PRECISION[v]}_gops")
        if ips and peak and roof.get("model_gflops"):
            try:
                out[v] = share_of_peak(roof["model_gflops"], ips, peak, v)
            except PeakError:
                out[v] = None
    return out


def _roofline(m: dict[str, Any]) -> list[str]:
    """Each variant's achieved operations per second against this CPU's peak for its precision."""
    roof, shares = m.get("roofline", {}), shares_of_peak(m)
    if not roof.get("model_gflops") or not shares:
        return []
    rows = []
    for v, share in shares.items():
        ips = m.get(timing_source(v), {}).get(keys.best_ips(v))
        precision = PEAK_PRECISION[v]
        peak = roof.get(f"peak_{precision}_gops")
        rows.append(
            [
                v,
                precision,
                _fmt(roof["model_gflops"] * ips, 1),
                _fmt(peak, 1),
                f"{100 * share:.1f}%" if share is not None else "above the measured peak: not reported",
            ]
        )
    return [
        "## Distance from this CPU's limit",
        "",
        f"The model does {roof['model_gflops']} G operations per image (two per multiply-accumulate of its "
        f"convolutions and matrix products, counted from the ONNX graph). This CPU's peak per precision "
        f"is measured with OpenVINO on one {roof.get('channels')}-channel 3x3 convolution on "
        f"{roof.get('size')}x{roof.get('size')} (THROUGHPUT hint, every core): "
        + ", ".join(
            f"{p} {_fmt(roof.get(f'peak_{p}_gops'), 1)} G/s"
            for p in ("f32", "bf16", "int8")
            if roof.get(f"peak_{p}_gops")
        )
        + ". Achieved: the model's operations times its best "
        "images/s; the share is of the peak for the precision its convolutions run in.",
        "",
        table(["variant", "precision", "achieved G operations/s", "peak G operations/s", "share of the peak"], rows),
        "",
    ]


def _latency(m: dict[str, Any]) -> list[str]:
    ort = m.get("bench_ort", {})
    rows = [
        [v, *(latency_figure(m, v, 1, f) for f in ("p50_ms", "p90_ms", "p99_ms", "mean_ms"))]
        for v in VARIANTS
        if latency_figure(m, v, 1, "p50_ms") is not None
    ]
    if not rows:
        return []
    out = [
        "## Model-only latency (batch 1)",
        "",
        f"ONNX Runtime: {ort.get('intra_threads')} intra-op threads; OpenVINO: LATENCY hint, synchronous "
        "requests, static batch. Warm-up discarded; variants timed in alternating rounds.",
        "",
        table(["variant", "p50 ms", "p90 ms", "p99 ms", "mean ms"], rows),
        "",
        "## Dynamic batching",
        "",
        "p50 latency per image (ms): the batch's p50 over its size, synchronous runs (OpenVINO: LATENCY hint).",
        "",
    ]
    sizes = batch_sizes(m)
    rows = []
    for v in VARIANTS:
        cells = []
        for n in sizes:
            p50 = latency_figure(m, v, n, "p50_ms")
            fixed = m.get("bench_ort", {}).get(f"{v}_b{n}_supported") is False
            cells.append("unsupported (fixed batch)" if fixed else f"{p50 / n:.2f}" if p50 is not None else "n/a")
        if any(c != "n/a" for c in cells):
            rows.append([v, *cells])
    return out + [table(["variant", *[f"batch {n}" for n in sizes]], rows), ""]


def _openvino(m: dict[str, Any]) -> list[str]:
    ov = m.get("bench_ov", {})
    vs = [v for v in OV_VARIANTS if keys.best_ips(v) in ov]
    if not vs:
        return []
    fast = [v for v in vs if v != "ov_fp32"]
    rows = [
        [
            n,
            *(ov.get(keys.at_batch(v, n, "ips")) for v in vs),
            *(with_interval(ov, keys.same_runtime_speedup(v, f"ips_b{n}")) for v in fast),
        ]
        for n in batch_sizes(m)
    ]
    return [
        "## OpenVINO " + " / ".join(vs),
        "",
        f"Not supported by this CPU: {', '.join(ov.get('unsupported_variants') or []) or 'none'}. THROUGHPUT "
        "hint with an AsyncInferQueue of the optimal number of requests. ov_int8_bf16 is the INT8 IR with "
        "bf16 for the ops left float (OpenVINO's default on a bf16 CPU); ov_int8 keeps them f32. Speed-ups "
        "with their 95% intervals from the paired slices. Batch-1 p50 speed-up over ov_fp32 (LATENCY hint): "
        + ", ".join(f"{v} {with_interval(ov, keys.same_runtime_speedup(v, 'b1_p50'))}" for v in fast)
        + ".",
        "",
        table(["batch", *[f"{v} img/s" for v in vs], *[f"{v} / ov_fp32" for v in fast]], rows),
        "",
    ]


def _deployment(m: dict[str, Any]) -> list[str]:
    dep = m.get("bench_deploy", {})
    vs = [v for v in OV_VARIANTS if f"{v}_deploy_best_ips" in dep]
    if not vs:
        return []
    rows = [
        [
            v,
            n,
            dep.get(f"{v}_deploy_b{n}_e2e_ips"),
            dep.get(f"{v}_deploy_b{n}_e2e_numpy_preprocessing_ips"),
            dep.get(f"{v}_deploy_b{n}_model_only_ips"),
            dep.get(f"{v}_deploy_b{n}_vs_model_only"),
            dep.get(f"{v}_deploy_agreement") if n == dep.get(f"{v}_deploy_best_batch") else "",
        ]
        for v in vs
        for n in dep.get("batch_sizes", [])
    ]
    return [
        "## Deployment path: JPEG files in, detections out",
        "",
        f"`yolo_cpu/deploy/detector.py` `Detector` on {dep.get('images')} evaluation images (conf 0.25, IoU 0.45), "
        "decode and letterbox in threads ahead, an AsyncInferQueue, NMS in its callbacks; the preprocessing "
        "inside the compiled model (PrePostProcessor: u8 NHWC BGR in) or numpy's. Model-only is the same "
        f"compiled model on ready inputs; {dep.get('rounds')} alternating rounds, medians. Agreement: share "
        "of the evaluation path's detections the deployment path finds too (same class, IoU >= 0.5).",
        "",
        table(
            [
                "variant",
                "batch",
                "end-to-end img/s",
                "numpy preprocessing img/s",
                "model-only img/s",
                "end-to-end / model-only",
                "agreement",
            ],
            rows,
        ),
        "",
    ]


def _onnxruntime(m: dict[str, Any]) -> list[str]:
    ort = m.get("bench_ort", {})
    if not ort:
        return []
    e2e = ", ".join(
        f"{k.removeprefix('e2e_').removesuffix('_ms')} {_fmt(ort.get(k))}"
        for k in ("e2e_decode_ms", "e2e_preprocess_ms", "e2e_infer_ms", "e2e_postprocess_ms", "e2e_total_ms")
    )
    gains = [
        g
        for g in (
            ort.get(keys.same_runtime_speedup("ort_int8", "b1_p50")),
            ort.get(keys.same_runtime_speedup("ort_int8", "best_ips")),
        )
        if g is not None
    ]
    verdict = (
        [
            f"ONNX Runtime INT8 gains less than {ORT_INT8_WORTH}x over FP32 on this CPU: it is not recommended "
            "here; for INT8 speed, use OpenVINO (see the recommendation).",
            "",
        ]
        if gains and max(gains) < ORT_INT8_WORTH
        else []
    )
    return [
        "## ONNX Runtime FP32 / INT8",
        "",
        "Speed-up of ort_int8 over ort_fp32 (95% intervals): "
        f"{with_interval(ort, keys.same_runtime_speedup('ort_int8', 'b1_p50'))} batch-1 p50, "
        f"{with_interval(ort, keys.same_runtime_speedup('ort_int8', 'best_ips'))} images/s at the best batch size of "
        f"each; of the fixed-batch release model (ort_fp32_fixed) over ort_fp32: "
        f"{with_interval(ort, keys.same_runtime_speedup('ort_fp32_fixed', 'b1_p50'))} batch-1 p50.",
        "",
        *verdict,
        f"End to end at batch 1 ({ort.get('e2e_variant')}, ms per image): {e2e}.",
        "",
        f"Timing harness overhead: {_fmt(ort.get('harness_overhead_us'), 3)} us per call "
        f"({_fmt(ort.get('harness_overhead_pct_of_b1'), 5)}% of batch-1 inference).",
        "",
    ]


def _pytorch(m: dict[str, Any]) -> list[str]:
    pt = m.get("bench_torch", {})
    if not pt:
        return []
    head = ["## PyTorch eager against ONNX Runtime and OpenVINO (FP32)", ""]
    if not pt.get("torch_installed"):
        return head + ["PyTorch is not installed here (`./dev export-extra` adds it): no PyTorch figures.", ""]
    sizes = pt.get("batch_sizes", [])
    rows = [
        [
            n,
            *(pt.get(keys.at_batch(v, n, "p50_ms")) for v in ("torch_fp32", "ort_fp32", "ov_fp32")),
            *(pt.get(keys.at_batch(v, n, "ips")) for v in ("torch_fp32", "ort_fp32", "ov_fp32")),
            *(
                _ratio(pt.get(keys.at_batch(v, n, "ips")), pt.get(keys.at_batch("torch_fp32", n, "ips")))
                for v in ("ort_fp32", "ov_fp32")
            ),
        ]
        for n in sizes
    ]
    settings = pt.get("torch_fp32_settings", {})
    return head + [
        f"The same model and real inputs, timed side by side in alternating rounds (synchronous calls). PyTorch "
        f"{settings.get('torch')} runs the {settings.get('module')} with {settings.get('actual_threads')} threads; "
        f"its outputs differ from ONNX Runtime's by at most {pt.get('max_abs_diff_vs_ort')} (checked before timing). "
        "The seed study's first row, 2.8 s per frame in PyTorch against 0.47 s in ONNX Runtime, is quoted from "
        "another model and machine: compare the ratios, not the times.",
        "",
        table(
            [
                "batch",
                "torch p50 ms",
                "ort_fp32 p50 ms",
                "ov_fp32 p50 ms",
                "torch img/s",
                "ort_fp32 img/s",
                "ov_fp32 img/s",
                "ort_fp32 / torch",
                "ov_fp32 / torch",
            ],
            rows,
        ),
        "",
    ]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _memory(m: dict[str, Any]) -> list[str]:
    mem = m.get("memory", {})
    phases = ("start", "after_import", "after_load", "after_warmup", "peak")
    rows = [
        [v, *(mem[f"{v}_rss_{k}_mb"] for k in phases), mem[f"{v}_model_bytes"] / 2**20]
        for v in EVAL_ORDER
        if f"{v}_rss_start_mb" in mem
    ]
    if not rows:
        return []
    return [
        "## Memory (resident, MiB, fresh process each)",
        "",
        table(["variant", "start", "after import", "after load", "after warm-up", "peak", "model MiB"], rows),
        "",
    ]


def _accuracy(m: dict[str, Any]) -> list[str]:
    ev = m.get("eval_map", {})
    rows = [
        [
            v,
            ev[keys.map50_95(v)],
            ev.get(f"{v}_map50"),
            with_interval(ev, keys.map_delta(v), "") if keys.map_delta(v) in ev else None,
            ev[keys.map50_95(v, True)],
            ev.get(keys.map_delta(v, True)),
            ev[f"{v}_images_per_s"],
            ev.get(f"{v}_model_only_images_per_s"),
            ev.get(f"{v}_eval_vs_model_only"),
        ]
        for v in EVAL_ORDER
        if keys.map50_95(v) in ev
    ]
    if not rows:
        return []
    subset = ev.get("class_subset") or []
    return [
        "## mAP before and after INT8",
        "",
        f"pycocotools on {ev.get('images')} {_dataset_name(m)} images (conf {ev.get('conf')}, IoU {ev.get('iou')}, "
        f"max_det {ev.get('max_det')}, batch {ev.get('batch')}); the subset is {len(subset)} classes: "
        f"{', '.join(subset)}. Deltas are against FP32 of the same runtime, with the 95% interval of a paired "
        f"bootstrap over the images ({ev.get('bootstrap')} resamples: FP32 and the variant scored on the same "
        "resample); the worst classes with their intervals are in the chart below. Eval images/s covers the whole "
        "evaluation (decode share, preprocessing, inference, NMS); model-only images/s is the same model at "
        "the same batch size, timed in windows spread through the evaluation.",
        "",
        table(
            [
                "variant",
                "mAP50-95",
                "mAP50",
                "delta",
                "subset mAP50-95",
                "subset delta",
                "eval images/s",
                "model-only images/s",
                "eval / model-only",
            ],
            rows,
        ),
        "",
        "![mAP against latency](../plots/map_vs_latency.png)",
        "",
        "![Per-class AP change against FP32](../plots/per_class_ap.png)",
        "",
    ]


def _int8_scope(m: dict[str, Any]) -> list[str]:
    """Which layers the OpenVINO INT8 model keeps float, and why (quantize-ov's scope)."""
    q = m.get("quantize_ov", {})
    if "scope" not in q:
        return []
    layers = q.get("float_layers", [])
    if q["scope"] != "accuracy_control":
        head = f"Scope `{q['scope']}` (quantize_ov.scope): the box decode ({q.get('decode_ops')} ops) stays float" + (
            ", and these layers: " if layers else ", everything else is INT8."
        )
        return [
            "## What the OpenVINO INT8 model keeps float",
            "",
            head,
            "",
            *([table(["layer", "why"], [[r["layer"], r["reason"]] for r in layers]), ""] if layers else []),
        ]
    verdict = "within" if q["budget_met"] else "over (NNCF could not reach it within quantize_ov.max_float_layers)"
    out = [
        "## What the OpenVINO INT8 model keeps float",
        "",
        f"NNCF's accuracy control (quantize_ov.scope=accuracy_control) quantizes everything but the box decode "
        f"({q.get('decode_ops')} ops), validates on {q['held_out_images']} held-out calibration images (mAP50-95 "
        f"against their labels) and, while the drop exceeds {100 * q['max_drop']:g} points (report.max_map_drop), "
        f"ranks the quantized ops on {q['ranking_subset_size']} of them and reverts the worst to float, at most "
        f"{q['max_num_iterations']} times. Held-out mAP50-95: FP32 {q['heldout_map50_95_fp32']:.3f}, INT8 "
        f"{q['heldout_map50_95_int8']:.3f}, a drop of {q['heldout_drop_points']:.3f} "
        f"points: {verdict} the budget.",
        "",
    ]
    if layers:
        out += [table(["layer", "why"], [[r["layer"], r["reason"]] for r in layers]), ""]
    else:
        out += ["Every quantizable layer is INT8.", ""]
    return out


def _recommendation(m: dict[str, Any]) -> list[str]:
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
                f"{_fmt(r['figure'])} {r['unit']}",
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
        *_ready_to_deploy(rec.get("deployments", {})),
    ]


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


def _ready_to_deploy(deps: dict[str, dict[str, Any]]) -> list[str]:
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
                _fmt(d["bench_ips"]),
                _fmt(d["model_only_ips"]),
                _fmt(d["e2e_ips"]),
                _fmt(d["e2e_vs_model_only"]),
                _fmt(d["batch_1_p50_ms"]),
            ]
        )
        if d["e2e_meets_target"] is False:
            split = (
                f": per image, decoding and letterboxing take {_fmt(d['decode_letterbox_ms'])} ms of one core "
                f"and NMS {_fmt(d['nms_ms'])} ms, beside {_fmt(d['model_only_ms'])} ms per image of model-only "
                "inference"
                if d.get("decode_letterbox_ms") is not None
                else ""
            )
            short.append(f"{objective} at batch {d['batch']} ({_fmt(d['e2e_vs_model_only'])}x{split})")
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


def _timing_quality(m: dict[str, Any]) -> list[str]:
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


def build(m: dict[str, Any], title: str) -> str:
    """Markdown report from {'bench_ort': {...}, 'bench_ov': {...}, 'memory': ..., 'eval_map': ..., ...}."""
    parts = [
        f"# {title}: results",
        "",
        "Every figure below is read from this commit's `metrics/*.json` and `details/*.json` (regenerate "
        "with `dvc repro report`), measured on the machine in *Environment*. Figures quoted from elsewhere "
        "(for the release models) are only in the last section.",
        "",
    ]
    for section in (
        _environment,
        _model_and_data,
        _recommendation,
        _capacity,
        _over_best_fp32,
        _roofline,
        _timing_quality,
        _latency,
        _openvino,
        _deployment,
        _onnxruntime,
        _pytorch,
        _memory,
        _accuracy,
        _int8_scope,
    ):
        parts += section(m)
    model = m.get("download", {}).get("model")
    quoted = [list(q) for q in QUOTED if model is None or q[0].split()[0] == model]
    if quoted:
        parts += ["## Quoted from elsewhere (not measured here)", "", table(["figure", "value", "source"], quoted), ""]
    return "\n".join(parts)


def _p99(t: dict[str, Any] | None) -> str:
    if not t:
        return "n/a"
    lo, hi = t.get("p99_lo_ms"), t.get("p99_hi_ms")
    return f"{t['p99_ms']:.1f} [{_fmt(lo, 1)}, {_fmt(hi, 1) if hi is not None else 'unbounded'}]"


def _peak(s: dict[str, Any] | None) -> str:
    if not s:
        return "not measured"
    if not s.get("peak_rps"):
        tried = [t for t in s.get("trials", []) if t.get("target_qps")]
        low = min(tried, key=lambda t: t["target_qps"]) if tried else None
        why = "its early-stopping bound" if low and not low.get("early_stopping_met") else "its p99"
        at_low = f"; at {low['target_qps']:.1f}/s p99 {low['p99_ms']:.0f} ms, LoadGen failed {why}" if low else ""
        return f"none sustained (< {s['peak_hi_rps']:.1f}{at_low})"
    return f"{s['peak_rps']:.1f} [{s['peak_lo_rps']:.1f}, {s['peak_hi_rps']:.1f}]"


def _capacity(m: dict[str, Any]) -> list[str]:
    """bench-serve: the requests/s one server sustains within the p99 target, per config and path."""
    bs = m.get("bench_serve", {})
    if not bs.get("variants"):
        return []
    cpu = m.get("fingerprint", {}).get("cpu") or bs.get("machine", {}).get("cpu", "this CPU")
    out = ["## Capacity", ""]
    for v, r in bs["variants"].items():
        target, best = r["p99_target_ms"], r.get("best")
        inproc = r.get("in_process", {})
        in_off = inproc.get("offline", {}).get("completed_qps")
        in_peak = inproc.get("server", {}).get("peak_rps")
        if best is None:
            out += [
                f"**No serving config of {v} sustained any tried rate within p99 <= {target:g} ms** on {cpu} "
                f"(its bundles get the default serve: settings, marked as not meeting the target).",
                "",
            ]
        else:
            c = r["configs"][best]
            s, off = c["http"]["server"], c["http"]["offline"]["completed_qps"]
            out += [
                f"**One {cpu} server with {v} sustains {s['peak_rps']:.1f} requests/s "
                f"[{s['peak_lo_rps']:.1f}, {s['peak_hi_rps']:.1f}] at p99 <= {target:g} ms** (measured p99 "
                f"{_p99(_at(s))} ms over {s['queries_at_peak']} queries; "
                f"config: {c['label']}, over HTTP), {_fmt(_ratio(s['peak_rps'], in_peak))} of the in-process "
                f"peak ({_fmt(in_peak, 1)} requests/s) and {_fmt(_ratio(s['peak_rps'], off))} of Offline through "
                f"the same server ({off:.1f} images/s; MLPerf's CPU detector submissions reach 0.74-0.80). "
                f"Offline through the server is {_fmt(_ratio(off, in_off))} of in-process Offline "
                f"({_fmt(in_off, 1)} images/s). Bundles of {v} ({', '.join(r['objectives'])}) carry this "
                "config in their `serve:` section, so `yolo-cpu serve BUNDLE` starts with it.",
                "",
            ]
        rows = []
        for c in r.get("configs", []):
            h = c.get("http", {})
            s = h.get("server")
            rows.append(
                [
                    c["label"] + (" (chosen)" if best is not None and c is r["configs"][best] else ""),
                    _fmt(h.get("offline", {}).get("completed_qps"), 1),
                    _peak(s),
                    _p99(_at(s)) if s and s.get("peak_rps") else "n/a",
                    _fmt(_ratio(s.get("peak_rps"), h["offline"]["completed_qps"])) if s else "n/a",
                ]
            )
        out += [
            "Serving configs over HTTP (Ray Serve's batcher, `serve.batch`); the peak is the highest Poisson "
            "rate whose LoadGen trial is VALID (p99 within the target and enough queries for LoadGen's "
            "early-stopping verdict, no failed request); its bracket is [highest sustained, lowest not "
            "sustained]; p99 with its distribution-free 95% interval:",
            "",
            table(
                [
                    "config",
                    "Offline (images/s)",
                    "peak (requests/s) [bracket]",
                    "p99 at peak (ms) [95%]",
                    "peak / Offline",
                ],
                rows,
            ),
            "",
        ]
        compared = r.get("compared", best)
        st = inproc.get("streams")
        inproc_name = "in-process (no Ray, no HTTP" + (
            f"; {st} stream{'s' if st > 1 else ''})" if st else "; OpenVINO's streams)" if st == 0 else ")"
        )
        paths = [
            (inproc_name, inproc),
            ("Ray Serve handle (no HTTP)", r.get("handle", {})),
            ("Ray Serve over HTTP", r["configs"][compared].get("http", {}) if compared is not None else {}),
        ]
        prow = [
            [
                name,
                _fmt(d.get("single_stream", {}).get("p50_ms"), 1),
                _fmt(d.get("single_stream", {}).get("p90_ms"), 1),
                _fmt(d.get("offline", {}).get("completed_qps"), 1),
                _peak(d.get("server")),
            ]
            for name, d in paths
        ]
        at = (
            "the chosen config"
            if compared == best
            else f"{r['configs'][compared]['label']}, the config with the most Offline throughput"
            if compared is not None
            else "no config: none was served"
        )
        out += [
            f"Three paths side by side (the handle and HTTP paths at {at}):",
            "",
            table(
                [
                    "path",
                    "SingleStream p50 (ms)",
                    "SingleStream p90 (ms)",
                    "Offline (images/s)",
                    "Server peak (requests/s) [bracket]",
                ],
                prow,
            ),
            "",
        ]
        split, in_split = r.get("http_cpu_split_ms"), inproc.get("cpu_split_ms")
        if split and in_split:
            inference = round(split["replica"] - split["replica_decode"] - split["replica_nms"], 2)
            in_infer = round(in_split["process"] - in_split["decode"] - in_split["nms"], 2)
            out += [
                "Where the CPU goes, per request (CPU-ms from the processes' own CPU times during an Offline "
                "trial; the load generator shares the machine):",
                "",
                table(
                    [
                        "",
                        "load generator",
                        "HTTP proxy",
                        "replica: decode + letterbox",
                        "replica: NMS",
                        "replica: inference and the rest",
                        "Ray's daemons",
                        "total",
                    ],
                    [
                        [
                            "in-process",
                            in_infer + in_split["decode"] + in_split["nms"],
                            0,
                            in_split["decode"],
                            in_split["nms"],
                            in_infer,
                            0,
                            in_split["process"],
                        ],
                        [
                            "over HTTP",
                            split["load_generator"],
                            split["proxy"],
                            split["replica_decode"],
                            split["replica_nms"],
                            inference,
                            split["ray_daemons"],
                            split["total"],
                        ],
                    ],
                ),
                "",
                "In-process, the load generator's process runs everything (its column is the total). Served, "
                "the work the model does is the same; the difference is the proxy, Ray's daemons and the "
                "replica's own request handling.",
                "",
            ]
        if r.get("skipped_by_time_budget"):
            out += [f"Skipped by the time budget (serve.max_seconds): {'; '.join(r['skipped_by_time_budget'])}.", ""]
    return out + ["![capacity](../plots/capacity.png)", ""]


def _at(s: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last sustained trial at the peak rate (its p99 and interval)."""
    if not s or not s.get("peak_rps"):
        return None
    at = [
        t
        for t in s["trials"]
        if t["meets"] and abs(t["target_qps"] - s["peak_lo_rps"]) < 1e-6 * max(1, s["peak_lo_rps"]) + 0.01
    ]
    return at[-1] if at else None
