"""A process that starts while its PostgreSQL is down (found by the fault tier: a scheduler
that started during a database restart read the refused connection as "no vodforge schema"
and exited with CONFIG_ERROR, sending the operator to `db upgrade` for an outage).

Services (api, up, scheduler, worker, run-job) wait for the database as they start; one-shot
commands say at once that it cannot be reached; a database without the schema is still told
apart from one that is down."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from tests.faults.harness.services import pg_cluster
from tests.support.cli import cli_env, cli_process, run_cli
from tests.support.procs import pid_alive
from vodforge.db.engine import make_engine
from vodforge.db.migrate import upgrade


def test_a_service_started_while_the_database_is_down_waits_for_it(tmp_path: Path) -> None:
    with pg_cluster(tmp_path / "pg") as pg:
        engine = make_engine(pg.url, null_pool=True)
        upgrade(engine)
        engine.dispose()
        env = cli_env(pg.url, tmp_path / "data")
        pg.stop()
        log = tmp_path / "scheduler.log"
        with cli_process(["scheduler"], env, log) as scheduler:
            time.sleep(4)
            assert pid_alive(scheduler.pid), log.read_text()
            assert "waiting for the database" in log.read_text()
            pg.start()
            # Started for real once the database is back: it holds the scheduler leadership
            # (a PostgreSQL advisory lock) and is still alive.
            deadline = time.monotonic() + 30
            while not leader_lock_held(pg.url) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert leader_lock_held(pg.url), log.read_text()
            assert pid_alive(scheduler.pid), log.read_text()
        assert "CONFIG_ERROR" not in log.read_text()


def leader_lock_held(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        ).fetchone()
    return bool(row and row[0])


def test_a_one_shot_command_says_the_database_cannot_be_reached(tmp_path: Path) -> None:
    with pg_cluster(tmp_path / "pg") as pg:
        env = cli_env(pg.url, tmp_path / "data")
        pg.stop()
        started = time.monotonic()
        result = run_cli(["list"], env)
        assert result.returncode == 1
        assert "UNAVAILABLE: the database cannot be reached" in result.stderr, result.stderr
        assert "no vodforge schema" not in result.stderr
        assert time.monotonic() - started < 20  # no waiting: it is not a service


def test_a_database_without_the_schema_is_still_told_apart(tmp_path: Path) -> None:
    with pg_cluster(tmp_path / "pg") as pg:
        result = run_cli(["list"], cli_env(pg.url, tmp_path / "data"))
        assert result.returncode == 1
        assert "CONFIG_ERROR: the database has no vodforge schema" in result.stderr
