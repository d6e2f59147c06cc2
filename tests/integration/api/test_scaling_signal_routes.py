"""The scaling signal where an autoscaler reads it: GET /internal/v1/scaling and the
Prometheus gauges, both agreeing with the decision read from the database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.videos import queued_video
from vodforge.bootstrap import Components
from vodforge.operations.scaling import scaling_signal


def gauges(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_internal_route_and_gauges_follow_the_backlog_and_busy_workers(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    token = {"X-Internal-Token": INTERNAL_TOKEN}
    idle = client.get("/internal/v1/scaling", headers=token).json()
    assert idle == {
        "backlog": 0,
        "running": 0,
        "busy_workers": 0,
        "desired_workers": 0,
        "reason": idle["reason"],
    }
    assert gauges(client)["vodforge_desired_workers"] == 0

    for n in range(3):
        queued_video(components, "alice", f"lesson {n}")
    # Two slots of one worker run a job each: one busy worker, not two.
    for slot in (0, 1):
        assert components.repo.claim_job(f"worker:host-a:100:abcd0123/{slot}") is not None

    answer = client.get("/internal/v1/scaling", headers=token).json()
    expected = scaling_signal(components.repo, components.scaling_policy).to_json()
    assert answer == expected
    assert (answer["backlog"], answer["running"], answer["busy_workers"]) == (1, 2, 1)
    assert answer["desired_workers"] == 3  # one job per worker by default
    values = gauges(client)
    assert values["vodforge_backlog"] == 1
    assert values["vodforge_busy_workers"] == 1
    assert values["vodforge_desired_workers"] == 3
