"""Which NNCF settings quantize the whole network more faithfully? On the pipeline's FP32 IR and
calibration set, everything INT8 but the box decode (the search's starting point) under quantize_ov's
preset and bias correction, then one NNCF setting changed at a time: the preset (performance:
symmetric activations), fast bias correction, and the advanced activation range estimator, overflow
fix, channel alignment (bias correction on every node, the other lever, NNCF 3.4 refuses:
"BiasCorrection algorithm does not support apply_for_all_nodes=True yet"). Each model is scored by
fidelity to FP32 and mAP50-95 on the held-out calibration images and the evaluation images
(fidelity_scale.Judge).

    python scripts/probes/int8_ranges.py [--only NAME ...] [--out FILE]
(default out: results/<machine id>/<model>/probes/int8_ranges.json)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fidelity_scale import Judge  # a sibling probe: python scripts/probes/int8_ranges.py

from yolo_cpu import paths
from yolo_cpu.measure.probes import write_probe
from yolo_cpu.pipeline import params
from yolo_cpu.quantize import quantize_ov as q
from yolo_cpu.runtime.runtimes import ov_core

BASIC = {  # settings that are quantize_ov params: name -> what they override
    "preset_performance": {"preset": "performance"},
    "preset_mixed": {"preset": "mixed"},
    "fast_bias_correction_on": {"fast_bias_correction": True},
    "fast_bias_correction_off": {"fast_bias_correction": False},
}


def settings() -> dict[str, Callable[[], Any]]:
    """name -> a factory of NNCF AdvancedQuantizationParameters (None: NNCF's defaults); the BASIC
    settings use the defaults with their quantize_ov param overridden."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters as A
    from nncf.quantization.advanced_parameters import OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet as R

    return {
        "defaults": lambda: None,
        **{name: lambda: None for name in BASIC},
        "act_minmax": lambda: A(activations_range_estimator_params=R.MINMAX),
        "act_mean_minmax": lambda: A(activations_range_estimator_params=R.MEAN_MINMAX),
        "act_mean_quantile": lambda: A(activations_range_estimator_params=R.MEAN_QUANTILE),
        "act_histogram": lambda: A(activations_range_estimator_params=R.HISTOGRAM),
        "overflow_fix_off": lambda: A(overflow_fix=OverflowFix.DISABLE),
        "channel_alignment": lambda: A(disable_channel_alignment=False),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", help="these settings only (after defaults)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    unknown = sorted(set(a.only or []) - set(settings()))
    if unknown:
        ap.error(f"--only: unknown setting(s) {', '.join(unknown)}; choose from {', '.join(settings())}")
    p = params.load("model", "quantize_ov")
    name, size, o = p["model"]["name"], p["model"]["imgsz"], p["quantize_ov"]
    fp32 = ov_core().read_model(str(paths.ov_fp32_xml(name)))
    judge = Judge(size)
    decode = q.head_ops(fp32, include_convs=False)
    rows = [judge.row("fp32", fp32)]
    for label, make in settings().items():
        if a.only and label != "defaults" and label not in a.only:
            continue
        basic = {**o, **BASIC.get(label, {})}
        if label in BASIC and basic == o:
            continue  # the params already say so: the defaults row
        int8 = q.quantize(
            fp32, judge.calib.inputs, basic["preset"], basic["fast_bias_correction"], decode, advanced=make()
        )
        rows.append(judge.row(label, int8))
    write_probe(
        "int8_ranges",
        name,
        {
            "model": name,
            "preset": o["preset"],
            "fast_bias_correction": o["fast_bias_correction"],
            "held_out_images": len(judge.held),
            "eval_images": len(judge.eval_files),
            "rows": rows,
        },
        a.out,
    )


if __name__ == "__main__":
    main()
