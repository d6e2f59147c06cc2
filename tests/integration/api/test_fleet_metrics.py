"""/metrics learns the fleet's work from the database at scrape time: attempt durations by the
state they ended in, transcode speed (× realtime), lease recoveries, jobs whose dispatch
fails, and webhook deliveries. Each attempt is counted once however often Prometheus scrapes."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeClock
from tests.support.api import TenantKey, api_components, api_settings, make_tenant
from tests.support.api import test_client as in_process_client  # not a test: renamed
from tests.support.videos import queued_video, ready_video, sample_package
from tests.support.webhooks import receiver
from vodforge.bootstrap import Components
from vodforge.jobs.repository import Failure, JobRepository

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def state(value: str) -> frozenset[tuple[str, str]]:
    return frozenset({("state", value)})


def clocked_repo(components: Components, clock: FakeClock) -> JobRepository:
    """The deployment's job repository on a clock the test moves (same database)."""
    return JobRepository(components.engine, lease_ttl_s=30, max_attempts=5, clock=clock)


def test_a_finished_job_moves_duration_and_speed_once(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    before = scrape(client)
    assert before[("vodforge_job_duration_seconds_count", state("SUCCEEDED"))] == 0
    assert before[("vodforge_transcode_speed_ratio_count", frozenset())] == 0

    clock = FakeClock(time.time())
    repo = clocked_repo(components, clock)
    video_id = queued_video(components, "alice", repo=repo)
    job = repo.claim_job("test-worker")
    assert job is not None and job.video_id == video_id
    components.videos_repo.record_probe(video_id, job, {"duration_s": 84.0, "width": 640})
    clock.advance(42)
    repo.complete_job(job, sample_package(video_id, job.id, job.attempt))

    after = scrape(client)
    assert after[("vodforge_job_duration_seconds_count", state("SUCCEEDED"))] == 1
    assert after[("vodforge_job_duration_seconds_sum", state("SUCCEEDED"))] == 42
    # 84 s of media in 42 s: twice realtime.
    assert after[("vodforge_transcode_speed_ratio_count", frozenset())] == 1
    assert after[("vodforge_transcode_speed_ratio_sum", frozenset())] == 2
    assert after[("vodforge_transcode_speed_ratio_bucket", frozenset({("le", "1.0")}))] == 0
    assert after[("vodforge_transcode_speed_ratio_bucket", frozenset({("le", "2.0")}))] == 1
    assert after[("vodforge_jobs", state("SUCCEEDED"))] == 1

    again = scrape(client)
    assert again[("vodforge_job_duration_seconds_count", state("SUCCEEDED"))] == 1
    assert again[("vodforge_transcode_speed_ratio_count", frozenset())] == 1


def test_failed_attempts_and_lease_recoveries(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    scrape(client)  # the feed starts following here
    clock = FakeClock(time.time())
    repo = clocked_repo(components, clock)
    queued_video(components, "alice", "lost", repo=repo)
    queued_video(components, "alice", "broken", repo=repo)
    lost, broken = repo.claim_job("test-worker"), repo.claim_job("test-worker")
    assert lost is not None and broken is not None
    clock.advance(5)
    repo.fail_job(broken, Failure("INVALID_INPUT", "not a video", retryable=False))
    clock.advance(60)  # past the 30 s lease: the worker holding `lost` is gone
    recovered = repo.expire_stale_leases("test-scanner")
    assert [lease.job_id for lease in recovered] == [lost.id]

    samples = scrape(client)
    assert samples[("vodforge_job_duration_seconds_count", state("FAILED"))] == 1
    assert samples[("vodforge_job_duration_seconds_sum", state("FAILED"))] == 5
    assert samples[("vodforge_job_duration_seconds_count", state("RETRY_WAIT"))] == 1
    assert samples[("vodforge_lease_recoveries_total", state("RETRY_WAIT"))] == 1
    # A failure is not a speed: only successful attempts say how fast the pipeline goes.
    assert samples[("vodforge_transcode_speed_ratio_count", frozenset())] == 0


def test_a_cancel_request_is_not_the_end_of_an_attempt(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    scrape(client)
    clock = FakeClock(time.time())
    repo = clocked_repo(components, clock)
    video_id = queued_video(components, "alice", repo=repo)
    job = repo.claim_job("test-worker")
    assert job is not None
    clock.advance(3)
    repo.cancel_video(video_id, actor="test")  # RUNNING, cancel requested: still running
    assert scrape(client)[("vodforge_job_duration_seconds_count", state("CANCELLED"))] == 0
    clock.advance(4)
    repo.finish_cancelled(job)
    samples = scrape(client)
    assert samples[("vodforge_job_duration_seconds_count", state("CANCELLED"))] == 1
    assert samples[("vodforge_job_duration_seconds_sum", state("CANCELLED"))] == 7


def test_jobs_failing_dispatch_are_a_gauge(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = queued_video(components, "alice")
    job_id = components.videos_repo.get_video(video_id).current_job_id
    assert job_id is not None
    assert scrape(client)[("vodforge_dispatch_failing_jobs", frozenset())] == 0
    components.dispatcher.record_error(job_id, "ClientError: queue is disabled")
    assert scrape(client)[("vodforge_dispatch_failing_jobs", frozenset())] == 1
    components.dispatcher.mark_dispatched(job_id, "batch-job-1")
    assert scrape(client)[("vodforge_dispatch_failing_jobs", frozenset())] == 0


def test_webhook_deliveries_and_failures(database_url: str, tmp_path: Path) -> None:
    # The receiver is on loopback, which only the embedded mode allows by default.
    settings = api_settings(database_url, tmp_path / "data", VODFORGE_WEBHOOK_ALLOW_PRIVATE="true")
    with (
        api_components(settings) as components,
        in_process_client(components) as client,
        receiver([500, 200]) as hook,
    ):
        alice = make_tenant(components, "alice")
        samples = scrape(client)
        assert samples[("vodforge_webhook_events", state("PENDING"))] == 0
        assert samples[("vodforge_webhook_attempts", frozenset())] == 0
        tenant = components.tenants.authenticate(alice.key)
        components.webhooks.set_url(tenant, hook.url)
        ready_video(components, "alice")  # the outbox gets video.ready
        assert scrape(client)[("vodforge_webhook_events", state("PENDING"))] == 1

        deliverer = components.webhook_delivery.deliverer
        deliverer.deliver_due()  # the receiver answers 500: retried later
        samples = scrape(client)
        assert samples[("vodforge_webhook_attempts", frozenset())] == 1
        assert samples[("vodforge_webhook_failed_attempts", frozenset())] == 1
        assert samples[("vodforge_webhook_events", state("PENDING"))] == 1

        components.webhooks.redeliver(tenant, hook.received[0].webhook_id)  # due now
        deliverer.deliver_due()
        samples = scrape(client)
    assert samples[("vodforge_webhook_attempts", frozenset())] == 2
    assert samples[("vodforge_webhook_failed_attempts", frozenset())] == 1
    assert samples[("vodforge_webhook_events", state("DELIVERED"))] == 1
    assert samples[("vodforge_webhook_events", state("PENDING"))] == 0
