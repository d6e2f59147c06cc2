"""The scaling signal published to CloudWatch, against moto's server (never AWS itself)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from tests.support.pipeline import pipeline_settings
from tests.support.s3server import aws_test_env, moto_server
from vodforge.bootstrap import open_components
from vodforge.cli.runtime import make_scheduler
from vodforge.domain.scaling import ScalingPolicy
from vodforge.jobs.repository import JobRepository
from vodforge.operations.scaling import ScalingPublisher
from vodforge.telemetry.cloudwatch import CloudWatchMetrics


@pytest.fixture(scope="module")
def cloudwatch_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def cloudwatch(cloudwatch_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3's own endpoint variable points every CloudWatch client at the stand-in."""
    import boto3.session

    with aws_test_env():
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint)
        yield boto3.session.Session().client("cloudwatch")


def latest(cloudwatch: Any, namespace: str, name: str, around: float) -> list[float]:
    """The values of one metric within ten minutes of `around` (a narrow window: moto walks
    every period of the range)."""
    found = cloudwatch.list_metrics(Namespace=namespace, MetricName=name)["Metrics"]
    if not found:
        return []
    stats = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=around - 600,
        EndTime=around + 600,
    )
    return [float(v) for v in stats["MetricDataResults"][0]["Values"]]


def test_publisher_sends_backlog_count_once_a_minute(
    cloudwatch: Any, repo: JobRepository, clock: FakeClock
) -> None:
    namespace = "Vodforge/Test-publisher"
    queue_jobs(repo, "acme", 3)
    publisher = ScalingPublisher(
        repo, ScalingPolicy(max_workers=5), CloudWatchMetrics(namespace), every_s=60
    )
    decision = publisher.maybe_publish()
    assert decision is not None and decision.backlog == 3
    assert publisher.maybe_publish() is None  # within the minute: nothing sent
    assert latest(cloudwatch, namespace, "BacklogCount", clock()) == [3.0]
    assert latest(cloudwatch, namespace, "DesiredWorkers", clock()) == [3.0]
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]}
    assert names == {"BacklogCount", "RunningJobs", "BusyWorkers", "DesiredWorkers"}


def test_scheduler_publishes_when_a_namespace_is_configured(
    cloudwatch: Any, database_url: str, tmp_path: Path
) -> None:
    namespace = f"Vodforge/Test-scheduler-{tmp_path.name}"
    settings = pipeline_settings(
        database_url, tmp_path / "data", VODFORGE_CLOUDWATCH_NAMESPACE=namespace
    )
    components = open_components(settings)
    try:
        queue_jobs(components.repo, "acme", 2)
        scheduler, _ = make_scheduler(components)
        scheduler.tick()
    finally:
        components.close()
    assert latest(cloudwatch, namespace, "BacklogCount", time.time()) == [2.0]


def test_no_namespace_publishes_nothing(cloudwatch: Any, database_url: str, tmp_path: Path) -> None:
    before = cloudwatch.list_metrics()["Metrics"]
    components = open_components(pipeline_settings(database_url, tmp_path / "data"))
    try:
        queue_jobs(components.repo, "acme", 1)
        scheduler, _ = make_scheduler(components)
        scheduler.tick()
    finally:
        components.close()
    assert cloudwatch.list_metrics()["Metrics"] == before
