"""Chunked encoding through real `vodforge worker` processes and real ffmpeg (SPEC §3 item 7,
thresholds lowered so a 24 s clip becomes 6 chunks of 4 s plus the audio and a stitch):
two workers share one video, a SIGKILLed chunk is recovered and the video still ends READY
once, a chunk that fails for good fails the video, and a cancel leaves no ffmpeg running."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli_env, cli_process, run_json, wait_for
from tests.support.clips import make_clip

pytestmark = pytest.mark.slow

CHUNK_ENV = {
    "VODFORGE_CHUNK_SECONDS": "4",
    "VODFORGE_CHUNK_MIN_DURATION_S": "8",
    "VODFORGE_HEARTBEAT_S": "0.5",
    "VODFORGE_LEASE_TTL_S": "3",
    "VODFORGE_SCAN_INTERVAL_S": "0.5",
    "VODFORGE_BACKOFF_BASE_S": "0.2",
    "VODFORGE_BACKOFF_CAP_S": "0.5",
    # One thread per encoder: two workers share the two cores, and chunks run long enough
    # to be caught running.
    "VODFORGE_FFMPEG_THREADS": "1",
}
CHUNKS = 6


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 s of 640x360 at 30 fps with audio: a 360p rendition, six 4 s chunks."""
    return make_clip(
        tmp_path_factory.mktemp("chunked") / "lecture.mp4",
        width=640,
        height=360,
        fps=30,
        duration_s=24,
    )


def _status(env: dict[str, str], video_id: str) -> dict[str, Any]:
    return run_json(["status", video_id, "--events"], env)  # type: ignore[no-any-return]


