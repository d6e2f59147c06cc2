"""Telemetry in Redis: JSON values under per-tenant keys that expire on their own."""

from __future__ import annotations

import time
from typing import cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from vodforge.domain.clock import Clock
from vodforge.telemetry.base import HEARTBEAT_TTL_S, PROGRESS_TTL_S, Telemetry


def progress_key(tenant_id: str, video_id: str) -> str:
    return f"tenant:{tenant_id}:video:{video_id}:progress"


def heartbeat_key(tenant_id: str, video_id: str) -> str:
    return f"tenant:{tenant_id}:video:{video_id}:heartbeat"


class RedisTelemetry(Telemetry):
    """Each write is one SET ... EX, so Redis itself expires stale progress and heartbeats."""

    def __init__(self, client: redis.Redis, *, clock: Clock = time.time) -> None:
        super().__init__(clock=clock)
        self.client = client

    @classmethod
    def from_url(
        cls, url: str, *, timeout_s: float = 1.0, clock: Clock = time.time
    ) -> RedisTelemetry:
        # Short timeouts and a single immediate retry (for a connection Redis dropped): a
        # progress tick that cannot be written is skipped, the next one tries again.
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, clock=clock)

    def close(self) -> None:
        self.client.close()

    def _write_progress(self, tenant_id: str, video_id: str, payload: str) -> None:
        self.client.set(progress_key(tenant_id, video_id), payload, ex=int(PROGRESS_TTL_S))

    def _read_progress(self, tenant_id: str, video_id: str) -> str | None:
        return cast("str | None", self.client.get(progress_key(tenant_id, video_id)))

    def _write_heartbeat(self, tenant_id: str, video_id: str, payload: str) -> None:
        self.client.set(heartbeat_key(tenant_id, video_id), payload, ex=int(HEARTBEAT_TTL_S))

    def _has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        return bool(self.client.exists(heartbeat_key(tenant_id, video_id)))

    def _clear(self, tenant_id: str, video_id: str) -> None:
        self.client.delete(progress_key(tenant_id, video_id), heartbeat_key(tenant_id, video_id))

    def _check(self) -> None:
        self.client.ping()
