"""Storage faults (issue 10): a fault-injecting proxy between real `vodforge worker` processes
(and a `vodforge scheduler`) and the S3 server answers 5xx, holds requests past the read
timeout, resets connections or refuses everything for a while, during upload, the stitch's
server-side copies, the clean-up after publish and deletes.

Each case ends with every video READY, or FAILED with STORAGE_ERROR, never stuck; every READY
package checked byte for byte against its playlists straight from the S3 server; each job
published once; each video's objects its source and one package; and deleting the videos
leaves the bucket empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness.packages import verify_package, video_keys_problems
from tests.faults.harness.s3faults import StorageFaultProxy, storage_fault_proxy
from tests.support.cli import cli_env, cli_process, run_cli
from tests.support.clips import make_clip
from tests.support.s3server import (
    AWS_TEST_ENV,
    aws_test_env,
    new_bucket_name,
    s3_client,
)
from vodforge.bootstrap import Components, open_components
from vodforge.cli.videos import tenant_for_submit
from vodforge.domain.states import JobState, VideoStatus
from vodforge.errors import NotFound
from vodforge.settings import Settings
from vodforge.tenants.service import DEFAULT_TENANT

ROOT = "faults"
WORKERS = 2
SETTLE_S = 150.0
ATTEMPT_KEYS = r"/attempts/"  # what workers write; the sources are put before any fault


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny clips (one rendition each) and a 12 s one that is encoded in 3 chunks."""
    root = tmp_path_factory.mktemp("storage-fault-clips")
    return {
        "short": make_clip(root / "short.mp4", width=160, height=90, fps=24, duration_s=1.5),
        "longer": make_clip(root / "longer.mp4", width=160, height=90, fps=24, duration_s=3.0),
        "chunked": make_clip(root / "chunked.mp4", width=160, height=90, fps=24, duration_s=12),
    }


@dataclass
class Run:
    """One deployment against one bucket: workers and the scheduler reach S3 only through the
    proxy; the test's own components and checks reach the S3 server directly."""

    env: dict[str, str]
    components: Components
    proxy: StorageFaultProxy
    client: Any
    bucket: str
    logs: Path
    videos: list[str] = field(default_factory=list)

    def submit(self, clip: Path, title: str) -> str:
        tenant = tenant_for_submit(self.components, DEFAULT_TENANT)
        video_id = self.components.videos.submit_file(clip, tenant, title).id
        self.videos.append(video_id)
        return video_id

    def status(self, video_id: str) -> VideoStatus:
        return self.components.videos_repo.get_video(video_id).status

    def settled(self) -> bool:
        final = (VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELLED)
        return all(self.status(v) in final for v in self.videos)

    def running(self) -> bool:
        return any(
            job.state is JobState.RUNNING
            for video_id in self.videos
            for job in self.components.repo.jobs_of_video(video_id)
        )

    def objects(self, prefix: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            str(item["Key"])
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{ROOT}/{prefix}")
            for item in page.get("Contents", [])
        ]


