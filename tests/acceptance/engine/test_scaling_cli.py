"""`vodforge scaling --json` (SPEC §4): the scaling signal's shape, from the real CLI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.support.cli import cli_env, run_cli, run_json
from tests.support.factories import queue_jobs
from vodforge.jobs.repository import JobRepository


def test_scaling_json_follows_the_backlog(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    env = cli_env(
        database_url, tmp_path / "data", VODFORGE_MAX_WORKERS="4", VODFORGE_WORKER_CONCURRENCY="2"
    )
    assert run_json(["scaling"], env) == {
        "backlog": 0,
        "running": 0,
        "busy_workers": 0,
        "desired_workers": 0,
        "reason": "nothing waiting or running: scale to zero",
    }
    queue_jobs(JobRepository(engine), "acme", 11)
    decision = run_json(["scaling"], env)
    assert {k: decision[k] for k in ("backlog", "running", "busy_workers")} == {
        "backlog": 11,
        "running": 0,
        "busy_workers": 0,
    }
    assert decision["desired_workers"] == 4  # ceil(11 / 2) = 6, capped at max 4
    assert "capped at max 4" in decision["reason"]
    text = run_cli(["scaling"], env)
    assert text.returncode == 0 and text.stdout.startswith("desired workers 4 "), text


def test_impossible_bounds_are_a_one_line_config_error(database_url: str, tmp_path: Path) -> None:
    env = cli_env(
        database_url, tmp_path / "data", VODFORGE_MIN_WORKERS="5", VODFORGE_MAX_WORKERS="2"
    )
    result = run_cli(["scaling", "--json"], env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "VODFORGE_MIN_WORKERS" in result.stderr
