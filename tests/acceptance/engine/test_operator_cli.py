"""Operator commands through the real CLI, printing the SPEC JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import cli_env, log_events, run_cli, run_json
from vodforge.db.migrate import HEAD_REVISION


def test_operator_commands(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path / "data")
    if database_url.startswith("postgresql"):
        upgrade = run_cli(["db", "upgrade"], env)
        assert upgrade.returncode == 0 and f"revision {HEAD_REVISION}" in upgrade.stdout

    created = run_json(["tenants", "create", "acme"], env)
    assert set(created) == {"tenant", "api_key"} and created["tenant"] == "acme"
    again = run_cli(["tenants", "create", "acme"], env)
    assert again.returncode == 1 and again.stderr.startswith("error: CONFLICT:")

    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"x")
    video = run_json(["submit", str(source), "--tenant", "acme"], env)
    assert video["status"] == "UPLOADED" and video["tenant"] == "acme"
    assert video["job"]["state"] == "QUEUED" and video["job"]["max_attempts"] == 5
    first_job = video["job"]["id"]

    assert run_json(["backlog"], env) == {"queued": 1, "retry_wait": 0, "backlog": 1, "running": 0}
    cancelled = run_json(["cancel", video["id"]], env)
    assert cancelled["status"] == "CANCELLED" and cancelled["job"]["state"] == "CANCELLED"
    assert run_cli(["cancel", video["id"]], env).returncode == 1

    retried = run_json(["retry", video["id"]], env)
    assert retried["status"] == "UPLOADED" and retried["job"]["id"] != first_job

    dead = run_json(["dead-letter", retried["job"]["id"]], env)
    assert dead == {"ok": True, "marked": "DEAD", "state": "DEAD"}
    again = run_json(["dead-letter", retried["job"]["id"]], env)
    assert again["skipped"] == "already_terminal"
    status = run_json(["status", video["id"], "--events"], env)
    assert status["status"] == "FAILED" and status["error"]["code"] == "DEAD_LETTERED"
    transitions = [(e["from"], e["to"]) for e in status["events"]]
    assert transitions == [
        (None, "QUEUED"),
        ("QUEUED", "CANCELLED"),
        (None, "QUEUED"),
        ("QUEUED", "DEAD"),
    ]

    assert run_json(["scan-stuck", "--dry-run"], env) == {
        "dry_run": True,
        "expired_leases": 0,
        "recovered": [],
    }
    assert run_json(["reconcile", "--dry-run"], env) == {"dry_run": True, "fixes": []}
    listed = run_json(["list", "--tenant", "acme"], env)
    assert [v["id"] for v in listed["items"]] == [video["id"]]
    assert listed["next_cursor"] is None

    missing = run_cli(["status", "00000000-0000-0000-0000-000000000000"], env)
    assert missing.returncode == 1 and missing.stderr.startswith("error: NOT_FOUND:")
    assert "Traceback" not in missing.stderr


def test_dead_letter_of_running_job_alerts_only(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path / "data")
    source = tmp_path / "v.mp4"
    source.write_bytes(b"x")
    job_id = run_json(["submit", str(source)], env)["job"]["id"]
    from sqlalchemy import update

    from vodforge.db.engine import make_engine
    from vodforge.db.tables import jobs

    engine = make_engine(database_url)
    with engine.begin() as conn:  # a Batch container holds the job
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(state="RUNNING", lease_token="t", leased_until=9e12, attempt_count=1)
        )
    engine.dispose()
    result = run_cli(["dead-letter", job_id, "--json"], env)
    assert json.loads(result.stdout) == {
        "ok": True,
        "skipped": "running_alert_only",
        "state": "RUNNING",
    }
    (tmp_path / "stderr.log").write_text(result.stderr)
    alerts = [
        e for e in log_events(tmp_path / "stderr.log") if e.get("event") == "DLQ_RUNNING_ALERT"
    ]
    assert [a["job_id"] for a in alerts] == [job_id]
