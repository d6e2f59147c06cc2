"""Database telemetry: upserts on SQLite and PostgreSQL, expiry, outages, open_telemetry."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from sqlalchemy import Engine, create_engine, create_mock_engine, select

from tests.conftest import FakeClock
from vodforge.db.engine import make_engine
from vodforge.db.tables import video_progress
from vodforge.errors import ConfigError
from vodforge.telemetry import open_telemetry
from vodforge.telemetry.database import DatabaseTelemetry

PROGRESS = {"percent": 50.0, "stage": "validate", "fps": 0.0, "speed": 0.0, "eta_s": 3.0}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest) -> Engine:
    """The database holds only video_progress: any write to another table would fail."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


def test_one_row_per_video_upserted(
    db_engine: Engine, ids: tuple[str, str], clock: FakeClock
) -> None:
    tenant, video = ids
    telemetry = DatabaseTelemetry(db_engine, clock=clock)
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    heartbeat_at = clock.now
    clock.advance(5)
    telemetry.record_progress(tenant, video, PROGRESS)
    clock.advance(5)
    telemetry.record_progress(tenant, video, {**PROGRESS, "percent": 75.0})

    with db_engine.connect() as conn:
        rows = conn.execute(select(video_progress).where(video_progress.c.video_id == video)).all()
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["tenant_id"] == tenant
    assert json.loads(row["payload"]) == {**PROGRESS, "percent": 75.0, "updated_at": clock.now}
    assert row["updated_at"] == clock.now
    assert row["heartbeat_at"] == heartbeat_at


def test_another_tenant_cannot_overwrite_a_row(
    db_engine: Engine, ids: tuple[str, str], clock: FakeClock
) -> None:
    tenant, video = ids
    telemetry = DatabaseTelemetry(db_engine, clock=clock)
    telemetry.record_progress(tenant, video, PROGRESS)
    telemetry.record_progress("intruder", video, {"percent": 0.0, "stage": "probe"})
    assert telemetry.read_progress(tenant, video) == {**PROGRESS, "updated_at": clock.now}
    assert telemetry.read_progress("intruder", video) is None


def test_delete_expired_removes_only_dead_rows(db_engine: Engine, clock: FakeClock) -> None:
    telemetry = DatabaseTelemetry(db_engine, clock=clock)
    telemetry.record_progress("t", "stale-video", PROGRESS)
    clock.advance(3601)
    telemetry.record_progress("t", "fresh-video", PROGRESS)
    telemetry.record_heartbeat("t", "beating-video", "j", "w")
    assert telemetry.delete_expired() == 1
    assert telemetry.read_progress("t", "fresh-video") is not None
    assert telemetry.has_heartbeat("t", "beating-video")
    with db_engine.connect() as conn:
        videos = conn.execute(select(video_progress.c.video_id)).scalars().all()
    assert "stale-video" not in videos


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_never_raises_into_the_job(
    ids: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    tenant, video = ids
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/none", null_pool=True)
    telemetry = DatabaseTelemetry(engine)
    with caplog.at_level(logging.WARNING, logger="vodforge.telemetry"):
        telemetry.record_progress(tenant, video, PROGRESS)
        telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
        assert telemetry.read_progress(tenant, video) is None
        assert not telemetry.has_heartbeat(tenant, video)
    assert any(getattr(r, "event", None) == "TELEMETRY_FAILED" for r in caplog.records)
    with pytest.raises(Exception, match="connect"):
        telemetry.check()
    engine.dispose()


def test_a_missing_table_never_raises_into_the_job(ids: tuple[str, str]) -> None:
    tenant, video = ids
    engine = create_engine("sqlite://")  # no video_progress table
    telemetry = DatabaseTelemetry(engine)
    telemetry.record_progress(tenant, video, PROGRESS)
    assert telemetry.read_progress(tenant, video) is None
    engine.dispose()


def test_open_telemetry_without_redis_uses_the_database(sqlite_engine: Engine) -> None:
    assert isinstance(open_telemetry(None, sqlite_engine), DatabaseTelemetry)
    assert isinstance(open_telemetry("", sqlite_engine), DatabaseTelemetry)
    with pytest.raises(ConfigError):
        open_telemetry(None, None)


def test_unsupported_dialect_is_a_config_error() -> None:
    engine = create_mock_engine("mysql://u@127.0.0.1/x", lambda *args, **kwargs: None)
    with pytest.raises(ConfigError):
        DatabaseTelemetry(engine)  # type: ignore[arg-type]
