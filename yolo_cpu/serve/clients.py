"""The three systems under test bench-serve puts LoadGen in front of, over the same in-memory image
bytes (the evaluation images' files, as a client would send them):

- InProcess: the ServeEngine called directly (decode in a thread pool, OpenVINO's requests in
  flight): no Ray, no HTTP. Offline's queries run in batches of the engine's largest batch.
- Handle: Ray Serve through a DeploymentHandle (the replica's `detect`): Ray, no HTTP.
- Http: Ray Serve over HTTP (POST /detect) with aiohttp, as an API client would call it.

Each `issue` returns at once; completions are reported from the threads where they happen."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from yolo_cpu.serve.engine import ServeEngine

Done = Callable[[int, bool], None]


class EventLoopThread:
    """An asyncio event loop in a daemon thread, for clients driven from LoadGen's threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="client-loop", daemon=True)
        self.thread.start()

    def submit(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class InProcess:
    """LoadGen calling the engine directly."""

    name = "in_process"

    def __init__(self, engine: ServeEngine, samples: Sequence[bytes], threads: int) -> None:
        self.engine, self.samples = engine, samples
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="decode")
        self.batch = max(engine.detectors)

    def issue(self, indices: Sequence[int], done: Done) -> None:
        step = self.batch if len(indices) > 1 else 1
        for start in range(0, len(indices), step):
            chunk = [(p, indices[p]) for p in range(start, min(start + step, len(indices)))]
            self.pool.submit(self._run, chunk, done)

    def _run(self, chunk: list[tuple[int, int]], done: Done) -> None:
        """Decode a chunk in this pool thread, then start its inference; NMS in OpenVINO's callback."""
        try:
            items = [self.engine.prepare(self.samples[i]) for _, i in chunk]
            future = self.engine.submit(items)
        except Exception:
            for p, _ in chunk:
                done(p, False)
            raise

        def finished(f: Future) -> None:
            ok = f.exception() is None
            for p, _ in chunk:
                done(p, ok)

        future.add_done_callback(finished)

    def close(self) -> None:
        self.pool.shutdown()


class _AsyncClient:
    """Sends each query as its own request from an event loop; Offline's flood is held to
    `concurrency` requests at once, as a well-behaved client would (more only meets 503s)."""

    def __init__(self, samples: Sequence[bytes], concurrency: int) -> None:
        self.samples, self.concurrency = samples, concurrency
        self.runner = EventLoopThread()
        self.failures: dict[str, int] = {}
        self._gate: asyncio.Semaphore | None = None

    def issue(self, indices: Sequence[int], done: Done) -> None:
        self.runner.loop.call_soon_threadsafe(self._start, list(indices), done)

    def _start(self, indices: list[int], done: Done) -> None:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        gated = len(indices) > 1
        for pos, i in enumerate(indices):
            asyncio.ensure_future(self._one(pos, self.samples[i], done, gated))

    async def _one(self, pos: int, data: bytes, done: Done, gated: bool) -> None:
        ok = False
        try:
            if gated:
                async with self._gate:
                    ok = await self.send(data)
            else:
                ok = await self.send(data)
        except Exception as e:  # counted, named in the trial's failures, and the query completes
            key = type(e).__name__
            self.failures[key] = self.failures.get(key, 0) + 1
        finally:
            done(pos, ok)

    async def send(self, data: bytes) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        self.runner.close()


class Handle(_AsyncClient):
    """Ray Serve through the application's DeploymentHandle."""

    name = "handle"

    def __init__(self, handle: Any, samples: Sequence[bytes], concurrency: int) -> None:
        super().__init__(samples, concurrency)
        self.handle = handle

    async def send(self, data: bytes) -> bool:
        rec = await self.handle.detect.remote(data)
        return "detections" in rec


class Http(_AsyncClient):
    """Ray Serve over HTTP: POST /detect with the image's bytes."""

    name = "http"

    def __init__(self, url: str, samples: Sequence[bytes], concurrency: int) -> None:
        super().__init__(samples, concurrency)
        self.url = url
        self._session = None

    async def send(self, data: bytes) -> bool:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
            )
        async with self._session.post(self.url, data=data) as r:
            await r.read()
            if r.status != 200:
                key = f"http_{r.status}"
                self.failures[key] = self.failures.get(key, 0) + 1
            return r.status == 200

    def close(self) -> None:
        if self._session is not None:
            self.runner.submit(self._session.close()).result(10)
        super().close()
