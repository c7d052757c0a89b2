"""Serving settings: replicas, request batching and the queue bound, from a bundle's `serve:` section
(written by bench-serve with what it measured), overridden by flags; each range-checked."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, replace
from typing import Any

from yolo_cpu.deploy.bundle import Bundle
from yolo_cpu.errors import UserError

MAX_BATCH = 64


class ServeSettingError(UserError):
    """A serving setting out of its range (in a flag or in the bundle's serve: section)."""


@dataclass(frozen=True)
class ServeSettings:
    replicas: int = 1
    max_batch_size: int = 1  # 1 = no request batching
    batch_wait_ms: float = 5.0  # how long a batch waits to fill before it runs
    max_queued: int = 32  # requests waiting per caller (proxy, handle) beyond which a request gets 503
    # OpenVINO streams per replica: 1 = one request at a time on all its cores (lowest latency),
    # 0 = OpenVINO's throughput choice (several at once)
    streams: int = 1

    def check(self, where: str) -> ServeSettings:
        for name, low, high in (
            ("replicas", 1, 256),
            ("max_batch_size", 1, MAX_BATCH),
            ("max_queued", 1, 100000),
            ("streams", 0, 64),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not low <= v <= high:
                raise ServeSettingError(f"{where}: {name} = {v!r}: must be a whole number in [{low}, {high}]")
        w = self.batch_wait_ms
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0 <= w <= 1000:
            raise ServeSettingError(f"{where}: batch_wait_ms = {w!r}: must be a number of ms in [0, 1000]")
        return self

    @property
    def max_ongoing(self) -> int:
        """Requests a replica holds at once: enough for two batches being formed and two running."""
        return max(4, 4 * self.max_batch_size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = tuple(ServeSettings.__dataclass_fields__)


def from_bundle(b: Bundle, overrides: dict[str, Any] | None = None) -> ServeSettings:
    """The bundle's measured serve: settings (defaults without them), then the overrides that are set."""
    section = b.metadata.get("serve") or {}
    if not isinstance(section, dict):
        raise ServeSettingError(f"{b.folder}/metadata.yaml: serve: is not a mapping")
    s = ServeSettings(**{k: section[k] for k in FIELDS if k in section}).check(f"{b.folder}/metadata.yaml serve:")
    given = {k: v for k, v in (overrides or {}).items() if k in FIELDS and v is not None}
    return replace(s, **given).check("flags") if given else s
