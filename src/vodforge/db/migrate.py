"""Runs the Alembic migrations that ship inside the package (`vodforge db upgrade`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions; a test keeps the two in step. Checking it with
# one query lets every CLI start skip importing Alembic when the schema is current.
HEAD_REVISION = "0005"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, None when it has none. A database that cannot be reached
    raises (OperationalError): "no schema" would send the operator to `db upgrade` for what
    is an outage (found by the fault tier: a scheduler starting during a restart exited)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade_if_needed(engine: Engine) -> None:
    if current_revision(engine) != HEAD_REVISION:
        upgrade(engine)
