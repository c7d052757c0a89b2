"""Starting and stopping a served bundle: a local Ray (or an existing cluster), Ray Serve's HTTP proxy
on host:port, the application; on exit everything this process started is stopped, even on error."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from yolo_cpu.deploy import bundle as bundles
from yolo_cpu.errors import UserError
from yolo_cpu.serve.settings import ServeSettings

APP = "yolo-cpu"


class ServeError(UserError):
    """A server that cannot start: no bundle, the port taken, no Ray cluster at the address."""


def quiet_ray_env() -> None:
    """No usage reports (these machines reach no internet), no dashboard, no metrics export loop."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    os.environ.setdefault("RAY_SERVE_ENABLE_TASK_EVENTS", "0")


@contextlib.contextmanager
def ray_instance(address: str | None = None, num_cpus: int | None = None) -> Iterator[bool]:
    """Ray for the block: a local instance (num_cpus, default all cores) started and stopped here, or
    the existing cluster at `address`, left running. Yields whether it was started here."""
    quiet_ray_env()
    import ray

    if ray.is_initialized():
        yield False
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise ServeError(f"cannot {'connect to the Ray cluster at ' + address if address else 'start Ray'}: {e}") from e
    try:
        yield not address
    finally:
        ray.shutdown()


@contextlib.contextmanager
def serving(
    folder: Path,
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    num_cpus: int | None = None,
):
    """The bundle served for the block; yields the application's DeploymentHandle."""
    from ray import serve
    from ray.serve.schema import LoggingConfig

    if not bundles.is_bundle(folder):
        raise ServeError(f"{folder}: not a bundle folder (no {bundles.METADATA}); give bundles/<model>_<objective>_*")
    bundles.load(folder)  # its errors name the file before Ray starts
    port_free(host, port)
    with ray_instance(address, num_cpus):
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 1))
        try:
            serve.start(
                http_options={"host": host, "port": port},
                logging_config=LoggingConfig(log_level="WARNING", enable_access_log=False),
            )
            from yolo_cpu.serve.app import application

            handle = serve.run(
                application(folder, settings, max(0.5, cpus / settings.replicas)), name=APP, route_prefix="/"
            )
            yield handle
        finally:
            with contextlib.suppress(Exception):
                serve.delete(APP)  # replicas drain their in-flight requests (graceful shutdown)
            with contextlib.suppress(Exception):
                serve.shutdown()


def port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror} (choose another --port)") from e


def serve_until_stopped(folder: Path, settings: ServeSettings, host: str, port: int, address: str | None) -> None:
    """`yolo-cpu serve`: serve until Ctrl-C or SIGTERM, then drain in-flight requests and return."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serving(folder, settings, host, port, address):
            s = settings
            print(
                f"serving {folder} at http://{host}:{port}/detect ({s.replicas} replica(s), max batch "
                f"{s.max_batch_size}, wait {s.batch_wait_ms:g} ms, queue {s.max_queued}); Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            while not stop.wait(0.5):
                pass
            print("stopping: draining requests in flight", file=sys.stderr, flush=True)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
