"""Serving's engine: image bytes in, detections out, with a bundle's model and settings.

One Detector per batch size (powers of two up to the largest batch the server forms, plus that
size), so a batch of n requests runs on the smallest compiled batch that holds it. `prepare` is the
deployment path's decode and letterbox (no Ray, no event loop: callers run it in threads);
`submit` starts one inference and returns a Future, keeping OpenVINO's requests in flight as the
Detector does, with NMS in the request's callback. Used by the Ray Serve replica and, directly, by
bench-serve's in-process path."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_cpu.deploy import bundle as bundles
from yolo_cpu.deploy.detector import Batch, Detector
from yolo_cpu.runtime.postprocess import Detections
from yolo_cpu.runtime.preprocess import ImageReadError, Letterbox, decode_image, letterbox

MAX_PIXELS = 40_000_000  # a request image above this (an 8K frame is 33 MP) is refused before decoding


class BadImage(ImageReadError):
    """A request body that is not an image the server takes: empty, not decodable, too large."""


@dataclass(frozen=True)
class Prepared:
    """One decoded, letterboxed request image."""

    image: np.ndarray
    box: Letterbox


def batch_sizes(largest: int) -> list[int]:
    """The compiled batch sizes: 1, 2, 4, ... below `largest`, then `largest`."""
    sizes, b = [], 1
    while b < largest:
        sizes.append(b)
        b *= 2
    return sizes + [largest]


class CpuClock:
    """Thread CPU seconds summed over calls, from any thread (decode and NMS are timed in theirs)."""

    def __init__(self) -> None:
        self.seconds, self.calls, self._lock = 0.0, 0, threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
            self.calls += 1


class ServeEngine:
    """A bundle's model at batch sizes up to `max_batch_size`, taking decoded request images."""

    def __init__(
        self,
        folder: str | Path,
        max_batch_size: int = 1,
        max_pixels: int = MAX_PIXELS,
        streams: int = 0,
        threads: int = 0,
    ) -> None:
        b = bundles.load(Path(folder))
        self.bundle, self.max_pixels = b, max_pixels
        # one stream keeps a second request queued behind the running one, so its decode and NMS overlap
        requests = streams + 1 if streams else 0
        self.detectors = {
            n: Detector(
                b.model,
                precision=b.precision,
                batch=n,
                conf=b.conf,
                iou=b.iou,
                runtime=b.runtime,
                streams=streams,
                threads=threads,
                requests=requests,
            )
            for n in batch_sizes(max_batch_size)
        }
        first = self.detectors[1]
        self.names, self.imgsz, self.requests = first.names, first.imgsz, first.requests
        self.decode_cpu, self.nms_cpu = CpuClock(), CpuClock()
        self._queues: dict[int, Any] = {}
        self._start_lock = threading.Lock()  # AsyncInferQueue.start_async is not safe from two threads at once
        self._ort_pool = ThreadPoolExecutor(1) if b.runtime == "onnxruntime" else None
        if self._ort_pool is None:
            import openvino as ov

            for n, d in self.detectors.items():
                q = ov.AsyncInferQueue(d.compiled, d.requests)
                q.set_callback(self._finished)
                self._queues[n] = q

    def prepare(self, data: bytes, where: str = "request body") -> Prepared:
        """Decode and letterbox one request's bytes; BadImage names why they are refused."""
        start = time.thread_time()
        try:
            if not data:
                raise BadImage(f"empty body: send the bytes of one image (JPEG, PNG): {where}")
            try:
                img = decode_image(data, where, self.max_pixels)
            except ImageReadError as e:
                raise BadImage(str(e)) from None
            return Prepared(*letterbox(img, self.imgsz))
        finally:
            self.decode_cpu.add(time.thread_time() - start)

    def size_for(self, n: int) -> int:
        return min(s for s in self.detectors if s >= n)

    def submit(self, items: list[Prepared]) -> Future[list[Detections]]:
        """Start inference of up to max_batch_size prepared images; the Future gives their detections."""
        n = self.size_for(len(items))
        d = self.detectors[n]
        images = np.zeros((n, self.imgsz, self.imgsz, 3), np.uint8)
        for i, it in enumerate(items):
            images[i] = it.image
        batch = Batch(images, [it.box for it in items], {}, len(items))
        if self._ort_pool is not None:
            return self._ort_pool.submit(lambda: self._postprocess(d, d.session.infer(d.model_input(batch)), batch))
        future: Future[list[Detections]] = Future()
        with self._start_lock:
            self._queues[n].start_async({0: d.model_input(batch)}, userdata=(future, d, batch))
        return future

    def _postprocess(self, d: Detector, y: np.ndarray, batch: Batch) -> list[Detections]:
        start = time.thread_time()
        try:
            return d.postprocess_batch(y, batch)
        finally:
            self.nms_cpu.add(time.thread_time() - start)

    def _finished(self, request, userdata) -> None:
        future, d, batch = userdata
        try:
            future.set_result(self._postprocess(d, request.get_output_tensor(0).data, batch))
        except BaseException as e:  # handed to whoever awaits the Future
            future.set_exception(e)

    def close(self) -> None:
        for q in self._queues.values():
            q.wait_all()
        self._queues.clear()
        if self._ort_pool is not None:
            self._ort_pool.shutdown()
        for d in self.detectors.values():
            d.close()
