"""Build the results document from metrics files alone (pure functions: dicts in, markdown out)."""
from __future__ import annotations

from typing import Any

# Figures quoted from elsewhere, never measured here: kept apart and labelled in the report.
QUOTED = [
    ("yolov5n COCO val2017 mAP50-95 (all 5000 images, 640)", "28.0",
     "Ultralytics YOLOv5 v7.0 release table"),
    ("yolov5s COCO val2017 mAP50-95 (all 5000 images, 640)", "37.4", "Ultralytics YOLOv5 v7.0 release table"),
]

# variant -> (metrics file, batch-1 p50 key, key pattern for batch n p50)
LATENCY_KEYS = {
    "ort_fp32": ("bench_ort", "fp32_b{n}_p50_ms"),
    "ort_int8": ("bench_ort", "int8_b{n}_p50_ms"),
    "ort_fixed": ("bench_ort", "fixed_b{n}_p50_ms"),
    "ov_f32": ("bench_ov", "f32_latency_b{n}_p50_ms"),
    "ov_bf16": ("bench_ov", "bf16_latency_b{n}_p50_ms"),
    "ov_int8": ("bench_ov", "int8_latency_b{n}_p50_ms"),
    "ov_int8_bf16": ("bench_ov", "int8_bf16_latency_b{n}_p50_ms"),
}
VARIANT_ORDER = [v for v in LATENCY_KEYS if v != "ort_fixed"]  # rows of the memory and mAP tables
OV_PRECISION_ORDER = [v.removeprefix("ov_") for v in VARIANT_ORDER if v.startswith("ov_")]


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)
    return str(v)


def table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def batch_sizes(m: dict[str, Any]) -> list[int]:
    sizes = set()
    for k in m.get("bench_ort", {}) | m.get("bench_ov", {}):
        for part in k.split("_"):
            if part.startswith("b") and part[1:].isdigit():
                sizes.add(int(part[1:]))
    return sorted(sizes)


def latency(m: dict[str, Any], variant: str, n: int = 1) -> float | None:
    src, pattern = LATENCY_KEYS[variant]
    return m.get(src, {}).get(pattern.format(n=n))


