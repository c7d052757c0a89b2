"""Memory estimates for the params that size an allocation, checked at stage start: a value that
cannot fit is an error naming the key, the estimate and the limit, never a process the kernel kills."""

from __future__ import annotations

from yolo_cpu import paths
from yolo_cpu.deploy import memory_budget
from yolo_cpu.deploy.memory_budget import USABLE, available_bytes, width_from_bytes
from yolo_cpu.pipeline.params import ParamError

# Activation memory scales with the model's width: yolov5n/s/m/l/x are 0.25/0.5/0.75/1.0/1.25 wide.
WIDTH = {"yolov5n": 1, "yolov5s": 2, "yolov5m": 3, "yolov5l": 4, "yolov5x": 5}


def input_bytes(images: int, imgsz: int) -> int:
    """One preprocessed float32 image tensor per image."""
    return images * 3 * imgsz * imgsz * 4


def width(model_name: str) -> float:
    """Width relative to yolov5n: the release table, else from the downloaded ONNX's size (yolov8n:
    12.8 MB -> 1.3), else the widest release's."""
    if model_name in WIDTH:
        return WIDTH[model_name]
    onnx = paths.fixed_onnx(model_name)
    return width_from_bytes(onnx.stat().st_size) if onnx.is_file() else max(WIDTH.values())


def inference_bytes(model_name: str, batch: int, sessions: int = 1) -> int:
    """Estimated peak for `sessions` models each running one batch of `batch` images."""
    return memory_budget.inference_bytes(width(model_name), batch, sessions)


Need = tuple[str, object, int, str]  # (param key, its value, bytes needed, what for)


def needs(p: dict[str, dict], calib_images: int | None = None) -> dict[str, Need]:
    """The memory each params-sized allocation needs, by the stage that makes it, for the sections
    loaded in `p` (and `model`): the one formula per allocation, read by each stage at its start and
    by the check stage for all of them before any stage runs. calib_images: the calibration set's
    real count (the quantizers'), else calibration.images."""
    name, size = p["model"]["name"], p["model"]["imgsz"]
    out: dict[str, Need] = {}
    if "calibration" in p:
        images = p["calibration"]["images"]
        out["calibrate"] = (
            "calibration.images",
            images,
            input_bytes(images, size),
            "the preprocessed calibration images the quantizers hold",
        )
    if calib_images is not None or "calibration" in p:
        images = calib_images if calib_images is not None else p["calibration"]["images"]
        out["quantize"] = (
            "calibration.images",
            images,
            inference_bytes(name, 1) + input_bytes(images, size),
            "the preprocessed calibration images",
        )
    if "export" in p:
        v = p["export"]["verify_batches"]
        out["export_dynamic"] = (
            "export.verify_batches",
            v,
            inference_bytes(name, max(v), sessions=2),
            "verifying the largest batch",
        )
    if "convert" in p:
        v = p["convert"]["verify_batches"]
        out["convert_ir"] = (
            "convert.verify_batches",
            v,
            inference_bytes(name, max(v), sessions=2),
            "verifying the largest batch",
        )
    if "bench" in p:
        sizes = p["bench"]["batch_sizes"]
        out["bench"] = ("bench.batch_sizes", sizes, inference_bytes(name, max(sizes)), "the largest benchmark batch")
        if "bench_torch" in p:
            sizes = p["bench_torch"]["batch_sizes"]
            out["bench_torch"] = (
                "bench_torch.batch_sizes",
                sizes,
                inference_bytes(name, max(sizes), sessions=3),
                "three runtimes at the largest batch",
            )
    if "bench_deploy" in p:
        d = p["bench_deploy"]
        out["bench_deploy"] = (
            "bench_deploy.batch_sizes",
            d["batch_sizes"],
            inference_bytes(name, max(d["batch_sizes"]), sessions=2) + input_bytes(d["images"], size),
            "two compiled models at the largest batch",
        )
    if "eval_timing" in p:
        batch = p["eval_timing"]["batch"]
        out["eval_map"] = ("eval_timing.batch", batch, inference_bytes(name, batch), "one evaluation batch")
    return out


def check(key: str, value: object, need: int, what: str) -> None:
    """Raise ParamError when `need` bytes exceed the usable share of the memory available now."""
    available = available_bytes()
    limit = USABLE * available
    if need > limit:
        raise ParamError(
            f"params.yaml: {key} = {value!r} needs about {need / 2**30:.1f} GiB for {what}, more than "
            f"the {limit / 2**30:.1f} GiB limit ({USABLE:.0%} of the {available / 2**30:.1f} GiB "
            f"available); lower {key}"
        )
