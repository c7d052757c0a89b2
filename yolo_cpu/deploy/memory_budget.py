"""How much memory a batch of inference needs, checked before anything is allocated: a batch that
cannot fit is an error naming it, the estimate and the limit, never a process the kernel kills.
Shared by the pipeline's params checks and the Detector; needs only the standard library."""

from __future__ import annotations

from pathlib import Path

from yolo_cpu.errors import UserError

# Measured on yolov5n (Intel Xeon, 2026-12-01): peak resident memory grows by about 64 MiB per image
# of batch in ONNX Runtime FP32 and 36 MiB in OpenVINO f32 (input, activations and output).
INFER_MIB_PER_IMAGE = 64
YOLOV5N_ONNX_BYTES = 7.9e6  # FP32 weights grow with width squared: a model's width from its weights' size
BASE_MIB = 1024  # interpreter, libraries, loaded models
USABLE = 0.8  # share of the available memory one batch may plan to use


class MemoryBudgetError(UserError):
    """A batch whose estimated memory exceeds what this machine has available."""


def available_bytes() -> int:
    """Memory available now (MemAvailable; the physical total where /proc/meminfo is absent)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def width_from_bytes(weight_bytes: float) -> float:
    """Width relative to yolov5n from a model's FP32 weight bytes (yolov8n: 12.8 MB -> 1.3); never below 1."""
    return max(1.0, (weight_bytes / YOLOV5N_ONNX_BYTES) ** 0.5)


def inference_bytes(width: float, batch: int, sessions: int = 1) -> int:
    """Estimated peak for `sessions` models each running one batch of `batch` images."""
    return int((BASE_MIB + sessions * batch * INFER_MIB_PER_IMAGE * width) * 2**20)


def over_limit(need: int) -> str | None:
    """None when `need` bytes fit the usable share of the memory available now, else why not."""
    available = available_bytes()
    limit = USABLE * available
    if need <= limit:
        return None
    return (
        f"needs about {need / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB limit "
        f"({USABLE:.0%} of the {available / 2**30:.1f} GiB available)"
    )


def model_weight_bytes(model: Path) -> int:
    """The bytes of a model's weights: an IR's .bin, else the file itself."""
    weights = model.with_suffix(".bin") if model.suffix == ".xml" else model
    return weights.stat().st_size if weights.is_file() else model.stat().st_size


def check_batch(batch: int, model: Path) -> None:
    """Refuse a Detector batch that cannot fit, before the model is compiled for it."""
    why = over_limit(inference_bytes(width_from_bytes(model_weight_bytes(model)), batch))
    if why is not None:
        raise MemoryBudgetError(f"batch {batch} with {model} {why}: use a smaller batch")
