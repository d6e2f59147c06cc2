"""Helpers for pipeline tests: the product's components in-process on a test database,
recorded telemetry, and a look at which processes are still working in a job's scratch
directory."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vodforge.bootstrap import Components, open_components, playback_secret
from vodforge.cli.runtime import build_runner
from vodforge.cli.videos import tenant_for_submit
from vodforge.jobs.records import ClaimedJob, VideoRecord
from vodforge.playback.signing import PLAY_ROUTE, PlaybackSigner
from vodforge.process import StopToken
from vodforge.settings import Settings
from vodforge.storage.base import attempt_prefix
from vodforge.telemetry.base import Telemetry
from vodforge.tenants.service import DEFAULT_TENANT
from vodforge.worker.runner import Outcome


def pipeline_settings(database_url: str, data_dir: Path, **overrides: str) -> Settings:
    """Settings as the CLI would read them, with short heartbeats for tests."""
    env = {
        "VODFORGE_DATA_DIR": str(data_dir),
        "VODFORGE_DATABASE_URL": database_url,
        "VODFORGE_INTERNAL_TOKEN": "x",
        "VODFORGE_HEARTBEAT_S": "0.5",
        "VODFORGE_LEASE_TTL_S": "3",
    }
    env.update(overrides)
    return Settings.from_env(env)


class RecordingTelemetry(Telemetry):
    """Passes every call to a real backend and keeps each progress update it saw."""

    def __init__(self, inner: Telemetry) -> None:
        super().__init__(clock=inner.clock)
        self.inner = inner
        self.progress: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def record_progress(
        self, tenant_id: str, video_id: str, progress: Mapping[str, object]
    ) -> None:
        with self._changed:
            self.progress.append(dict(progress))
            self._changed.notify_all()
        self.inner.record_progress(tenant_id, video_id, progress)

    @property
    def stages(self) -> list[str]:
        """The stages in the order they were first reported."""
        seen: list[str] = []
        with self._lock:
            for entry in self.progress:
                if entry["stage"] not in seen:
                    seen.append(str(entry["stage"]))
        return seen

    def wait_for_stage(self, stage: str, timeout: float, min_percent: float = 0.0) -> bool:
        """Block until a progress update of `stage` with at least `min_percent` arrives."""

        def reached() -> bool:
            return any(
                p["stage"] == stage and float(p.get("percent") or 0.0) >= min_percent
                for p in self.progress
            )

        with self._changed:
            return self._changed.wait_for(reached, timeout=timeout)

    def read_progress(self, tenant_id: str, video_id: str) -> dict[str, Any] | None:
        return self.inner.read_progress(tenant_id, video_id)

    def record_heartbeat(self, tenant_id: str, video_id: str, job_id: str, worker_id: str) -> None:
        self.inner.record_heartbeat(tenant_id, video_id, job_id, worker_id)

    def has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        return self.inner.has_heartbeat(tenant_id, video_id)

    def clear(self, tenant_id: str, video_id: str) -> None:
        self.inner.clear(tenant_id, video_id)

    # The public methods above delegate, so the backend hooks are never reached.
    def _write_progress(self, tenant_id: str, video_id: str, payload: str) -> None:
        raise NotImplementedError

    def _read_progress(self, tenant_id: str, video_id: str) -> str | None:
        raise NotImplementedError

    def _write_heartbeat(self, tenant_id: str, video_id: str, payload: str) -> None:
        raise NotImplementedError

    def _has_heartbeat(self, tenant_id: str, video_id: str) -> bool:
        raise NotImplementedError

    def _clear(self, tenant_id: str, video_id: str) -> None:
        raise NotImplementedError

    def _check(self) -> None:
        self.inner.check()


@contextmanager
def pipeline_components(settings: Settings) -> Iterator[tuple[Components, RecordingTelemetry]]:
    """The product's components for `settings`, with telemetry recorded on the way through."""
    components = open_components(settings)
    telemetry = RecordingTelemetry(components.telemetry)
    # The work gets its telemetry from components.work_deps; the video service keeps its own.
    components.telemetry = telemetry
    components.videos.telemetry = telemetry
    try:
        yield components, telemetry
    finally:
        components.close()


def submit_clip(components: Components, path: Path, title: str | None = None) -> VideoRecord:
    """Submit a local file for the default tenant, as `vodforge submit FILE` does."""
    tenant = tenant_for_submit(components, DEFAULT_TENANT)
    return components.videos.submit_file(path, tenant, title)


class BackgroundRun:
    """A job run by the product's runner in a thread, as a worker slot would run it."""

    def __init__(self, components: Components, job: ClaimedJob) -> None:
        self.job = job
        self.stop = StopToken()
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self._runner = build_runner(components)
        self._thread = threading.Thread(target=self._run, name=f"run-{job.id[:8]}")

    def _run(self) -> None:
        try:
            self.outcome = self._runner.run(self.job, self.stop)
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc

    def start(self) -> BackgroundRun:
        self._thread.start()
        return self

    def join(self, timeout: float) -> bool:
        """True if the run returned within timeout seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def scratch_dir_of(settings: Settings, job: ClaimedJob) -> Path:
    """Where the runner puts this attempt's files (and every ffmpeg of it writes)."""
    return settings.scratch_dir / f"{job.id}-{job.attempt}"


def pid_alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who only set a data directory (SQLite, local storage)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    env["VODFORGE_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def signed_playback_file(url: str, env: Mapping[str, str], video: Mapping[str, Any]) -> str:
    """The package file a video JSON's playback (or thumbnail) URL names, relative to the
    package, once the URL is checked to be the API's play route for this video with a live
    token signed, with the key of the deployment configured by `env`, for its published
    attempt."""
    settings = Settings.from_env(env)
    play = f"{settings.public_url}{PLAY_ROUTE}/{video['id']}/"
    assert url.startswith(play), url
    token, _, relative = url.removeprefix(play).partition("/")
    signer = PlaybackSigner(playback_secret(settings), base_url=settings.public_url, ttl_s=0)
    job = video["job"]
    signer.verify(video["id"], attempt_prefix(video["id"], job["id"], job["attempt_count"]), token)
    assert relative and ".." not in relative.split("/")
    return relative


def stderr_lines(stderr: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Split a command's stderr into its JSON log events and every other line."""
    events: list[dict[str, Any]] = []
    other: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
                continue
            except json.JSONDecodeError:
                pass
        if line.strip():
            other.append(line)
    return events, other