@pytest.fixture
def run(pg_url: str, s3_endpoint: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Starts the scheduler and workers (through a fresh proxy) on a fresh bucket; yields the
    Run, stops everything after the test."""
    stack: list[Any] = []

    def start(**extra: str) -> Run:
        bucket = new_bucket_name()
        client = s3_client(s3_endpoint)
        client.create_bucket(Bucket=bucket)
        proxy_cm = storage_fault_proxy(s3_endpoint)
        proxy = proxy_cm.__enter__()
        stack.append(proxy_cm)
        common = dict(
            **AWS_TEST_ENV,
            VODFORGE_STORAGE_URL=f"s3://{bucket}/{ROOT}",
            VODFORGE_HEARTBEAT_S="0.5",
            VODFORGE_LEASE_TTL_S="10",
            VODFORGE_SCAN_INTERVAL_S="0.5",
            VODFORGE_MAX_ATTEMPTS="6",
            VODFORGE_BACKOFF_BASE_S="0.5",
            VODFORGE_BACKOFF_CAP_S="2",
            VODFORGE_SWEEP_EVERY_S="1",
            VODFORGE_SWEEP_GRACE_S="5",
            VODFORGE_CHUNK_SECONDS="4",
            VODFORGE_CHUNK_MIN_DURATION_S="8",
        )
        common.update(extra)
        data_dir = tmp_path / "data"
        env = cli_env(pg_url, data_dir, **common, VODFORGE_S3_ENDPOINT_URL=proxy.url)
        direct = cli_env(pg_url, data_dir, **common, VODFORGE_S3_ENDPOINT_URL=s3_endpoint)
        components = open_components(Settings.from_env(direct))
        stack.append(components)
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        scheduler = cli_process(["scheduler"], env, logs / "scheduler.log")
        scheduler.__enter__()
        stack.append(scheduler)
        for n in range(WORKERS):
            worker = cli_process(["worker"], env, logs / f"worker-{n}.log")
            worker.__enter__()
            stack.append(worker)
        return Run(env, components, proxy, client, bucket, logs)

    with aws_test_env():
        try:
            yield start
        finally:
            for item in reversed(stack):
                if isinstance(item, Components):
                    item.close()
                else:
                    item.__exit__(None, None, None)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout} s")


def fault_for(proxy: StorageFaultProxy, seconds: float, **fault: Any) -> threading.Thread:
    """Switch the fault on now and off after `seconds` (from another thread)."""
    proxy.set_fault(**fault)
    timer = threading.Timer(seconds, proxy.clear)
    timer.daemon = True
    timer.start()
    return timer


def assert_clean_outcome(run: Run, *, expect_ready: bool = False) -> None:
    """READY (package whole, one package) or FAILED with STORAGE_ERROR; each job published
    at most once."""
    wait_until(run.settled, SETTLE_S, f"every video settled (logs in {run.logs})")
    outcomes = {}
    for video_id in run.videos:
        video = run.components.videos_repo.get_video(video_id)
        outcomes[video_id] = (video.status, video.error_code)
        assert video.status in (VideoStatus.READY, VideoStatus.FAILED), (video_id, video.status)
        if video.status is VideoStatus.FAILED:
            # A storage error that outlasted the job's attempts ends ATTEMPTS_EXHAUSTED naming
            # it as the last error (SPEC's code for a retryable failure given up on).
            assert not expect_ready, (video_id, video.error_code, video.error_message)
            assert video.error_code in ("STORAGE_ERROR", "ATTEMPTS_EXHAUSTED"), video_id
            assert "STORAGE_ERROR" in (video.error_message or ""), video.error_message
        for job in run.components.repo.jobs_of_video(video_id):
            states = [e.to_state for e in run.components.repo.job_events(job.id)]
            assert states.count(JobState.SUCCEEDED) <= 1, (job.id, states)
        if video.status is VideoStatus.READY:
            assert video.package is not None
            problems = verify_package(run.client, run.bucket, video.package, ROOT)
            assert problems == [], problems

    def one_package_each() -> bool:
        for video_id in run.videos:
            video = run.components.videos_repo.get_video(video_id)
            if video.status is VideoStatus.READY:
                assert video.package is not None
                found = video_keys_problems(
                    run.client, run.bucket, ROOT, video_id, video.source_key, video.package
                )
                if found:
                    return False
        return True

    # The clean-up after publish may have met the fault: the sweep finishes it.
    wait_until(one_package_each, 30, "each READY video keeps its source and one package")


def delete_all(run: Run) -> None:
    for video_id in run.videos:
        result = run_cli(["delete", video_id], run.env)
        assert result.returncode == 0, result.stderr
    wait_until(lambda: run.objects() == [], 30, "the bucket emptied by the deletes")


@dataclass(frozen=True)
class Case:
    fault: dict[str, Any]
    seconds: float = 600.0  # how long the fault stays on (bounded by the test)
    chunked: bool = False
    # Switch on once a job runs, for a fault with a time limit; else before the uploads (a
    # fault aimed at what only workers send cannot hit anything sooner, and a tiny clip's job
    # can finish between two polls of `running`).
    after_running: bool = False


CASES = {
    # Segment uploads: every other PUT of a worker answered 503, or 500.
    "put-503": Case({"kind": "error", "ops": {"put"}, "key_pattern": ATTEMPT_KEYS, "every": 2}),
    "put-500": Case(
        {"kind": "error", "ops": {"put"}, "key_pattern": ATTEMPT_KEYS, "every": 3, "status": 500}
    ),
    # Connections reset mid-request, before and after the body was read.
    "put-reset-before-body": Case(
        {"kind": "reset", "ops": {"put"}, "key_pattern": ATTEMPT_KEYS, "every": 3}
    ),
    "reset-after-body-any": Case({"kind": "reset", "every": 4, "when": "after_body"}),
    # The stitch's server-side copies of a chunked video, and the publish after it.
    "copy-503": Case({"kind": "error", "ops": {"copy"}, "every": 2}, chunked=True),
    "copy-reset": Case(
        {"kind": "reset", "ops": {"copy"}, "every": 3, "when": "after_body"}, chunked=True
    ),
    # The clean-up of the family's parts after publish: listing and batch deletes fail for a
    # while (the sweep must finish it).
    "cleanup-500": Case(
        {"kind": "error", "ops": {"delete_batch"}, "status": 500},
        seconds=20,
        chunked=True,
        after_running=True,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_storage_fault_during_jobs(
    name: str, run: Callable[..., Run], clips: dict[str, Path]
) -> None:
    case = CASES[name]
    started = run()
    if not case.after_running:
        fault_for(started.proxy, case.seconds, **case.fault)
    started.submit(clips["short"], "short")
    started.submit(clips["longer"], "longer")
    if case.chunked:
        started.submit(clips["chunked"], "chunked")
    if case.after_running:
        wait_until(started.running, 30, "a job running")
        fault_for(started.proxy, case.seconds, **case.fault)
    assert_clean_outcome(started)
    started.proxy.clear()
    assert started.proxy.counts[case.fault["kind"]] > 0, "the fault never hit a request"
    delete_all(started)


@pytest.mark.slow
def test_full_outage_during_upload(run: Callable[..., Run], clips: dict[str, Path]) -> None:
    """The job retries (2, 4, 8, 8, 8 s apart) outlast the outage: every video READY. botocore's
    own retries do not (its retry quota drains within a second of refused connections)."""
    started = run(VODFORGE_BACKOFF_BASE_S="2", VODFORGE_BACKOFF_CAP_S="8")
    started.submit(clips["short"], "short")
    started.submit(clips["longer"], "longer")
    wait_until(started.running, 30, "a job running")
    fault_for(started.proxy, 15, kind="outage")
    assert_clean_outcome(started, expect_ready=True)
    assert started.proxy.counts["outage"] > 0
    delete_all(started)


@pytest.mark.slow
def test_held_requests_time_out_and_are_retried(
    run: Callable[..., Run], clips: dict[str, Path]
) -> None:
    """Two segment PUTs are never answered: botocore's 60 s read timeout, then a retry."""
    started = run()
    # Before the upload: the clip's job can finish its PUTs between two polls of `running`
    # (CI saw it), and only workers PUT under attempts/.
    started.proxy.set_fault("timeout", ops={"put"}, key_pattern=ATTEMPT_KEYS, times=2)
    started.submit(clips["short"], "short")
    assert_clean_outcome(started)
    assert started.proxy.counts["timeout"] == 2
    delete_all(started)


@pytest.mark.slow
def test_a_fault_that_outlasts_every_attempt_fails_the_video_and_a_retry_recovers_it(
    run: Callable[..., Run], clips: dict[str, Path]
) -> None:
    """Every segment PUT reset, for as long as the job has attempts: the video ends FAILED,
    ATTEMPTS_EXHAUSTED naming STORAGE_ERROR (never stuck), with nothing of any attempt left
    beside its source; once storage answers again, `vodforge retry` makes it READY."""
    started = run(VODFORGE_MAX_ATTEMPTS="3")
    started.proxy.set_fault("reset", ops={"put"}, key_pattern=ATTEMPT_KEYS)
    video_id = started.submit(clips["short"], "short")
    wait_until(started.settled, SETTLE_S, f"the video settled (logs in {started.logs})")
    video = started.components.videos_repo.get_video(video_id)
    assert video.status is VideoStatus.FAILED, video
    assert video.error_code == "ATTEMPTS_EXHAUSTED", video.error_code
    assert "STORAGE_ERROR" in (video.error_message or ""), video.error_message
    assert started.proxy.counts["reset"] > 0
    source = f"{ROOT}/{video.source_key}"
    wait_until(
        lambda: started.objects(f"videos/{video_id}/") == [source],
        30,
        "nothing but the source left",
    )

    started.proxy.clear()
    result = run_cli(["retry", video_id], started.env)
    assert result.returncode == 0, result.stderr
    assert_clean_outcome(started, expect_ready=True)
    delete_all(started)


def test_a_delete_that_meets_storage_faults_is_retried_to_an_empty_bucket(
    run: Callable[..., Run], clips: dict[str, Path]
) -> None:
    """Intermittent 5xx on the batch deletes are ridden out by botocore's retries."""
    started = run()
    video_id = started.submit(clips["short"], "short")
    assert_clean_outcome(started)
    started.proxy.set_fault("error", ops={"delete_batch", "list"}, every=2, status=500)
    result = run_cli(["delete", video_id], started.env)
    assert result.returncode == 0, result.stderr
    assert started.proxy.counts["error"] > 0
    assert started.objects() == []
    with pytest.raises(NotFound):
        started.components.videos_repo.get_video(video_id)


def test_a_delete_the_store_refuses_is_finished_by_the_scheduler(
    run: Callable[..., Run], clips: dict[str, Path]
) -> None:
    """The store refuses the batch delete (AccessDenied: refused at once, where a 5xx would
    spend a minute in botocore's retries first): the delete reports STORAGE_ERROR without a
    traceback, the video is gone from every read but its row stays with its objects, and once
    the store recovers the scheduler's purge removes both (SPEC: a deleted video is NotFound
    on every path, so the scheduler, not a retried delete, finishes it)."""
    started = run()
    video_id = started.submit(clips["short"], "short")
    assert_clean_outcome(started)
    started.proxy.set_fault("error", ops={"delete_batch"}, status=403, code="AccessDenied")
    result = run_cli(["delete", video_id], started.env)
    assert result.returncode != 0
    assert "STORAGE_ERROR" in result.stderr and "Traceback" not in result.stderr, result.stderr
    with pytest.raises(NotFound):
        started.components.videos_repo.get_video(video_id)
    assert started.objects(f"videos/{video_id}/"), "objects went although the delete failed"
    assert video_id in started.components.videos_repo.deleted_and_settled()  # the row stays

    started.proxy.clear()
    wait_until(lambda: started.objects() == [], 30, "the scheduler purged the objects")
    wait_until(
        lambda: video_id not in started.components.videos_repo.deleted_and_settled(),
        10,
        "the row purged",
    )
    assert started.proxy.counts["error"] >= 1
