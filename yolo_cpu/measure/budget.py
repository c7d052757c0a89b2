"""Memory estimates for the params that size an allocation, checked at stage start: a value that
cannot fit is an error naming the key, the estimate and the limit, never a process the kernel kills."""
from __future__ import annotations

from yolo_cpu import paths
from yolo_cpu.pipeline.params import ParamError

# Measured on yolov5n (Intel Xeon, 2026-12-01): peak resident memory grows by about 64 MiB per image
# of batch in ONNX Runtime FP32 and 36 MiB in OpenVINO f32 (input, activations and output).
INFER_MIB_PER_IMAGE = 64
# Activation memory scales with the model's width: yolov5n/s/m/l/x are 0.25/0.5/0.75/1.0/1.25 wide.
WIDTH = {"yolov5n": 1, "yolov5s": 2, "yolov5m": 3, "yolov5l": 4, "yolov5x": 5}
YOLOV5N_ONNX_BYTES = 7.9e6  # weights grow with width squared: another model's width from its ONNX size
BASE_MIB = 1024  # interpreter, libraries, loaded models
USABLE = 0.8  # share of the available memory a stage may plan to use


def input_bytes(images: int, imgsz: int) -> int:
    """One preprocessed float32 image tensor per image."""
    return images * 3 * imgsz * imgsz * 4


def width(model_name: str) -> float:
    """Width relative to yolov5n: the release table, else from the downloaded ONNX's size (yolov8n:
    12.8 MB -> 1.3), else the widest release's."""
    if model_name in WIDTH:
        return WIDTH[model_name]
    onnx = paths.fixed_onnx(model_name)
    return max(1.0, (onnx.stat().st_size / YOLOV5N_ONNX_BYTES) ** 0.5) if onnx.is_file() else max(WIDTH.values())


def inference_bytes(model_name: str, batch: int, sessions: int = 1) -> int:
    """Estimated peak for `sessions` models each running one batch of `batch` images."""
    return int((BASE_MIB + sessions * batch * INFER_MIB_PER_IMAGE * width(model_name)) * 2**20)


def check(key: str, value: object, need: int, what: str) -> None:
    """Raise ParamError when `need` bytes exceed the usable share of the memory available now."""
    import psutil

    available = psutil.virtual_memory().available
    limit = USABLE * available
    if need > limit:
        raise ParamError(f"params.yaml: {key} = {value!r} needs about {need / 2**30:.1f} GiB for {what}, more than "
                         f"the {limit / 2**30:.1f} GiB limit ({USABLE:.0%} of the {available / 2**30:.1f} GiB "
                         f"available); lower {key}")
