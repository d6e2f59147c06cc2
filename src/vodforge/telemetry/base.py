"""The Telemetry interface: live progress and worker heartbeats, best effort by design.

Telemetry is what the dashboard and the API show while a job runs; the database's jobs
table stays the only owner of job state. A failing telemetry backend therefore must never
fail a job: writes and reads catch backend errors, log a warning and carry on.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from vodforge.domain.clock import Clock

logger = logging.getLogger(__name__)

PROGRESS_TTL_S = 3600.0  # SPEC §5: progress is kept for an hour after its last update
HEARTBEAT_TTL_S = 60.0  # a heartbeat older than this means nobody is working on the video
STAGES = frozenset({"probe", "transcode", "validate", "upload"})
PROGRESS_FIELDS = ("percent", "stage", "fps", "speed", "eta_s", "updated_at")

# One warning per backend and operation per interval: an outage must not flood the logs.
WARN_INTERVAL_S = 30.0
# A backend that fails only by timing out (a stalled server) costs its whole timeout on every
# call, and reading a list of videos would wait once per video: after a failure this slow,
# calls skip the backend for a while and act as if it had failed. A fast failure (refused)
# costs nothing, so the next call simply tries again.
SLOW_FAILURE_S = 0.5
SKIP_AFTER_SLOW_FAILURE_S = 5.0

T = TypeVar("T")


def progress_payload(progress: Mapping[str, object], now: float) -> str:
    """The JSON stored for a progress update; raises ValueError for a malformed one.

    A bad stage or a non-JSON value is a bug in the caller, not a telemetry outage, so it
    is raised rather than swallowed.
    """
    stage = progress.get("stage")
    if stage not in STAGES:
        raise ValueError(f"progress stage must be one of {sorted(STAGES)}, got {stage!r}")
    # ffmpeg reports "N/A" speeds and infinite ETAs; JSON has no NaN or Infinity.
    record = {
        name: None if isinstance(value, float) and not math.isfinite(value) else value
        for name, value in progress.items()
    }
    record.setdefault("updated_at", now)
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


def heartbeat_payload(job_id: str, worker_id: str, now: float) -> str:
    return json.dumps({"job_id": job_id, "worker_id": worker_id, "at": now}, separators=(",", ":"))


class Telemetry(ABC):
    """Best-effort progress and heartbeat store, scoped by tenant and video."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self._last_warning: dict[str, float] = {}
        self._warn_lock = threading.Lock()
        self._skip_until = 0.0  # time.monotonic(); see SLOW_FAILURE_S

    # --- the interface: never raises for a backend failure -----------------------------------

    def record_progress(
        self, tenant_id: str, video_id: str, progress: Mapping[str, object]
    ) -> None:
        """Store the latest progress {percent, stage, fps, speed, eta_s, updated_at}."""
        payload = progress_payload(progress, self.clock())
        self._guarded(
            "record_progress", None, lambda: self._write_progress(tenant_id, video_id, payload)
        )

    def read_progress(self, tenant_id: str, video_id: str) -> dict[str, Any] | None:
        """The latest progress, or None when there is none, it expired or the read failed."""

        def read() -> Any:
            payload = self._read_progress(tenant_id, video_id)
            return None if payload is None else json.loads(payload)

        value = self._guarded("read_progress", None, read)
        return value if isinstance(value, dict) else None

    def record_heartbeat(self, tenant_id: str, video_id: str, job_id: str, worker_id: str) -> None:
        """Note that `worker_id` is working on the video now (alive for HEARTBEAT_TTL_S)."""
        payload = heartbeat_payload(job_id, worker_id, self.clock())
        self._guarded(
            "record_heartbeat", None, lambda: self._write_heartbeat(tenant_id, video_id, payload)
        )

    def has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        """True if a heartbeat was recorded within HEARTBEAT_TTL_S (False if unknown)."""
        return self._guarded(
            "has_heartbeat", False, lambda: self._has_heartbeat(tenant_id, video_id)
        )

    def clear(self, tenant_id: str, video_id: str) -> None:
        """Forget the video's progress and heartbeat (job finished, video deleted)."""
        self._guarded("clear", None, lambda: self._clear(tenant_id, video_id))

    def check(self) -> None:
        """Raise if the backend is unreachable (for `doctor` and readiness checks)."""
        self._check()

    # --- what a backend implements; these may raise ------------------------------------------

    @abstractmethod
    def _write_progress(self, tenant_id: str, video_id: str, payload: str) -> None: ...

    @abstractmethod
    def _read_progress(self, tenant_id: str, video_id: str) -> str | None: ...

    @abstractmethod
    def _write_heartbeat(self, tenant_id: str, video_id: str, payload: str) -> None: ...

    @abstractmethod
    def _has_heartbeat(self, tenant_id: str, video_id: str) -> bool: ...

    @abstractmethod
    def _clear(self, tenant_id: str, video_id: str) -> None: ...

    @abstractmethod
    def _check(self) -> None: ...

    def _guarded(self, operation: str, default: T, call: Callable[[], T]) -> T:
        """`call`'s result, or `default` when the backend fails (warned, never raised) or is
        being skipped after a slow failure (see SLOW_FAILURE_S)."""
        if time.monotonic() < self._skip_until:
            return default
        started = time.monotonic()
        try:
            return call()
        except Exception as exc:
            now = time.monotonic()
            if now - started >= SLOW_FAILURE_S:
                self._skip_until = now + SKIP_AFTER_SLOW_FAILURE_S
            self._warn(operation, exc)
            return default

    def _warn(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        with self._warn_lock:
            last = self._last_warning.get(operation)
            if last is not None and now - last < WARN_INTERVAL_S:
                return
            self._last_warning[operation] = now
        logger.warning(
            "telemetry %s failed on %s: %s: %s",
            operation,
            type(self).__name__,
            type(exc).__name__,
            exc,
            extra={"event": "TELEMETRY_FAILED", "operation": operation},
        )
