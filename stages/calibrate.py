"""calibrate stage: INT8 IR (NNCF) for OpenVINO and an INT8 ONNX that ONNX Runtime runs fast."""
from __future__ import annotations

import time
import warnings

from .core import dataset, params, paths
from .core import quantize as q
from .core.io import atomic_path, require_file
from .core.plots import write_csv
from .core.postprocess import match_rate, postprocess
from .core.preprocess import preprocess
from .core.runtimes import OrtRuntime, OvRuntime, ov_core
from .core.stage import run, write_metrics


def split_calibration(c: dict) -> tuple[list, list, int]:
    """(images used for calibration, held-out check images, subset size asked)."""
    images = dataset.load_split(paths.CALIB_DIR)
    if len(images) <= c["check_images"]:
        raise q.QuantizeError(f"calibration split {paths.CALIB_DIR} has {len(images)} images; need more than "
                              f"calibrate.check_images={c['check_images']} (raise data.calib_images)")
    held_out, pool = images[-c["check_images"]:], images[: -c["check_images"]]
    if c["subset_size"] > len(pool):
        warnings.warn(f"calibrate.subset_size={c['subset_size']} > {len(pool)} calibration images available "
                      f"(after {c['check_images']} held out); using {len(pool)}", stacklevel=2)
    return pool[: c["subset_size"]], held_out, c["subset_size"]


HISTOGRAM_GB_PER_IMAGE = 0.25  # measured: ORT's entropy calibration of yolov5n ran out of 24 GB at 100 images


