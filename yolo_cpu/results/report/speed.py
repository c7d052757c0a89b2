"""Report sections on speed: each variant against the best FP32, the distance from the CPU's peak,
latency and batching, OpenVINO, the deployment path, ONNX Runtime and PyTorch."""

from __future__ import annotations

from typing import Any

from yolo_cpu import keys
from yolo_cpu.measure.roofline import PEAK_PRECISION
from yolo_cpu.models.variants import OV_VARIANTS, VARIANTS
from yolo_cpu.results.figures import batch_sizes, latency_figure, shares_of_peak, timing_source
from yolo_cpu.results.render import fmt, ratio, table, with_interval

ORT_INT8_WORTH = 1.3  # below this speed-up over FP32 the report calls ONNX Runtime INT8 not worth it here


def against_best_fp32(m: dict[str, Any]) -> list[str]:
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
                f"{fmt(src.get(keys.best_ips(v)), 1)} (batch {src.get(keys.best_batch(v))})",
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


def roofline(m: dict[str, Any]) -> list[str]:
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
                fmt(roof["model_gflops"] * ips, 1),
                fmt(peak, 1),
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
            f"{p} {fmt(roof.get(f'peak_{p}_gops'), 1)} G/s"
            for p in ("f32", "bf16", "int8")
            if roof.get(f"peak_{p}_gops")
        )
        + ". Achieved: the model's operations times its best "
        "images/s; the share is of the peak for the precision its convolutions run in.",
        "",
        table(["variant", "precision", "achieved G operations/s", "peak G operations/s", "share of the peak"], rows),
        "",
    ]


def latency(m: dict[str, Any]) -> list[str]:
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


def openvino(m: dict[str, Any]) -> list[str]:
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


def deployment(m: dict[str, Any]) -> list[str]:
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


def onnxruntime(m: dict[str, Any]) -> list[str]:
    ort = m.get("bench_ort", {})
    if not ort:
        return []
    e2e = ", ".join(
        f"{k.removeprefix('e2e_').removesuffix('_ms')} {fmt(ort.get(k))}"
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
        f"Timing harness overhead: {fmt(ort.get('harness_overhead_us'), 3)} us per call "
        f"({fmt(ort.get('harness_overhead_pct_of_b1'), 5)}% of batch-1 inference).",
        "",
    ]


def pytorch(m: dict[str, Any]) -> list[str]:
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
                ratio(pt.get(keys.at_batch(v, n, "ips")), pt.get(keys.at_batch("torch_fp32", n, "ips")))
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
