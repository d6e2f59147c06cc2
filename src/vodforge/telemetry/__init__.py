"""Live progress and heartbeats for the dashboard: Redis, the database, or memory."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from vodforge.domain.clock import Clock
from vodforge.errors import ConfigError
from vodforge.telemetry.base import HEARTBEAT_TTL_S, PROGRESS_TTL_S, STAGES, Telemetry

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["HEARTBEAT_TTL_S", "PROGRESS_TTL_S", "STAGES", "Telemetry", "open_telemetry"]


def open_telemetry(
    redis_url: str | None, engine: Engine | None, *, clock: Clock = time.time
) -> Telemetry:
    """Redis telemetry when a Redis URL is configured, else the database's table (SPEC §5)."""
    if redis_url:
        from vodforge.telemetry.redis import RedisTelemetry

        return RedisTelemetry.from_url(redis_url, clock=clock)
    if engine is None:
        raise ConfigError("telemetry needs a Redis URL or a database engine")
    from vodforge.telemetry.database import DatabaseTelemetry

    return DatabaseTelemetry(engine, clock=clock)
