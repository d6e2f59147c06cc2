"""Telemetry in a dict with the same expiry rules as the real backends, for tests."""

from __future__ import annotations

import threading
import time

from vodforge.domain.clock import Clock
from vodforge.telemetry.base import HEARTBEAT_TTL_S, PROGRESS_TTL_S, Telemetry


class MemoryTelemetry(Telemetry):
    """Progress and heartbeats in memory; entries expire by the (injectable) clock."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        super().__init__(clock=clock)
        self._progress: dict[tuple[str, str], tuple[str, float]] = {}
        self._heartbeats: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _write_progress(self, tenant_id: str, video_id: str, payload: str) -> None:
        with self._lock:
            self._progress[(tenant_id, video_id)] = (payload, self.clock() + PROGRESS_TTL_S)

    def _read_progress(self, tenant_id: str, video_id: str) -> str | None:
        return self._live(self._progress, (tenant_id, video_id))

    def _write_heartbeat(self, tenant_id: str, video_id: str, payload: str) -> None:
        with self._lock:
            self._heartbeats[(tenant_id, video_id)] = (payload, self.clock() + HEARTBEAT_TTL_S)

    def _has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        return self._live(self._heartbeats, (tenant_id, video_id)) is not None

    def _clear(self, tenant_id: str, video_id: str) -> None:
        with self._lock:
            self._progress.pop((tenant_id, video_id), None)
            self._heartbeats.pop((tenant_id, video_id), None)

    def _check(self) -> None:
        return None

    def _live(
        self, entries: dict[tuple[str, str], tuple[str, float]], key: tuple[str, str]
    ) -> str | None:
        with self._lock:
            found = entries.get(key)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]