def map_vs_latency(m: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """{variant: (batch-1 p50 ms, mAP50-95)} for every variant measured by both stages."""
    ev = m.get("eval_map", {})
    out = {}
    for v in LATENCY_KEYS:
        lat, ap = latency(m, v), ev.get(f"{v}_map50_95")
        if lat is not None and ap is not None:
            out[v] = (lat, ap)
    return out


def build(m: dict[str, Any], title: str) -> str:
    """Markdown report from {'bench_ort': {...}, 'bench_ov': {...}, 'memory': ..., 'eval_map': ..., ...}."""
    env = (m.get("bench_ov") or m.get("bench_ort") or {}).get("env", {})
    parts = [f"# {title}: results", "",
             "Every figure below is read from this commit's `metrics/*.json` (regenerate with `dvc repro report`), "
             "measured on the machine in *Environment*. Figures quoted from elsewhere are only in the last section.",
             "", "## Environment", ""]
    if env:
        isa = ", ".join(k for k, v in env.get("isa", {}).items() if v)
        vers = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
        parts += [f"- CPU: {env.get('cpu_model')} ({env.get('logical_cores')} logical cores, "
                  f"{env.get('memory_gib')} GiB)", f"- ISA: {isa}", f"- Libraries: {vers}",
                  f"- Python {env.get('python')}, {env.get('os')}", ""]
    ort, ov = m.get("bench_ort", {}), m.get("bench_ov", {})
    if ort or ov:
        parts += ["## Model-only latency (batch 1)", "",
                  f"ONNX Runtime: {ort.get('intra_threads')} intra-op threads; OpenVINO: LATENCY hint, "
                  "synchronous requests, static batch. Warm-up discarded; variants timed in alternating rounds.", ""]
        rows = []
        for v, (src, pattern) in LATENCY_KEYS.items():
            d = m.get(src, {})
            base = pattern.format(n=1).removesuffix("_p50_ms")
            if f"{base}_p50_ms" in d:
                rows.append([v, d[f"{base}_p50_ms"], d[f"{base}_p90_ms"], d[f"{base}_p99_ms"], d[f"{base}_mean_ms"],
                             d[f"{base}_throughput_ips"]])
        parts += [table(["variant", "p50 ms", "p90 ms", "p99 ms", "mean ms", "images/s"], rows), ""]
        parts += ["## Dynamic batching", "", "p50 latency per batch (ms) / images per second.", ""]
        sizes = batch_sizes(m)
        rows = []
        for v, (src, pattern) in LATENCY_KEYS.items():
            cells = []
            for n in sizes:
                d = m.get(src, {})
                p50 = d.get(pattern.format(n=n))
                ips = d.get(pattern.format(n=n).replace("_p50_ms", "_throughput_ips"))
                supported = d.get(f"{v.split('_')[1]}_b{n}_supported", True) if src == "bench_ort" else True
                cells.append("unsupported (fixed batch)" if not supported else
                             (f"{p50:.1f} / {ips:.1f}" if p50 is not None else "n/a"))
            if any(c != "n/a" for c in cells):
                rows.append([v, *cells])
        parts += [table(["variant", *[f"batch {n}" for n in sizes]], rows), ""]
    if ov:
        precs = [p for p in OV_PRECISION_ORDER if any(k.startswith(f"{p}_throughput_b") for k in ov)]
        parts += ["## OpenVINO " + " / ".join(precs), "",
                  f"bf16 supported by this CPU: {_fmt(ov.get('bf16_supported'))}. THROUGHPUT hint with an "
                  "AsyncInferQueue of the optimal number of requests. int8_bf16 is the INT8 IR with bf16 for "
                  "the ops left float (OpenVINO's default on a bf16 CPU); int8 keeps them f32.", ""]
        rows = []
        for n in batch_sizes(m):
            row: list[Any] = [n] + [ov.get(f"{p}_throughput_b{n}_throughput_ips") for p in precs]
            row += [ov.get(f"speedup_{p}_vs_f32_throughput_b{n}") for p in precs if p != "f32"]
            row += [ov.get(f"speedup_{p}_vs_f32_latency_b{n}") for p in precs if p != "f32"]
            rows.append(row)
        parts += [table(["batch", *[f"{p} img/s" for p in precs],
                         *[f"{p}/f32 throughput" for p in precs if p != "f32"],
                         *[f"{p}/f32 latency" for p in precs if p != "f32"]], rows), ""]
    if ort:
        parts += ["## ONNX Runtime FP32 / INT8", "",
                  f"Batch-1 p50 speed-up of INT8 over FP32: {_fmt(ort.get('speedup_int8_vs_fp32_b1_p50'))}x; "
                  f"of the fixed-batch release model over the dynamic FP32 model: "
                  f"{_fmt(ort.get('speedup_fixed_vs_fp32_b1_p50'))}x.", "",
                  "End to end at batch 1 (ms per image): " + ", ".join(
                      f"{k.removeprefix('e2e_').removesuffix('_ms')} {_fmt(ort.get(k))}" for k in
                      ("e2e_decode_ms", "e2e_preprocess_ms", "e2e_infer_ms", "e2e_postprocess_ms", "e2e_total_ms")),
                  "", f"Timing harness overhead: {_fmt(ort.get('harness_overhead_us'), 3)} us per call "
                  f"({_fmt(ort.get('harness_overhead_pct_of_b1'), 5)}% of batch-1 inference).", ""]
    mem = m.get("memory", {})
    if mem:
        rows = []
        for v in VARIANT_ORDER:
            if f"{v}_rss_start_mb" in mem:
                rows.append([v] + [mem[f"{v}_rss_{k}_mb"] for k in ("start", "after_import", "after_load",
                                                                    "after_warmup", "peak")]
                            + [mem[f"{v}_model_bytes"] / 2**20])
        parts += ["## Memory (resident, MiB, fresh process each)", "",
                  table(["variant", "start", "after import", "after load", "after warm-up", "peak", "model MiB"], rows),
                  ""]
    ev = m.get("eval_map", {})
    if ev:
        parts += ["## mAP before and after INT8", "",
                  f"pycocotools on {ev.get('images')} COCO val2017 images (conf {ev.get('conf')}, IoU {ev.get('iou')}, "
                  f"max_det {ev.get('max_det')}, batch {ev.get('batch')}); the subset is the "
                  f"{ev.get('subset_classes')} classes in `data/labels/classes_15.txt`. Deltas are against FP32 "
                  "of the same runtime. Eval images/s covers the whole evaluation (decode share, preprocessing, "
                  "inference, NMS); model-only images/s is the same model at the same batch size, timed in "
                  "windows spread through the evaluation.", ""]
        rows = []
        for v in VARIANT_ORDER:
            if f"{v}_map50_95" in ev:
                rows.append([v, ev[f"{v}_map50_95"], ev[f"{v}_map50"], ev.get(f"{v}_delta_map50_95"),
                             ev[f"{v}_subset_map50_95"], ev.get(f"{v}_subset_delta_map50_95"),
                             ev[f"{v}_images_per_s"], ev.get(f"{v}_model_only_images_per_s"),
                             ev.get(f"{v}_eval_vs_model_only")])
        parts += [table(["variant", "mAP50-95", "mAP50", "delta", "subset mAP50-95", "subset delta",
                         "eval images/s", "model-only images/s", "eval / model-only"], rows), "",
                  "![mAP against latency](../plots/map_vs_latency.png)", ""]
    parts += ["## Quoted from elsewhere (not measured here)", "",
              table(["figure", "value", "source"], [list(q) for q in QUOTED]), ""]
    return "\n".join(parts)
