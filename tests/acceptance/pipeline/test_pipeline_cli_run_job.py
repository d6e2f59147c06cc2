"""`vodforge run-job`, the container entry point, is idempotent (SPEC §2): an unknown or
finished job exits 0 without work, the job id may come from VODFORGE_JOB_ID, and a
processing failure exits 1 after it is recorded."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli, run_json
from tests.support.pipeline import stderr_lines

pytestmark = pytest.mark.slow


def events_of(stderr: str) -> list[str]:
    events, other = stderr_lines(stderr)
    assert other == [], stderr
    return [e["event"] for e in events]


def test_unknown_job_exits_0_with_job_not_found(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path / "data")
    job_id = str(uuid.uuid4())
    result = run_cli(["run-job", job_id], env)
    assert result.returncode == 0, result.stderr
    events, other = stderr_lines(result.stderr)
    assert other == []
    assert [(e["event"], e["job_id"]) for e in events] == [("JOB_NOT_FOUND", job_id)]


def test_run_job_from_env_then_again_is_idempotent(
    database_url: str, tmp_path: Path, cli_clip: Path
) -> None:
    env = cli_env(database_url, tmp_path / "data")
    video = run_json(["submit", str(cli_clip)], env)
    job_id = video["job"]["id"]

    first = run_cli(["run-job"], {**env, "VODFORGE_JOB_ID": job_id}, timeout=90)
    assert first.returncode == 0, first.stderr
    seen = events_of(first.stderr)
    assert seen[:2] == ["JOB_CLAIMED", "PROCESS_START"]
    assert seen[-1] == "JOB_COMPLETED"
    done = run_json(["status", video["id"]], env)
    assert done["status"] == "READY"
    assert done["job"]["state"] == "SUCCEEDED" and done["job"]["attempt_count"] == 1

    again = run_cli(["run-job", job_id], env)
    assert again.returncode == 0, again.stderr
    assert events_of(again.stderr) == ["IDEMPOTENT_DONE"]
    after = run_json(["status", video["id"], "--events"], env)
    assert after["job"]["attempt_count"] == 1
    assert [e["to"] for e in after["events"]] == ["QUEUED", "RUNNING", "SUCCEEDED"]


def test_hostile_source_exits_1_after_recording_the_failure(
    database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path / "data")
    upload = tmp_path / "lecture.mp4"
    upload.write_text("not a video at all\n" * 20)
    video = run_json(["submit", str(upload)], env)
    job_id = video["job"]["id"]

    result = run_cli(["run-job", job_id], env, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert events_of(result.stderr)[-1] == "JOB_FAILED"
    failed = run_json(["status", video["id"]], env)
    assert failed["status"] == "FAILED"
    assert failed["error"]["code"] == "INVALID_INPUT"
    assert failed["job"]["state"] == "FAILED" and failed["job"]["attempt_count"] == 1

    # Delivered again (an executor retry): nothing to claim, nothing re-run, exit 0.
    again = run_cli(["run-job", job_id], env, timeout=30)
    assert again.returncode == 0, again.stderr
    assert events_of(again.stderr) == ["CLAIM_LOST"]
    assert run_json(["status", video["id"]], env)["job"]["attempt_count"] == 1


def test_run_job_without_an_id_is_a_one_line_error(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    result = run_cli(["run-job"], env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: CONFIG_ERROR: run-job needs JOB_ID (argument or VODFORGE_JOB_ID)"
    ]