def check_ort_memory(c: dict) -> None:
    """ORT's entropy/percentile calibrators keep every activation of every image in memory."""
    import psutil

    if c["ort_method"] in ("qdq_entropy", "qdq_percentile"):
        need = c["subset_size"] * HISTOGRAM_GB_PER_IMAGE
        have = psutil.virtual_memory().available / 2**30
        if need > 0.7 * have:
            raise q.QuantizeError(
                f"calibrate.ort_method={c['ort_method']} keeps all activations in memory: about {need:.0f} GB for "
                f"calibrate.subset_size={c['subset_size']}, but {have:.0f} GB are free; lower subset_size to "
                f"{int(0.7 * have / HISTOGRAM_GB_PER_IMAGE)} or use qdq_minmax")


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "calibrate")
    name, c, size = p["model"]["name"], p["calibrate"], p["model"]["imgsz"]
    check_ort_memory(c)
    used, held_out, asked = split_calibration(c)
    ir = require_file(paths.ir_xml(name), "FP32 IR")
    onnx_fp32 = require_file(paths.dynamic_onnx(name), "dynamic FP32 ONNX")
    calib_inputs = q.calibration_inputs(used, size, c["normalize"])  # decoded once; errors name the file
    held_imgs, _, _ = dataset.load_images(held_out)
    same = lambda x: x  # noqa: E731  (inputs are already preprocessed)
    import onnx
    import openvino as ov

    fp32 = ov_core().read_model(str(ir))
    ov_names = [op.get_friendly_name() for op in fp32.get_ops()]
    onnx_names = [n.name for n in onnx.load(str(onnx_fp32), load_external_data=False).graph.node]
    ov_ignored, onnx_patterns, onnx_ignored = [], [], []
    if c["ignore_head"]:
        ov_ignored = [n for n in q.matching(ov_names, q.head_patterns(ov_names, c["ignore_head_convs"]))
                      if not n.startswith("model.")]  # op names only, not weight constants
        onnx_patterns = q.head_patterns(onnx_names, c["ignore_head_convs"])
        onnx_ignored = q.matching(onnx_names, onnx_patterns)
        if not ov_ignored or not onnx_ignored:
            raise q.QuantizeError("calibrate.ignore_head is on but the head scope matched no nodes")
        print(f"ignored scope (detect head): {len(ov_ignored)} OpenVINO ops")

    out_dir = paths.int8_ir_xml(name).parent
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        held_out_map = {}
        if c["accuracy_control"]:
            from .core.evaluate import calibration_validator

            val_items, validate = calibration_validator(held_out, held_imgs, size)
            int8 = q.ov_quantize_with_accuracy_control(fp32, calib_inputs, val_items, same, validate, c["preset"],
                                                       ov_ignored, c["max_drop"])
            for label, model in (("f32", fp32), ("int8", int8)):
                compiled = ov_core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                held_out_map[f"accuracy_control_heldout_map50_95_{label}"] = round(100 * validate(compiled, val_items), 3)
        else:
            int8 = q.ov_quantize(fp32, calib_inputs, same, c["preset"], c["fast_bias_correction"], ov_ignored)
        ov_seconds = time.perf_counter() - t0
        ov.save_model(int8, str(tmp / paths.int8_ir_xml(name).name), compress_to_fp16=False)

        t0 = time.perf_counter()
        ort_out = tmp / paths.int8_onnx(name).name
        ort_float_nodes: list[str] = []
        ort_sqnr: dict[str, float] = {}
        if c["ort_method"] == "nncf":
            # NNCF 3.4's full bias correction on the ONNX backend fails on yolov5n with this onnxruntime
            # ("Duplicate definition-site for /model.1/act/Mul_output_0"): the fast variant works.
            q.ort_quantize_nncf(onnx_fp32, ort_out, calib_inputs, same, c["preset"], True, onnx_ignored)
            n_ort_ignored = len(onnx_ignored)
        else:
            kept = q.ort_quantize_qdq(onnx_fp32, ort_out, calib_inputs, same, c["ort_method"], onnx_patterns,
                                      c["ort_min_sqnr_db"], c["ort_float_stem"], c["ort_sqnr_images"])
            n_ort_ignored = kept["head_nodes"]
            ort_float_nodes = kept["float_nodes"]
            ort_sqnr = kept["sqnr_db"]
            print(f"ignored scope (detect head): {n_ort_ignored} ONNX Runtime nodes; kept float for precision "
                  f"or speed: {len(ort_float_nodes)} nodes")
        ort_seconds = time.perf_counter() - t0

        # Quick agreement of INT8 with FP32 on held-out calibration images (conf 0.25).
        batch, lbs = preprocess(held_imgs, size)
        agree = {}
        for label, ref_rt, int8_rt in (
            ("ov", OvRuntime(ir, precision="f32"), OvRuntime(tmp / paths.int8_ir_xml(name).name, precision="f32")),
            ("ort", OrtRuntime(onnx_fp32), OrtRuntime(ort_out)),
        ):
            ref = postprocess(ref_rt.infer(batch), lbs)
            got = postprocess(int8_rt.infer(batch), lbs)
            agree[label] = match_rate(ref, got)
        ov_quantized = q.count_quantized_ov(int8)
        ort_quantized = q.count_quantized_onnx(ort_out)
        sizes = {f.name: f.stat().st_size for f in tmp.iterdir()}

    int8_xml = paths.int8_ir_xml(name)
    floated = {n.rsplit("/", 1)[0] for n in ort_float_nodes}
    write_csv(paths.PLOTS / "ort_silu_sqnr.csv",
              [{"layer": t.rsplit("/", 1)[0], "sqnr_db": v, "kept_float": t.rsplit("/", 1)[0] in floated}
               for t, v in ort_sqnr.items()], fieldnames=["layer", "sqnr_db", "kept_float"])
    write_metrics(paths.METRICS / "calibrate.json", {
        "calib_images_asked": asked,
        "calib_images_used": len(used),
        "check_images": len(held_out),
        "preprocessing": "letterbox 640, pad 114, BGR->RGB, CHW, /255 (shared preprocess)",
        "normalize": c["normalize"],
        "preset": c["preset"],
        "fast_bias_correction": c["fast_bias_correction"],
        "accuracy_control": c["accuracy_control"],
        "ort_method": c["ort_method"],
        "ov_seconds": round(ov_seconds, 2),
        "ort_seconds": round(ort_seconds, 2),
        "ov_fake_quantize_nodes": ov_quantized,
        "ort_quantize_linear_nodes": ort_quantized,
        "ov_ignored_nodes": len(ov_ignored),
        "ort_ignored_nodes": n_ort_ignored,
        "ort_min_sqnr_db": c["ort_min_sqnr_db"],
        "ort_float_stem": c["ort_float_stem"],
        "ort_float_nodes": len(ort_float_nodes),
        "ort_float_layers": sorted({n.rsplit("/", 2)[0] for n in ort_float_nodes if n.endswith("Conv")}),
        "ort_silu_sqnr_db_min": min(ort_sqnr.values()) if ort_sqnr else None,
        "ort_silu_layers_below_min_sqnr": sum(v < c["ort_min_sqnr_db"] for v in ort_sqnr.values()),
        "bytes_fp32_ir": ir.stat().st_size + ir.with_suffix(".bin").stat().st_size,
        "bytes_int8_ir": sizes[int8_xml.name] + sizes[int8_xml.with_suffix(".bin").name],
        "bytes_fp32_onnx": onnx_fp32.stat().st_size,
        "bytes_int8_onnx": sizes[paths.int8_onnx(name).name],
        "agreement_ov_int8_vs_f32": round(agree["ov"], 4),
        "agreement_ort_int8_vs_fp32": round(agree["ort"], 4),
        **held_out_map,
    }, started)


if __name__ == "__main__":
    run(main)
