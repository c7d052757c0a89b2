"""The deployment path: image files in, detections out, with OpenVINO at deployment settings.

Decoding and letterboxing (the shared `letterbox`) run in a thread pool ahead of inference; with
`in_model_preprocessing`, OpenVINO's PrePostProcessor takes the letterboxed u8 NHWC BGR batch and does
BGR->RGB, NHWC->NCHW and /255 inside the compiled model (otherwise numpy's `to_tensor` does it); an
AsyncInferQueue keeps inference requests in flight while NMS of finished batches runs in their
callbacks."""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo_cpu.deploy import memory_budget
from yolo_cpu.errors import UserError
from yolo_cpu.models import detection_outputs, metadata
from yolo_cpu.runtime.postprocess import Detections, select_candidates, suppress
from yolo_cpu.runtime.preprocess import ImageReadError, Letterbox, letterbox, read_image, to_tensor
from yolo_cpu.runtime.runtimes import ModelLoadError, OrtRuntime, ov_core, ov_supports_bf16

DEPLOY_CONF = 0.25  # deployment settings (Ultralytics' predict defaults are 0.25 and 0.7; YOLOv5's 0.25 and 0.45)
DEPLOY_IOU = 0.45
RUNTIMES = ("openvino", "onnxruntime")


class SettingError(UserError):
    """A Detector setting out of its range (batch, conf, iou, max_det)."""


def check_settings(batch: int, conf: float, iou: float, max_det: int) -> None:
    """Every number the Detector takes, range-checked: an error names the setting and its range."""
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise SettingError(f"batch = {batch!r}: must be a whole number of images, at least 1")
    for name, value in (("conf", conf), ("iou", iou)):
        if not 0 <= value <= 1:
            raise SettingError(f"{name} = {value!r}: must be within [0, 1]")
    if isinstance(max_det, bool) or not isinstance(max_det, numbers.Integral) or max_det < 1:
        raise SettingError(f"max_det = {max_det!r}: must be a whole number, at least 1")


