"""Every metric key, built in one place: the stages write through these functions and the report,
the recommendation, the pull-request comment and the machines table read through them. One figure
has one key shape in every file; `HEADLINE` says which keys a stage's tracked metrics file keeps
(the few a reviewer reads); `describe` turns a key into words for tables."""

from __future__ import annotations

import re

# The tracked metrics files: a stage's name, its module (stages/<file>.py) and its metrics file share it.
STAGE_FILES = {
    "download": "download",
    "export-dynamic": "export_dynamic",
    "convert-IR": "convert_ir",
    "calibrate": "calibrate",
    "quantize-ov": "quantize_ov",
    "quantize-ort": "quantize_ort",
    "fingerprint": "fingerprint",
    "bench-ort": "bench_ort",
    "bench-ov": "bench_ov",
    "bench-deploy": "bench_deploy",
    "bench-torch": "bench_torch",
    "memory": "memory",
    "eval-map": "eval_map",
    "roofline": "roofline",
    "recommend": "recommend",
    "bench-serve": "bench_serve",
    "report": "report",
    "bundle": "bundle",
}
OBJECTIVES = ("latency_p50", "latency_p99", "throughput", "memory")
HEADLINE_OBJECTIVES = ("latency_p50", "throughput")  # ratios over the best FP32 in the headline


def at_batch(v: str, n: int, figure: str) -> str:
    """A timing of variant v at batch n: figure p50_ms, p99_ms, mean_ms, ... or ips (the runtime's
    images/s at that batch: ONNX Runtime's synchronous runs, OpenVINO's THROUGHPUT hint)."""
    return f"{v}_b{n}_{figure}"


def slices(v: str, n: int, figure: str) -> str:
    """Per-slice figures behind a timing: p50_ms and mean_ms (synchronous rounds) or ips (OpenVINO's
    THROUGHPUT hint)."""
    return f"{v}_b{n}_slices_{figure}"


def b1_p50(v: str) -> str:
    return at_batch(v, 1, "p50_ms")


def best_ips(v: str) -> str:
    """Images/s at the variant's best batch size."""
    return f"{v}_best_ips"


def best_batch(v: str) -> str:
    return f"{v}_best_ips_batch"


def map50_95(v: str, subset: bool = False) -> str:
    return f"{v}_{'subset_' if subset else ''}map50_95"


def map_delta(v: str, subset: bool = False) -> str:
    """mAP50-95 points against FP32 of the variant's runtime (negative: a loss); _lo/_hi its interval."""
    return f"{v}_delta_{'subset_' if subset else ''}map50_95"


def peak_memory(v: str) -> str:
    return f"{v}_rss_peak_mb"


def same_runtime_speedup(v: str, what: str) -> str:
    """A speed-up over FP32 of the same runtime (details): what is b1_p50, best_ips or ips_b<n>."""
    return f"{v}_speedup_{what}"


def over_best_fp32(v: str, objective: str) -> str:
    """How many times better than the best FP32 variant of any runtime, on latency_p50 or throughput."""
    return f"{v}_{objective}_x_best_fp32"


def objective(obj: str, figure: str) -> str:
    """The recommendation's keys: variant, figure, map_drop, x_best_fp32, tie, advantage, e2e_ips, ..."""
    return f"{obj}_{figure}"


def interval(key: str) -> tuple[str, str]:
    """The keys of a figure's 95% interval bounds."""
    return f"{key}_lo", f"{key}_hi"


_V = r"(?:ort_fp32_fixed|ort_fp32|ort_int8|ov_fp32|ov_bf16|ov_int8_bf16|ov_int8|torch_fp32)"
_OBJ = "(?:" + "|".join(HEADLINE_OBJECTIVES) + ")"
HEADLINE: dict[str, re.Pattern[str]] = {
    stage: re.compile(p)
    for stage, p in {
        "download": r"eval_split_sha256|dataset|model",
        "export_dynamic": r"max_abs_diff",
        "convert_ir": r"detection_agreement_min",
        "calibrate": r"calibration_sha256",
        "quantize_ov": r"agreement_vs_fp32|float_layer_count|heldout_drop_points",
        "quantize_ort": r"agreement_vs_fp32",
        "fingerprint": r"machine_id|cpu|software_id",
        "bench_ort": rf"{_V}_(?:b1_p50_ms|best_ips)|noisy_run",
        "bench_ov": r"(?:ov_fp32|ov_bf16|ov_int8_bf16|ov_int8)_(?:b1_p50_ms|best_ips)|noisy_run",  # not its references
        "bench_torch": r"torch_installed|torch_fp32_(?:b1_p50_ms|best_ips)",
        "bench_deploy": rf"{_V}_deploy_best_ips",
        "memory": rf"{_V}_rss_peak_mb",
        "roofline": r"model_gflops|peak_(?:f32|bf16|int8)_gops",
        "eval_map": rf"{_V}_(?:map50_95|delta_map50_95)",
        "bench_serve": rf"{_V}_(?:serve_peak_rps(?:_lo|_hi)?|serve_p99_ms|serve_over_offline|served_over_in_process"
        r"|serve_meets_target|serve_config)",
        "recommend": rf"{_V}_{_OBJ}_x_best_fp32|{_OBJ}_(?:variant|x_best_fp32(?:_lo|_hi)?|tie)|memory_variant"
        rf"|best_fp32_{_OBJ}",
    }.items()
}  # bundle: no headline figures (details/bundle.json); report: only its markdown and plots


