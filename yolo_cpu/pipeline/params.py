"""Read params.yaml and validate one section against its schema before a stage does any work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yolo_cpu.errors import UserError
from yolo_cpu.models.variants import ORT_VARIANTS, OV_VARIANTS, VARIANTS

PARAMS_FILE = Path("params.yaml")
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # model.name is a file name under models/
VARIANT_NAMES = tuple(VARIANTS)
EVAL_VARIANTS = tuple(v for v in VARIANTS if v != "ort_fp32_fixed")  # same weights as ort_fp32


class ParamError(UserError):
    """A params.yaml value that is missing, unknown, mistyped or out of range."""


@dataclass(frozen=True)
class Key:
    """One allowed key: its type, and optional choices, bounds, or list item rules."""

    kind: type | tuple[type, ...]
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    item: type | None = None
    nonempty: bool = False
    nullable: bool = False
    pattern: str | None = None

    def describe(self) -> str:
        if self.item is not None:
            what = f"a list of {self.item.__name__}"
            if self.choices:
                what += f" from {list(self.choices)}"
            if self.min is not None:
                what += f", each >= {self.min}"
            if self.pattern is not None:
                what += f", each matching {self.pattern}"
            return what + (", not empty" if self.nonempty else "")
        names = self.kind.__name__ if isinstance(self.kind, type) else " or ".join(k.__name__ for k in self.kind)
        what = f"one of {list(self.choices)}" if self.choices else names
        if self.pattern is not None:
            what += f" matching {self.pattern}"
        if self.min is not None:
            what += f" >= {self.min}"
        if self.max is not None:
            what += f" <= {self.max}"
        return what + (" (or null)" if self.nullable else "")


def _ok_scalar(value: Any, kind: type | tuple, key: Key) -> bool:
    if isinstance(value, bool) and kind not in (bool,) and not (isinstance(kind, tuple) and bool in kind):
        return False
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind if kind is not float else (float, int)):
        return False
    if key.choices is not None and value not in key.choices:
        return False
    if key.min is not None and value < key.min:
        return False
    if key.max is not None and value > key.max:
        return False
    if key.pattern is not None and not re.fullmatch(key.pattern, value):
        return False
    return True


def _check(section: str, name: str, value: Any, key: Key) -> None:
    where = f"params.yaml: {section}.{name} = {value!r}"
    if value is None:
        if key.nullable:
            return
        raise ParamError(f"{where}: must be {key.describe()}")
    if key.item is not None:
        if not isinstance(value, list):
            raise ParamError(f"{where}: must be {key.describe()}")
        if key.nonempty and not value:
            raise ParamError(f"{where}: must not be empty")
        for v in value:
            if not _ok_scalar(v, key.item, key):
                raise ParamError(f"{where}: item {v!r} is not allowed; must be {key.describe()}")
        return
    if not _ok_scalar(value, key.kind, key):
        raise ParamError(f"{where}: must be {key.describe()}")


SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "name": Key(str, pattern=NAME_PATTERN),
        "source": Key(str),
        "imgsz": Key(int, choices=(640,)),
        "sha256": Key(str, pattern=r"|[0-9a-fA-F]{64}"),
    },
    "assets": {
        "mirror": Key(str),
        "timeout_s": Key(float, min=1),
        "retries": Key(int, min=0, max=10),
        "deadline_s": Key(float, min=1),
        "max_download_mb": Key(float, min=1),
    },
    "data": {
        "eval_images": Key(int, min=1),
        "calib_images": Key(int, min=1),
        "dataset": Key(str, pattern=r".+"),  # coco, or the path of an Ultralytics data YAML
        "split_seed": Key(int, min=0),
        "bad_input": Key(str, choices=("error", "skip")),
        "gt_source": Key(str, choices=("labels", "official")),
        "max_listed_images": Key(int, min=1),
    },
    "export": {
        "method": Key(str, choices=("rewrite", "ultralytics")),
        "verify_batches": Key(list, item=int, min=1, nonempty=True),
        "tolerance": Key(float, min=0),
    },
    "convert": {
        "compress_to_fp16": Key(bool),
        "verify_batches": Key(list, item=int, min=1, nonempty=True),
        "tolerance": Key(float, min=0),
    },
    "calibration": {
        "images": Key(int, min=1),
        "check_images": Key(int, min=1),
        "normalize": Key(str, choices=("none", "imagenet")),
    },
    "quantize_ov": {
        "preset": Key(str, choices=("performance", "mixed")),
        "fast_bias_correction": Key(bool),
        "scope": Key(str, choices=("accuracy_control", "decode", "head")),
        "rank_images": Key(int, min=1),
        "max_float_layers": Key(int, min=0),
    },
    "quantize_ort": {
        "method": Key(str, choices=("qdq_minmax", "qdq_entropy", "qdq_percentile", "nncf")),
        "ignore_head": Key(bool),
        "ignore_head_convs": Key(bool),
        "min_sqnr_db": Key(float, min=0),
        "float_stem": Key(bool),
        "sqnr_images": Key(int, min=1),
        "align_concat": Key(bool),
    },
    "bench": {
        "warmup": Key(int, min=0),
        "slice_runs": Key(int, min=1),
        "min_slices": Key(int, min=2),
        "target_halfwidth": Key(float, min=0, max=1),
        "max_seconds": Key(float, min=0),
        "noisy_spread": Key(float, min=0),
        "noisy_steal_pct": Key(float, min=0, max=100),
        "noisy_other_cpu_pct": Key(float, min=0, max=100),
        "batch_sizes": Key(list, item=int, min=1, nonempty=True),
        "input": Key(str, choices=("real", "random")),
        "e2e_images": Key(int, min=1),
    },
    "bench_ort": {
        "variants": Key(list, item=str, choices=ORT_VARIANTS, nonempty=True),
        "intra_threads": Key(int, min=0),
        "inter_threads": Key(int, min=0),
        "execution_mode": Key(str, choices=("sequential", "parallel")),
        "graph_optimization": Key(str, choices=("disable", "basic", "extended", "all")),
    },
    "bench_ov": {
        "variants": Key(list, item=str, choices=OV_VARIANTS, nonempty=True),
        "hints": Key(list, item=str, choices=("LATENCY", "THROUGHPUT"), nonempty=True),
        "threads": Key(int, min=0),
        "streams": Key(int, min=0),
        "throughput_slice_seconds": Key(float, min=0.05),
        "fp32_references": Key(
            list, item=str, choices=tuple(v for v in ORT_VARIANTS if VARIANTS[v].precision == "fp32")
        ),
    },
    "bench_deploy": {
        "variants": Key(list, item=str, choices=OV_VARIANTS, nonempty=True),
        "batch_sizes": Key(list, item=int, min=1, nonempty=True),
        "images": Key(int, min=1),
        "rounds": Key(int, min=1),
    },
    "bench_torch": {
        "batch_sizes": Key(list, item=int, min=1, nonempty=True),
        "threads": Key(int, min=0),
        "tolerance": Key((int, float), min=0),
    },
    "memory": {"variants": Key(list, item=str, choices=VARIANT_NAMES, nonempty=True), "warmup": Key(int, min=1)},
    "roofline": {
        "channels": Key(int, min=8, max=2048),
        "size": Key(int, min=8, max=512),
        "seconds": Key(float, min=0.1),
    },
    "eval": {
        "variants": Key(list, item=str, choices=EVAL_VARIANTS, nonempty=True),
        "conf": Key(float, min=0, max=1),
        "iou": Key(float, min=0, max=1),
        "max_det": Key(int, min=1),
        "class_subset_size": Key(int, min=1),
        "class_subset_seed": Key(int, min=0),
        "class_subset_names": Key(list, item=str),
        "max_int8_drop": Key(float, min=0, nullable=True),
        "bootstrap_resamples": Key(int, min=0),
        "bootstrap_seed": Key(int, min=0),
    },
    "eval_timing": {
        "batch": Key(int, min=1),
        "threads": Key(int, min=0),
        "prefetch": Key(bool),
        "decode_once": Key(bool),
        "model_only_windows": Key(int, min=2),
        "model_only_images": Key(int, min=1),
    },
    "report": {"title": Key(str), "max_map_drop": Key(float, min=0)},
    "serve": {
        "p99_ms": Key(float, min=1, max=60000),
        "configs": Key(
            list,
            item=str,
            pattern=r"r([1-9]|1[0-6])b([1-9]|[1-5][0-9]|6[0-4])(s([0-9]|[1-5][0-9]|6[0-4]))?",
            nonempty=True,
        ),
        "batch_wait_ms": Key(float, min=0, max=1000),
        "max_queued": Key(int, min=1),
        "images": Key(int, min=1),
        "trial_queries": Key(int, min=1),
        "trial_seconds": Key(float, min=0),
        "single_stream_queries": Key(int, min=1),
        "search_steps": Key(int, min=1, max=12),
        "repeats": Key(int, min=1, max=5),
        "max_seconds": Key(float, min=0),  # 0: nothing measured, the bundles keep the default serve: settings
    },
}


def load_all(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path} not found (run from the project root)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ParamError(f"{path} must be a mapping of sections")
    return data


def validate_section(section: str, values: Any) -> dict[str, Any]:
    """Check one section against SCHEMA; return it (ints given for floats become floats)."""
    schema = SCHEMA[section]
    if not isinstance(values, dict):
        raise ParamError(f"params.yaml: section '{section}' must be a mapping, got {values!r}")
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise ParamError(
            f"params.yaml: unknown key {section}.{unknown[0]}; allowed keys in '{section}': {sorted(schema)}"
        )
    missing = sorted(set(schema) - set(values))
    if missing:
        raise ParamError(f"params.yaml: missing key {section}.{missing[0]} ({schema[missing[0]].describe()})")
    out = {}
    for name, key in schema.items():
        _check(section, name, values[name], key)
        v = values[name]
        out[name] = float(v) if key.kind is float and isinstance(v, int) and not isinstance(v, bool) else v
    return out


def load(*sections: str, path: str | Path = PARAMS_FILE) -> dict[str, dict[str, Any]]:
    """Load and validate the named sections; raises ParamError naming the key at fault."""
    data = load_all(path)
    out = {}
    for s in sections:
        if s not in data:
            raise ParamError(f"params.yaml: missing section '{s}'")
        out[s] = validate_section(s, data[s])
    return out
