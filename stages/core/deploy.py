"""The deployment path: image files in, detections out, with OpenVINO at deployment settings.

Decoding and letterboxing (the shared `letterbox`) run in a thread pool ahead of inference; with
`in_model_preprocessing`, OpenVINO's PrePostProcessor takes the letterboxed u8 NHWC BGR batch and does
BGR->RGB, NHWC->NCHW and /255 inside the compiled model (otherwise numpy's `to_tensor` does it); an
AsyncInferQueue keeps inference requests in flight while NMS of finished batches runs in their
callbacks."""
from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .postprocess import Detections, select_candidates, suppress
from .preprocess import Letterbox, letterbox, read_image, to_tensor
from .runtimes import ModelLoadError, ov_core, ov_supports_bf16

DEPLOY_CONF = 0.25  # deployment settings (Ultralytics' predict defaults are 0.25 and 0.7; YOLOv5's 0.25 and 0.45)
DEPLOY_IOU = 0.45


def with_in_model_preprocessing(model):
    """The model taking letterboxed u8 NHWC BGR images: conversion, colour swap and scaling in the graph."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")) \
        .set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


@dataclass
class Batch:
    """Letterboxed images of one batch (u8 NHWC BGR, padded to the batch size) and their letterboxes."""

    images: np.ndarray
    letterboxes: list[Letterbox]


class Detector:
    """OpenVINO detector for deployment: `detect(paths)` returns one Detections per image, in order.

    model: an IR (.xml) or ONNX; precision: OpenVINO's INFERENCE_PRECISION_HINT (f32 or bf16; an INT8
    IR keeps its INT8 layers either way); batch: images per inference request."""

    def __init__(self, model: str | Path, precision: str = "f32", batch: int = 1, imgsz: int = 640,
                 conf: float = DEPLOY_CONF, iou: float = DEPLOY_IOU, max_det: int = 300,
                 in_model_preprocessing: bool = True, requests: int = 0, decode_threads: int = 0) -> None:
        if precision == "bf16" and not ov_supports_bf16():
            raise ModelLoadError("this CPU has no bf16 support (OPTIMIZATION_CAPABILITIES lacks BF16)")
        core = ov_core()
        try:
            m = core.read_model(str(model))
        except Exception as e:
            raise ModelLoadError(f"OpenVINO cannot read {model}: {e}") from e
        try:
            m.reshape({m.input(0): [batch, 3, imgsz, imgsz]})
        except Exception as e:
            raise ModelLoadError(f"{model} cannot run at batch {batch} and {imgsz}x{imgsz} ({e}); give the "
                                 "dynamic-batch model (models/<name>_dynamic.onnx or an IR made from it)") from e
        if in_model_preprocessing:
            m = with_in_model_preprocessing(m)
        self.compiled = core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT",
                                                      "INFERENCE_PRECISION_HINT": precision})
        self.requests = requests or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.batch, self.imgsz, self.conf, self.iou, self.max_det = batch, imgsz, conf, iou, max_det
        self.in_model_preprocessing = in_model_preprocessing
        self.decode_threads = decode_threads or os.cpu_count() or 1

    def close(self) -> None:
        """Release the compiled model and collect what refers to it while the interpreter is whole.
        Left to interpreter shutdown, OpenVINO's objects may be torn down after the runtime they
        need, and the process aborts ("terminate called without an active exception", exit 134)."""
        import gc

        self.compiled = None
        gc.collect()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self, path: Path) -> tuple[np.ndarray, Letterbox]:
        return letterbox(read_image(path), self.imgsz)

    def batches(self, paths: Sequence[Path]) -> Iterator[Batch]:
        """Decoded, letterboxed batches, prepared in a thread pool at most two batches (plus one image
        per thread) ahead of the consumer, so memory stays bounded whatever the number of files."""
        ahead = 2 * self.batch + self.decode_threads
        with ThreadPoolExecutor(self.decode_threads) as pool:
            pending = deque(pool.submit(self._load, p) for p in paths[:ahead])
            submitted = len(pending)
            for start in range(0, len(paths), self.batch):
                items = []
                for _ in range(min(self.batch, len(paths) - start)):
                    items.append(pending.popleft().result())
                    if submitted < len(paths):
                        pending.append(pool.submit(self._load, paths[submitted]))
                        submitted += 1
                imgs = np.stack([im for im, _ in items])
                if len(items) < self.batch:  # pad a short last batch
                    imgs = np.concatenate([imgs, np.zeros((self.batch - len(items), *imgs.shape[1:]), np.uint8)])
                yield Batch(imgs, [lb for _, lb in items])

    def model_input(self, b: Batch) -> np.ndarray:
        return b.images if self.in_model_preprocessing else to_tensor(list(b.images))

    def detect(self, paths: Sequence[str | Path]) -> list[Detections]:
        """Detections (boxes in original pixels) for every image file, in order."""
        import openvino as ov

        paths = [Path(p) for p in paths]
        out: dict[int, list[Detections]] = {}
        errors: list[BaseException] = []
        lock = threading.Lock()

        def finished(request, userdata) -> None:
            index, lbs = userdata
            try:
                y = request.get_output_tensor(0).data[: len(lbs)]
                dets = suppress(select_candidates(y, self.conf), lbs, self.iou, self.max_det)
                with lock:
                    out[index] = dets
            except BaseException as e:  # surfaced in the caller's thread
                errors.append(e)

        if self.compiled is None:
            raise RuntimeError("this Detector was closed")
        queue = ov.AsyncInferQueue(self.compiled, self.requests)
        queue.set_callback(finished)
        try:
            for i, b in enumerate(self.batches(paths)):
                queue.start_async({0: self.model_input(b)}, userdata=(i, b.letterboxes))
        finally:
            queue.wait_all()  # no request in flight may outlive this call, even on an error
            del queue
        if errors:
            raise errors[0]
        return [d for i in sorted(out) for d in out[i]]


def model_only(detector: Detector, inputs: list[np.ndarray]) -> None:
    """The same compiled model and request count over ready model inputs: no decode, no NMS."""
    import openvino as ov

    queue = ov.AsyncInferQueue(detector.compiled, detector.requests)
    for x in inputs:
        queue.start_async({0: x}, share_inputs=True)
    queue.wait_all()


def reference_detections(model: str | Path, precision: str, paths: Sequence[Path], imgsz: int,
                         conf: float = DEPLOY_CONF, iou: float = DEPLOY_IOU) -> list[Detections]:
    """The evaluation path's detections (shared preprocess, OvRuntime at batch 1, postprocess) at
    deployment settings, to check the deployment path against."""
    from .postprocess import postprocess
    from .preprocess import preprocess
    from .runtimes import OvRuntime

    rt = OvRuntime(model, precision=precision, batch=1)
    out = []
    for p in paths:
        x, lbs = preprocess([read_image(p)], imgsz)
        out += postprocess(rt.infer(x), lbs, conf, iou)
    return out