def with_in_model_preprocessing(model):
    """The model taking letterboxed u8 NHWC BGR images: conversion, colour swap and scaling in the graph."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


@dataclass
class Batch:
    """One batch: the letterboxed images that decoded (u8 NHWC BGR, padded to the batch size), their
    letterboxes, and the images that did not (position in the batch -> error; with skip_bad only)."""

    images: np.ndarray
    letterboxes: list[Letterbox]
    failed: dict[int, ImageReadError]
    size: int

    def merge(self, dets: list[Detections]) -> list[Detections | ImageReadError]:
        """Per image of the batch, in order: its detections, or the error that kept it out."""
        found = iter(dets)
        return [self.failed[i] if i in self.failed else next(found) for i in range(self.size)]


class Detector:
    """Detector for deployment: `detect(paths)` returns one Detections per image, in order.

    model: an IR (.xml) or ONNX; runtime: "openvino" (IR or ONNX) or "onnxruntime" (ONNX);
    precision: OpenVINO's INFERENCE_PRECISION_HINT (f32 or bf16; an INT8 IR keeps its INT8 layers
    either way); batch: images per inference request; imgsz: the model's input size (default: its
    metadata, else 640); streams, threads: OpenVINO's NUM_STREAMS and INFERENCE_NUM_THREADS (0: its
    THROUGHPUT hint's choice; ONNX Runtime ignores them). Class names come from the model's metadata
    (`names`, None without it)."""

    def __init__(
        self,
        model: str | Path,
        precision: str = "f32",
        batch: int = 1,
        imgsz: int | None = None,
        conf: float = DEPLOY_CONF,
        iou: float = DEPLOY_IOU,
        max_det: int = 300,
        in_model_preprocessing: bool = True,
        requests: int = 0,
        decode_threads: int = 0,
        runtime: str = "openvino",
        streams: int = 0,
        threads: int = 0,
    ) -> None:
        model = Path(model)
        if not model.is_file():
            raise ModelLoadError(f"model not found: {model} (give an IR .xml, an ONNX or a bundle folder)")
        if runtime not in RUNTIMES:
            raise ModelLoadError(f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
        if runtime == "onnxruntime" and model.suffix != ".onnx":
            raise ModelLoadError(f"runtime onnxruntime needs an ONNX model, got {model}")
        if precision not in ("f32", "bf16"):
            raise ModelLoadError(f"precision {precision!r} is not f32 or bf16")
        check_settings(batch, conf, iou, max_det)
        memory_budget.check_batch(batch, model)
        self.runtime, self.compiled, self.session = runtime, None, None
        if runtime == "onnxruntime":
            if precision != "f32":
                raise ModelLoadError("precision bf16 is an OpenVINO setting; ONNX Runtime runs the model as it is")
            self.session = OrtRuntime(model)
            self.meta = _meta_or_none(lambda: metadata.from_onnx(model))
            self._check_detector(model, [(o.name, o.shape) for o in self.session.session.get_outputs()])
            in_model_preprocessing, self.requests = False, 1
        else:
            self._compile_ov(model, precision, batch, imgsz, in_model_preprocessing, requests, streams, threads)
        self.imgsz = imgsz or (self.meta.imgsz if self.meta else 640)
        self.names = self.meta.names if self.meta else None
        self.batch, self.conf, self.iou, self.max_det = batch, conf, iou, max_det
        self.precision, self.in_model_preprocessing = precision, in_model_preprocessing
        self.decode_threads = decode_threads or os.cpu_count() or 1
        self.skip_bad = False

    def _compile_ov(
        self,
        model: Path,
        precision: str,
        batch: int,
        imgsz: int | None,
        in_model_preprocessing: bool,
        requests: int,
        streams: int = 0,
        threads: int = 0,
    ) -> None:
        if precision == "bf16" and not ov_supports_bf16():
            raise ModelLoadError("this CPU has no bf16 support (OPTIMIZATION_CAPABILITIES lacks BF16)")
        if model.suffix == ".onnx":  # read first by ONNX Runtime: a clear message for a file that is no ONNX
            self.meta = _meta_or_none(lambda: metadata.from_onnx(model))
        elif model.suffix != ".xml" or not model.read_bytes()[:200].lstrip().startswith((b"<?xml", b"<net")):
            raise ModelLoadError(f"{model} is not an OpenVINO IR (.xml) nor an ONNX (.onnx)")
        core = ov_core()
        try:
            m = core.read_model(str(model))
        except Exception as e:
            raise ModelLoadError(f"OpenVINO cannot read {model}: {_reason(e)}") from e
        if model.suffix == ".xml":
            self.meta = _meta_or_none(lambda: metadata.from_ov_model(m, str(model)))
        self._check_detector(
            model,
            [
                (_output_name(o, i), [d.get_length() if d.is_static else None for d in o.get_partial_shape()])
                for i, o in enumerate(m.outputs)
            ],
        )
        size = imgsz or (self.meta.imgsz if self.meta else 640)
        try:
            m.reshape({m.input(0): [batch, 3, size, size]})
        except Exception as e:
            raise ModelLoadError(
                f"{model} cannot run at batch {batch} and {size}x{size} "
                f"({_reason(e)}); give the dynamic-batch model "
                "(models/<name>_dynamic.onnx or an IR made from it)"
            ) from e
        if in_model_preprocessing:
            m = with_in_model_preprocessing(m)
        config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": precision}
        if streams:  # 1: one request at a time on every core (lowest latency); 0: OpenVINO's choice
            config["NUM_STREAMS"] = streams
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(m, "CPU", config)
        self.requests = requests or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def _check_detector(self, model: Path, outputs: list) -> None:
        """Refuse a segmentation, pose, OBB or classification model (its metadata task, its outputs)."""
        detection_outputs.refuse_task(self.meta.task if self.meta else None, str(model))
        detection_outputs.check_outputs(outputs, str(model), len(self.meta.names) if self.meta else None)

    def close(self) -> None:
        """Release the compiled model and collect what refers to it while the interpreter is whole.
        Left to interpreter shutdown, OpenVINO's objects may be torn down after the runtime they
        need, and the process aborts ("terminate called without an active exception", exit 134)."""
        import gc

        self.compiled = self.session = None
        gc.collect()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self, path: Path) -> tuple[np.ndarray, Letterbox] | ImageReadError:
        try:
            return letterbox(read_image(path), self.imgsz)
        except ImageReadError as e:
            if not self.skip_bad:
                raise
            return e

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
                failed = {i: it for i, it in enumerate(items) if isinstance(it, ImageReadError)}
                good = [it for it in items if not isinstance(it, ImageReadError)]
                imgs = np.zeros((self.batch, self.imgsz, self.imgsz, 3), np.uint8)
                for i, (im, _) in enumerate(good):  # a short last batch stays padded with zeros
                    imgs[i] = im
                yield Batch(imgs, [lb for _, lb in good], failed, len(items))

    def model_input(self, b: Batch) -> np.ndarray:
        return b.images if self.in_model_preprocessing else to_tensor(list(b.images))

    def postprocess_batch(self, y: np.ndarray, b: Batch) -> list[Detections | ImageReadError]:
        n = len(b.letterboxes)  # deployment NMS: one class per box, as Ultralytics' predict does
        return b.merge(
            suppress(select_candidates(y[:n], self.conf, multi_label=False), b.letterboxes, self.iou, self.max_det)
            if n
            else []
        )

    def detect(self, paths: Sequence[str | Path], skip_bad: bool = False) -> list[Detections | ImageReadError]:
        """Detections (boxes in original pixels) for every image file, in order. An image that is
        missing or does not decode raises ImageReadError naming it; with skip_bad, its place in the
        result holds that error instead and the other images are processed."""
        with contextlib.closing(self.stream(paths, skip_bad)) as results:
            return list(results)

    def stream(self, paths: Sequence[str | Path], skip_bad: bool = False) -> Iterator[Detections | ImageReadError]:
        """detect(), one image at a time in input order as soon as its batch is done. Close the
        iterator (contextlib.closing) to stop early: requests in flight finish first."""
        if self.compiled is None and self.session is None:
            raise RuntimeError("this Detector was closed")
        self.skip_bad = skip_bad
        paths = [Path(p) for p in paths]
        if self.session is not None:
            for b in self.batches(paths):
                yield from self.postprocess_batch(self.session.infer(self.model_input(b)), b)
            return
        yield from self._stream_ov(paths)

    def _stream_ov(self, paths: list[Path]) -> Iterator[Detections | ImageReadError]:
        import openvino as ov

        out: dict[int, list[Detections | ImageReadError]] = {}
        errors: list[BaseException] = []
        lock = threading.Lock()

        def finished(request, userdata) -> None:
            index, b = userdata
            try:
                dets = self.postprocess_batch(request.get_output_tensor(0).data, b)
                with lock:
                    out[index] = dets
            except BaseException as e:  # surfaced in the caller's thread
                errors.append(e)

        def ready(upto: int) -> Iterator[Detections | ImageReadError]:
            nonlocal done
            while done < upto:
                with lock:
                    batch = out.pop(done, None)
                if batch is None:
                    return
                done += 1
                yield from batch

        done = 0
        queue = ov.AsyncInferQueue(self.compiled, self.requests)
        queue.set_callback(finished)
        try:
            n = 0
            for n, b in enumerate(self.batches(paths), 1):
                if b.letterboxes:
                    queue.start_async({0: self.model_input(b)}, userdata=(n - 1, b))
                else:
                    with lock:
                        out[n - 1] = b.merge([])
                if errors:
                    raise errors[0]
                yield from ready(n)
            queue.wait_all()
            if errors:
                raise errors[0]
            yield from ready(n)
        finally:
            queue.wait_all()  # no request in flight may outlive this call, even on an error or early stop
            del queue


def _output_name(output, index: int) -> str:
    try:
        return output.get_any_name()
    except RuntimeError:  # an output without a tensor name
        return f"output {index}"


def _reason(e: Exception) -> str:
    """The line of an OpenVINO exception that says what is wrong (not where in OpenVINO it was raised)."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip() and not x.startswith("Exception from ")]
    return lines[-1] if lines else type(e).__name__