def is_headline(stage_file: str, key: str) -> bool:
    """Whether a figure belongs in metrics/<stage_file>.json (else details/<stage_file>.json; a stage
    without a HEADLINE entry has no metrics file)."""
    pattern = HEADLINE.get(stage_file)
    return pattern is not None and pattern.fullmatch(key) is not None


_WORDS = [
    (r"(?P<v>\w+?)_serve_peak_rps", "{v}: requests/s one server sustains within the p99 target"),
    (r"(?P<v>\w+?)_serve_p99_ms", "{v}: p99 latency at that rate, through the server (ms)"),
    (r"(?P<v>\w+?)_serve_over_offline", "{v}: sustained rate over Offline through the server (x)"),
    (r"(?P<v>\w+?)_served_over_in_process", "{v}: Offline through the server over in-process (x)"),
    (r"(?P<v>\w+?)_serve_meets_target", "{v}: a serving config meets the p99 target"),
    (r"(?P<v>\w+?)_serve_config", "{v}: the serving config chosen"),
    (r"(?P<v>\w+?)_b(?P<n>\d+)_p50_ms", "{v}: p50 latency at batch {n} (ms)"),
    (r"(?P<v>\w+?)_b(?P<n>\d+)_p99_ms", "{v}: p99 latency at batch {n} (ms)"),
    (r"(?P<v>\w+?)_b(?P<n>\d+)_ips", "{v}: images/s at batch {n}"),
    (r"(?P<v>\w+?)_best_ips", "{v}: images/s at its best batch size"),
    (r"(?P<v>\w+?)_(?P<o>latency_p50|throughput)_x_best_fp32", "{v}: {o} over the best FP32 (x)"),
    (r"(?P<v>\w+?)_delta_map50_95", "{v}: mAP50-95 change against FP32 (points)"),
    (r"float_layer_count", "OpenVINO INT8: layers kept float (the scope's)"),
    (r"heldout_drop_points", "OpenVINO INT8: mAP50-95 drop on the held-out calibration images (points)"),
    (r"(?P<v>\w+?)_map50_95", "{v}: mAP50-95"),
    (r"(?P<v>\w+?)_rss_peak_mb", "{v}: peak resident memory (MiB)"),
    (r"(?P<v>\w+?)_deploy_best_ips", "{v}: end-to-end images/s of the deployment path"),
    (r"best_fp32_(?P<o>\w+)", "the best FP32 on {o}"),
    (r"(?P<o>latency_p50|latency_p99|throughput|memory)_variant", "recommended for {o}"),
    (r"(?P<o>latency_p50|latency_p99|throughput|memory)_figure", "the recommended variant's {o} figure"),
    (r"(?P<o>latency_p50|latency_p99|throughput|memory)_map_drop", "the recommended variant's mAP drop ({o})"),
    (r"(?P<o>latency_p50|throughput)_x_best_fp32", "recommended for {o}: times the best FP32"),
    (r"(?P<o>latency_p50|latency_p99|throughput|memory)_tie", "recommended for {o} by the tie rule"),
    (r"(?P<o>latency_p50|throughput)_e2e_ips", "recommended for {o}: end-to-end images/s"),
]


def describe(key: str) -> str:
    """A key in words for a table ('ov_int8: p50 latency at batch 1 (ms)'); unknown keys as they are,
    an interval bound as its figure's words plus '(95% low)' / '(95% high)'."""
    for bound, word in (("_lo", " (95% low)"), ("_hi", " (95% high)")):
        if key.endswith(bound) and describe(key[: -len(bound)]) != key[: -len(bound)]:
            return describe(key[: -len(bound)]) + word
    for pattern, words in _WORDS:
        if (m := re.fullmatch(pattern, key)) is not None:
            return words.format(**{k: v.replace("_", " ") if k == "o" else v for k, v in m.groupdict().items()})
    return key.replace("_", " ")