def _jobs(status: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [job for job in status["jobs"] if job["kind"] == kind]


def _ffmpeg_pids(marker: str) -> list[int]:
    """ffmpeg processes whose command line names this test's data directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        is_ffmpeg = bool(argv) and "ffmpeg" in Path(argv[0].decode(errors="replace")).name
        if is_ffmpeg and any(marker.encode() in arg for arg in argv):
            found.append(int(entry.name))
    return found


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_two_workers_share_one_chunked_video(
    database_url: str, tmp_path: Path, long_clip: Path, workers: ExitStack
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(database_url, data_dir, **CHUNK_ENV)
    video = run_json(["submit", str(long_clip)], env)
    for name in ("a", "b"):
        workers.enter_context(cli_process(["worker"], env, tmp_path / f"worker-{name}.log"))
    ready = wait_for(
        lambda: (s := _status(env, video["id"]))["status"] in ("READY", "FAILED") and s,
        timeout=240,
        interval=0.5,
    )
    assert ready["status"] == "READY", ready
    chunks = _jobs(ready, "chunk")
    assert len(chunks) == CHUNKS and all(j["state"] == "SUCCEEDED" for j in chunks)
    assert [j["state"] for j in _jobs(ready, "audio")] == ["SUCCEEDED"]
    assert [j["state"] for j in _jobs(ready, "stitch")] == ["SUCCEEDED"]
    parent = _jobs(ready, "transcode")
    assert [j["state"] for j in parent] == ["SUCCEEDED"]
    assert all(j["parent_id"] == parent[0]["id"] for j in chunks)
    # Both worker processes ran chunks of this one video.
    claimed_by = {
        e["worker"].split("/")[0]
        for e in ready["events"]
        if e.get("kind") == "chunk" and e["to"] == "RUNNING"
    }
    assert len(claimed_by) == 2, claimed_by
    assert ready["duration_s"] == pytest.approx(24, abs=0.1)
    assert [r["name"] for r in ready["renditions"]] == ["360p"]
    # Publishing removed every part's files: only the stitch's attempt is stored.
    attempts = data_dir / "storage" / "videos" / video["id"] / "attempts"
    stitch = _jobs(ready, "stitch")[0]
    assert sorted(p.name for p in attempts.iterdir()) == [f"{stitch['id']}-1"]


def test_a_sigkilled_chunk_is_recovered_and_the_video_ends_ready_once(
    database_url: str, tmp_path: Path, long_clip: Path, workers: ExitStack
) -> None:
    marker = tmp_path / "holding-chunk-2"
    env = cli_env(
        database_url,
        tmp_path / "data",
        **CHUNK_ENV,
        VODFORGE_WORK="tests.support.chunk_faults:marking_chunk_work",
        VODFORGE_TEST_FAULT_CHUNK="2",
        VODFORGE_TEST_MARKER=str(marker),
    )
    video = run_json(["submit", str(long_clip)], env)
    workers.enter_context(cli_process(["scheduler"], env, tmp_path / "scheduler.log"))
    victim = workers.enter_context(cli_process(["worker"], env, tmp_path / "victim.log"))
    # The victim writes the marker as it starts chunk 2: killed while it holds that lease.
    wait_for(marker.exists, timeout=120, interval=0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    workers.enter_context(cli_process(["worker"], env, tmp_path / "rescuer.log"))
    ready = wait_for(
        lambda: (s := _status(env, video["id"]))["status"] in ("READY", "FAILED") and s,
        timeout=240,
        interval=0.5,
    )
    assert ready["status"] == "READY", ready
    chunks = _jobs(ready, "chunk")
    killed = next(j for j in chunks if j["attempt_count"] == 2)
    assert killed["state"] == "SUCCEEDED"
    lapsed = [
        e
        for e in ready["events"]
        if e["from"] == "RUNNING" and e["to"] == "RETRY_WAIT" and e["reason"] == "lease expired"
    ]
    # Only the chunk the victim held lapsed, once; it alone was run again.
    assert [e["job_id"] for e in lapsed] == [killed["id"]]
    first_claim = next(
        e for e in ready["events"] if e["job_id"] == killed["id"] and e["to"] == "RUNNING"
    )
    assert f":{victim.pid}:" in first_claim["worker"]
    assert all(j["attempt_count"] == 1 for j in chunks if j["id"] != killed["id"]), chunks
    # Exactly one stitch, one publication: the video became READY once.
    assert [j["state"] for j in _jobs(ready, "stitch")] == ["SUCCEEDED"]
    to_ready = [
        e for e in ready["events"] if e.get("kind") == "transcode" and e["to"] == "SUCCEEDED"
    ]
    assert len(to_ready) == 1


def test_a_chunk_that_fails_for_good_fails_the_video(
    database_url: str, tmp_path: Path, long_clip: Path, workers: ExitStack
) -> None:
    env = cli_env(
        database_url,
        tmp_path / "data",
        **CHUNK_ENV,
        VODFORGE_WORK="tests.support.chunk_faults:rejecting_chunk_work",
        VODFORGE_TEST_FAULT_CHUNK="1",
    )
    video = run_json(["submit", str(long_clip)], env)
    workers.enter_context(cli_process(["worker"], env, tmp_path / "worker.log"))
    failed = wait_for(
        lambda: (s := _status(env, video["id"]))["status"] in ("READY", "FAILED") and s,
        timeout=240,
        interval=0.5,
    )
    assert failed["status"] == "FAILED", failed
    assert failed["error"]["code"] == "INVALID_INPUT"
    assert failed["error"]["message"].startswith("chunk 1 (4-8 s): "), failed["error"]
    bad = next(j for j in _jobs(failed, "chunk") if j["state"] == "FAILED")
    assert bad["attempt_count"] == 1  # a permanent failure is never retried
    assert [j["state"] for j in _jobs(failed, "transcode")] == ["FAILED"]
    assert _jobs(failed, "stitch") == []
    assert all(j["state"] in ("SUCCEEDED", "CANCELLED", "FAILED") for j in failed["jobs"])


def test_cancel_of_a_chunked_video_leaves_no_ffmpeg_running(
    database_url: str, tmp_path: Path, long_clip: Path, workers: ExitStack
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(database_url, data_dir, **CHUNK_ENV)
    video = run_json(["submit", str(long_clip)], env)
    procs = [
        workers.enter_context(cli_process(["worker"], env, tmp_path / f"worker-{n}.log"))
        for n in range(2)
    ]
    wait_for(lambda: _ffmpeg_pids(str(data_dir)), timeout=120, interval=0.05)
    cancelled = run_json(["cancel", video["id"]], env)
    assert cancelled["id"] == video["id"]
    done = wait_for(
        lambda: (
            (s := _status(env, video["id"]))["status"] in ("CANCELLED", "READY", "FAILED") and s
        ),
        timeout=60,
        interval=0.2,
    )
    assert done["status"] == "CANCELLED", done
    assert _ffmpeg_pids(str(data_dir)) == []
    assert all(j["state"] in ("SUCCEEDED", "CANCELLED") for j in done["jobs"]), done["jobs"]
    assert any(j["state"] == "CANCELLED" for j in _jobs(done, "chunk"))
    # The workers themselves carry on.
    time.sleep(0.5)
    assert all(proc.poll() is None for proc in procs)
