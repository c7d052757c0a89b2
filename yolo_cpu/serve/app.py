"""The Ray Serve application of `yolo-cpu serve`: one deployment whose replicas hold a ServeEngine.

  POST /detect   an image's bytes (JPEG, PNG) -> the JSON object `yolo-cpu detect` prints for it
  GET  /health   200 {"status": "ok"} while the replica serves
  GET  /         the bundle's variant, class names and serving settings

Concurrent requests are batched by Ray Serve's own batcher (`serve.batch`, up to max_batch_size,
waiting at most batch_wait_ms), with as many batches in flight as the compiled model has inference
requests. Decoding and letterboxing run in a thread pool, never on the event loop. The queue in front
of the replicas is bounded (`max_queued_requests`): beyond it a request gets 503 with Retry-After at
once. A body that is not an image gets 400 naming why."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.config import BackpressureConfig
from starlette.requests import Request
from starlette.responses import JSONResponse

from yolo_cpu.deploy.run import record
from yolo_cpu.serve.engine import BadImage, Prepared, ServeEngine
from yolo_cpu.serve.settings import ServeSettings

MAX_BODY_BYTES = 64 * 2**20
RETRY_AFTER_S = 1


@serve.deployment(
    name="detector", graceful_shutdown_wait_loop_s=0.5, graceful_shutdown_timeout_s=20, health_check_period_s=5
)
class DetectorReplica:
    """One replica: the bundle's model at every batch size up to max_batch_size."""

    def __init__(self, folder: str, settings: dict[str, Any], threads: int = 0) -> None:
        self.settings = ServeSettings(**settings)
        threads = min(threads, os.cpu_count() or 1)  # its share of the cluster's CPUs, within this node's
        self.engine = ServeEngine(folder, self.settings.max_batch_size, streams=self.settings.streams, threads=threads)
        self.pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="decode")
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.served = 0
        self.info = {
            "variant": self.engine.bundle.metadata.get("deploy", {}).get("variant"),
            "model": self.engine.bundle.model.name,
            "runtime": self.engine.bundle.runtime,
            "precision": self.engine.bundle.precision,
            "names": self.engine.names,
            "serve": self.settings.as_dict(),
        }
        if self.settings.max_batch_size > 1:
            self._infer = serve.batch(
                max_batch_size=self.settings.max_batch_size,
                batch_wait_timeout_s=self.settings.batch_wait_ms / 1000,
                max_concurrent_batches=self.engine.requests,
            )(self._run)
        else:  # no batching: each request its own inference, as many in flight as the model has requests
            self._infer = self._run_one

    async def _run(self, items: list[Prepared]) -> list:
        return await asyncio.wrap_future(self.engine.submit(items))

    async def _run_one(self, item: Prepared):
        return (await asyncio.wrap_future(self.engine.submit([item])))[0]

    async def detect(self, data: bytes, image: str = "request") -> dict[str, Any]:
        """The detections of one image's bytes, as `yolo-cpu detect` prints them; BadImage if refused."""
        if len(data) > MAX_BODY_BYTES:
            raise BadImage(f"body of {len(data)} bytes is larger than the limit of {MAX_BODY_BYTES}: {image}")
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self.pool, self.engine.prepare, data, image)
        dets = await self._infer(prepared)
        self.served += 1
        return record(Path(image), dets, self.engine.names)

    async def __call__(self, request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/")
        if request.method == "POST" and path == "/detect":
            try:
                return JSONResponse(
                    await self.detect(await request.body(), request.query_params.get("name", "request"))
                )
            except BadImage as e:
                return JSONResponse({"error": str(e)}, status_code=400)
        if request.method == "GET" and path == "/health":
            return JSONResponse({"status": "ok", "replica": self.name})
        if request.method == "GET" and path == "":
            return JSONResponse({**self.info, "replica": self.name})
        return JSONResponse(
            {"error": f"no route {request.method} {request.url.path}: POST /detect, GET /health, GET /"},
            status_code=404,
        )

    def stats(self) -> dict[str, Any]:
        """This replica's counters and CPU seconds (process, decode threads, NMS callbacks)."""
        r = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "replica": self.name,
            "pid": os.getpid(),
            "served": self.served,
            "process_cpu_s": r.ru_utime + r.ru_stime,
            "decode_cpu_s": self.engine.decode_cpu.seconds,
            "nms_cpu_s": self.engine.nms_cpu.seconds,
        }

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()


def application(folder: str | Path, settings: ServeSettings, cpus_per_replica: float = 1):
    """The bound Ray Serve application for a bundle folder at these settings; each replica's model
    runs on its share of the cores (several replicas on one machine do not oversubscribe it)."""
    return DetectorReplica.options(
        num_replicas=settings.replicas,
        max_ongoing_requests=settings.max_ongoing,
        max_queued_requests=settings.max_queued,
        backpressure_config=BackpressureConfig(status_code=503, retry_after_s=RETRY_AFTER_S),
        ray_actor_options={"num_cpus": cpus_per_replica},
    ).bind(str(Path(folder).resolve()), settings.as_dict(), max(1, int(cpus_per_replica)))