def _meta_or_none(read) -> metadata.ModelMeta | None:
    """A model's metadata, or None for a model without it (any ONNX or IR still runs)."""
    try:
        return read()
    except metadata.MetadataError:
        return None


def model_only(detector: Detector, inputs: list[np.ndarray]) -> None:
    """The same compiled model and request count over ready model inputs: no decode, no NMS."""
    import openvino as ov

    queue = ov.AsyncInferQueue(detector.compiled, detector.requests)
    for x in inputs:
        queue.start_async({0: x}, share_inputs=True)
    queue.wait_all()


def reference_detections(
    model: str | Path,
    precision: str,
    paths: Sequence[Path],
    imgsz: int,
    conf: float = DEPLOY_CONF,
    iou: float = DEPLOY_IOU,
) -> list[Detections]:
    """The evaluation path's detections (shared preprocess, OvRuntime at batch 1, postprocess) at
    deployment settings, to check the deployment path against."""
    from yolo_cpu.runtime.postprocess import postprocess
    from yolo_cpu.runtime.preprocess import preprocess
    from yolo_cpu.runtime.runtimes import OvRuntime

    rt = OvRuntime(model, precision=precision, batch=1)
    out = []
    for p in paths:
        x, lbs = preprocess([read_image(p)], imgsz)
        out += postprocess(rt.infer(x), lbs, conf, iou, multi_label=False)
    return out
