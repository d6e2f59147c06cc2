"""Telemetry in the `video_progress` table, for deployments without Redis (embedded mode)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from vodforge.db.tables import video_progress
from vodforge.domain.clock import Clock
from vodforge.errors import ConfigError
from vodforge.telemetry.base import HEARTBEAT_TTL_S, PROGRESS_TTL_S, Telemetry

_NO_PROGRESS = "null"  # payload of a row that so far holds only a heartbeat

# Reads do not need the write lock the vodforge SQLite engine takes by default.
_READ_ONLY = {"vodforge_read_only": True}


class DatabaseTelemetry(Telemetry):
    """One row per video, upserted; expiry is applied when reading, by the same TTLs as Redis.

    Each write is a single INSERT ... ON CONFLICT DO UPDATE in its own short transaction,
    and never touches the jobs table.
    """

    def __init__(self, engine: Engine, *, clock: Clock = time.time) -> None:
        super().__init__(clock=clock)
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert: Any = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:
            raise ConfigError(f"database telemetry supports PostgreSQL and SQLite, not {dialect}")
        self.engine = engine

    def _write_progress(self, tenant_id: str, video_id: str, payload: str) -> None:
        now = self.clock()
        insert = self._insert(video_progress).values(
            video_id=video_id, tenant_id=tenant_id, payload=payload, updated_at=now
        )
        self._upsert(
            insert,
            {"payload": insert.excluded.payload, "updated_at": insert.excluded.updated_at},
        )

    def _read_progress(self, tenant_id: str, video_id: str) -> str | None:
        query = select(video_progress.c.payload).where(
            self._row(tenant_id, video_id),
            video_progress.c.updated_at > self.clock() - PROGRESS_TTL_S,
        )
        with self.engine.connect() as conn:
            payload = conn.execution_options(**_READ_ONLY).execute(query).scalar_one_or_none()
        return None if payload is None or payload == _NO_PROGRESS else str(payload)

    def _write_heartbeat(self, tenant_id: str, video_id: str, payload: str) -> None:
        # The table keeps only the time; job and worker ids live in the jobs table's lease.
        now = self.clock()
        insert = self._insert(video_progress).values(
            video_id=video_id,
            tenant_id=tenant_id,
            payload=_NO_PROGRESS,
            updated_at=now,
            heartbeat_at=now,
        )
        self._upsert(insert, {"heartbeat_at": insert.excluded.heartbeat_at})

    def _has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        query = select(video_progress.c.video_id).where(
            self._row(tenant_id, video_id),
            video_progress.c.heartbeat_at > self.clock() - HEARTBEAT_TTL_S,
        )
        with self.engine.connect() as conn:
            found = conn.execution_options(**_READ_ONLY).execute(query).first()
        return found is not None

    def _clear(self, tenant_id: str, video_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(video_progress).where(self._row(tenant_id, video_id)))

    def _check(self) -> None:
        with self.engine.connect() as conn:
            conn.execution_options(**_READ_ONLY).execute(select(video_progress.c.video_id).limit(1))

    def delete_expired(self) -> int:
        """Delete rows whose progress and heartbeat have both expired; return how many.

        Raises on database errors: this is maintenance (the scanner), not a job's write.
        """
        now = self.clock()
        heartbeat = video_progress.c.heartbeat_at
        statement = delete(video_progress).where(
            video_progress.c.updated_at <= now - PROGRESS_TTL_S,
            or_(heartbeat.is_(None), heartbeat <= now - HEARTBEAT_TTL_S),
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount

    def _upsert(self, insert: Any, changes: dict[str, Any]) -> None:
        # Video ids are UUIDs, but a row is only ever updated by the tenant that owns it.
        statement = insert.on_conflict_do_update(
            index_elements=[video_progress.c.video_id],
            set_=changes,
            where=video_progress.c.tenant_id == insert.excluded.tenant_id,
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    @staticmethod
    def _row(tenant_id: str, video_id: str) -> Any:
        return and_(video_progress.c.video_id == video_id, video_progress.c.tenant_id == tenant_id)
