"""Every command that prints a result, through the real CLI: with --json stdout is one JSON
document a script can parse; without it, a short human summary that is not JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.support.cli import cli_env, run_cli, run_json
from vodforge.db.engine import make_engine
from vodforge.db.migrate import HEAD_REVISION
from vodforge.db.tables import jobs

VIDEO_FIELDS = {
    "id", "tenant", "title", "status", "progress", "duration_s", "width", "height",
    "renditions", "playback_url", "thumbnail_url", "error", "job", "created_at", "updated_at",
}  # fmt: skip


def not_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    return False


def strand_job(database_url: str, job_id: str) -> None:
    """What a worker that died mid-job leaves: RUNNING, its lease long expired."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(state="RUNNING", lease_token="t", leased_by="gone", leased_until=1.0)
            .values(attempt_count=1)
        )
    engine.dispose()


def test_json_on_every_command(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path / "data")
    assert run_json(["db", "upgrade"], env) == {"revision": HEAD_REVISION}

    created = run_json(["tenants", "create", "acme"], env)
    rotated = run_json(["tenants", "rotate-key", "acme"], env)
    assert set(created) == set(rotated) == {"tenant", "api_key"}
    assert rotated["tenant"] == "acme" and rotated["api_key"] != created["api_key"]

    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"x")
    video = run_json(["submit", str(source), "--tenant", "acme", "--title", "Week 1"], env)
    assert set(video) >= VIDEO_FIELDS and video["title"] == "Week 1"
    video_id, job_id = video["id"], video["job"]["id"]
    assert run_json(["status", video_id], env)["id"] == video_id
    history = run_json(["status", video_id, "--events"], env)
    assert [(e["from"], e["to"]) for e in history["events"]] == [(None, "QUEUED")]

    other = run_json(["submit", str(source), "--tenant", "acme"], env)
    first = run_json(["list", "--limit", "1"], env)
    assert [v["id"] for v in first["items"]] == [other["id"]] and first["next_cursor"]
    rest = run_json(["list", "--limit", "1", "--cursor", first["next_cursor"]], env)
    assert [v["id"] for v in rest["items"]] == [video_id] and rest["next_cursor"] is None

    waited = run_cli(["wait", video_id, "--timeout", "0.3", "--json"], env)
    assert waited.returncode == 1  # still waiting for a worker when the timeout passed
    assert json.loads(waited.stdout)["status"] == "UPLOADED"
    assert run_json(["backlog"], env) == {"queued": 2, "retry_wait": 0, "backlog": 2, "running": 0}

    assert run_json(["cancel", video_id], env)["status"] == "CANCELLED"
    waited = run_cli(["wait", video_id, "--json"], env)
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "CANCELLED"
    retried = run_json(["retry", video_id], env)
    assert retried["status"] == "UPLOADED" and retried["job"]["id"] != job_id

    strand_job(database_url, other["job"]["id"])
    dry = run_json(["scan-stuck", "--dry-run"], env)
    assert dry == {"dry_run": True, "expired_leases": 1, "recovered": []}
    scanned = run_json(["scan-stuck"], env)
    assert scanned == {
        "dry_run": False,
        "expired_leases": 1,
        "recovered": [
            {
                "job_id": other["job"]["id"],
                "video_id": other["id"],
                "state": "RETRY_WAIT",
                "attempt": 1,
            }
        ],
    }
    assert run_json(["reconcile", "--dry-run"], env) == {"dry_run": True, "fixes": []}
    assert run_json(["reconcile"], env) == {"dry_run": False, "fixes": []}
    dead = run_json(["dead-letter", retried["job"]["id"]], env)
    assert dead == {"ok": True, "marked": "DEAD", "state": "DEAD"}
    deleted = run_json(["delete", video_id], env)
    assert deleted["id"] == video_id and deleted["ok"] is True


def human(args: list[str], env: dict[str, str], code: int = 0) -> str:
    result = run_cli(args, env)
    assert result.returncode == code, result.stderr
    assert result.stdout.strip() and not_json(result.stdout), result.stdout
    assert "Traceback" not in result.stderr
    return result.stdout


def test_without_json_people_get_a_summary(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    out = human(["tenants", "create", "acme"], env)
    assert out.startswith("tenant acme created\n") and "api key (shown once): vf_" in out
    out = human(["tenants", "rotate-key", "acme"], env)
    assert out.startswith("tenant acme: new api key") and "vf_" in out
    assert human(["db", "upgrade"], env) == f"database at revision {HEAD_REVISION}\n"

    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"x")
    line = human(["submit", str(source), "--tenant", "acme", "--title", "Week [1]"], env)
    video_id = line.split()[0]
    assert line == f"{video_id} UPLOADED 0% Week [1]\n"
    # Off a terminal `list` is one line per video (no table), so grep sees whole rows.
    assert human(["list"], env) == line
    assert human(["status", video_id], env) == line
    assert human(["wait", video_id, "--timeout", "0.2"], env, code=1) == line
    events = human(["status", video_id, "--events"], env).splitlines()
    assert events[0] == line.strip()
    assert any(e.startswith("  20") and e.endswith("- -> QUEUED (uploaded)") for e in events)

    assert human(["backlog"], env) == "backlog 1 (queued 1, retry_wait 0), running 0\n"
    assert human(["scan-stuck", "--dry-run"], env) == (
        "0 RUNNING job(s) with an expired lease (dry run: nothing changed)\n"
    )
    assert human(["scan-stuck"], env) == "recovered 0 RUNNING job(s) with an expired lease\n"
    assert human(["reconcile", "--dry-run"], env) == "nothing to repair\n"
    assert human(["reconcile"], env) == "nothing to repair\n"
    cancelled = human(["cancel", video_id], env)
    assert cancelled == f"{video_id} CANCELLED 0% Week [1]\n"
    job_id = run_json(["status", video_id], env)["job"]["id"]
    assert human(["dead-letter", job_id], env) == (
        f"job {job_id} left CANCELLED (already_terminal)\n"
    )
    assert human(["delete", video_id], env).startswith(f"deleted {video_id} (")
    assert human(["list"], env) == "no videos\n"


@pytest.mark.slow
def test_sample_json(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    out = tmp_path / "clip.mp4"
    data: dict[str, Any] = run_json(["sample", str(out), "--seconds", "1"], env)
    assert data == {"file": str(out), "seconds": 1.0, "width": 1280, "height": 720}
    assert out.stat().st_size > 1000
