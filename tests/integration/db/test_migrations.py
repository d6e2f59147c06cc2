"""Migrations replayed on an empty database produce exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from vodforge.db.migrate import HEAD_REVISION, current_revision, head_revision
from vodforge.db.tables import metadata


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert current_revision(engine) == HEAD_REVISION == head_revision(engine)


def test_job_event_triggers_exist(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {"tenants", "videos", "jobs", "job_events", "video_progress"} <= names
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'jobs'::regclass AND NOT tgisinternal"
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'jobs'"
            )
        assert {row[0] for row in rows} == {"job_created_event", "job_transition_event"}
