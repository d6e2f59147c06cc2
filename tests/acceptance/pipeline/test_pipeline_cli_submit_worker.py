"""Submit, work, inspect, delete: the operator's CLI round trip with a real `vodforge worker`
process transcoding with real ffmpeg, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli, run_json
from tests.support.pipeline import signed_playback_file, stderr_lines

pytestmark = pytest.mark.slow


def test_submit_worker_status_list_delete(
    database_url: str, tmp_path: Path, cli_clip: Path
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(database_url, data_dir)

    submitted = run_json(["submit", str(cli_clip), "--title", "Week 1"], env)
    video_id = submitted["id"]
    assert submitted["status"] == "UPLOADED" and submitted["title"] == "Week 1"
    assert submitted["job"]["state"] == "QUEUED"
    assert submitted["progress"] == {"percent": 0.0, "stage": "queued"}

    worker = run_cli(["worker", "--max-jobs", "1"], env, timeout=90)
    assert worker.returncode == 0, worker.stderr
    events, other = stderr_lines(worker.stderr)
    assert other == [], worker.stderr
    completed = [e for e in events if e["event"] == "JOB_COMPLETED"]
    assert [(e["job_id"], e["state"]) for e in completed] == [(submitted["job"]["id"], "SUCCEEDED")]

    status = run_json(["status", video_id], env)
    assert status["status"] == "READY" and status["error"] is None
    assert status["job"] == {**submitted["job"], "state": "SUCCEEDED", "attempt_count": 1}
    assert [r["name"] for r in status["renditions"]] == ["480p", "360p"]
    played = signed_playback_file(status["playback_url"], env, status)
    assert played == "master.m3u8"
    attempt = f"attempts/{status['job']['id']}-1"
    assert (data_dir / "storage" / "videos" / video_id / attempt / played).is_file()

    history = run_json(["status", video_id, "--events"], env)
    assert [(e["from"], e["to"]) for e in history["events"]] == [
        (None, "QUEUED"),
        ("QUEUED", "RUNNING"),
        ("RUNNING", "SUCCEEDED"),
    ]
    assert history["events"][1]["worker"] == history["events"][2]["worker"]
    assert history["events"][1]["attempt"] == 1

    listed = run_json(["list"], env)
    assert [v["id"] for v in listed["items"]] == [video_id]
    assert listed["items"][0]["status"] == "READY"
    assert listed["next_cursor"] is None

    stored = data_dir / "storage" / "videos" / video_id
    assert (stored / "source.mp4").is_file()
    deleted = run_cli(["delete", video_id, "--json"], env)
    assert deleted.returncode == 0, deleted.stderr
    report = json.loads(deleted.stdout)
    assert report["ok"] is True and report["id"] == video_id
    assert report["purged"] is True and report["objects"] > 3
    assert not stored.exists()

    gone = run_cli(["status", video_id, "--json"], env)
    assert gone.returncode == 1
    assert gone.stdout == ""
    lines = gone.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: NOT_FOUND: ")
    assert run_json(["list"], env) == {"items": [], "next_cursor": None}
