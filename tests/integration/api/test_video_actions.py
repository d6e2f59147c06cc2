"""A tenant's own videos: the SPEC's video JSON, queue positions, cancel, retry, delete, events."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.videos import failed_video, queued_video, ready_video
from vodforge.bootstrap import Components
from vodforge.jobs.repository import JobRepository

VIDEO_FIELDS = {
    "id", "tenant", "title", "status", "progress", "duration_s", "width", "height",
    "renditions", "playback_url", "thumbnail_url", "error", "job", "created_at", "updated_at",
}  # fmt: skip


def test_a_ready_video_has_the_spec_fields(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video = client.get(f"/v1/videos/{ready_video(components, 'alice')}", headers=alice.headers)
    body = video.json()
    assert set(body) >= VIDEO_FIELDS, body
    assert body["status"] == "READY" and body["progress"]["percent"] == 100.0
    assert body["job"]["state"] == "SUCCEEDED" and body["error"] is None
    assert [r["name"] for r in body["renditions"]] == ["720p", "360p"]
    assert set(body["renditions"][0]) == {"name", "width", "height", "bandwidth"}
    assert body["playback_url"].endswith("/master.m3u8")
    assert body["thumbnail_url"].endswith("/thumbnail.jpg")
    assert body.get("queue_position") is None


def test_waiting_videos_have_queue_positions_that_grow_with_age(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    clock = FakeClock()
    repo = JobRepository(components.engine, clock=clock)
    made = []
    for n in range(4):  # oldest first; bob's waiting job is in the same queue
        made.append(queued_video(components, "bob" if n == 1 else "alice", f"v{n}", repo=repo))
        clock.advance(1.0)
    positions = [
        client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()["queue_position"]
        for video_id in (made[0], made[2], made[3])
    ]
    assert positions == [1, 3, 4]
    listed = client.get("/v1/videos", headers=alice.headers).json()["items"]
    assert [item["queue_position"] for item in listed] == [4, 3, 1]


def test_cancel_of_a_queued_video_is_final_and_a_second_cancel_conflicts(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = queued_video(components, "alice")
    response = client.post(f"/v1/videos/{video_id}/cancel", headers=alice.headers)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["job"]["state"]) == ("CANCELLED", "CANCELLED")
    assert body.get("queue_position") is None
    again = client.post(f"/v1/videos/{video_id}/cancel", headers=alice.headers)
    assert_error(again, 409, "CONFLICT")


def test_retry_queues_a_new_job_and_keeps_the_history(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = failed_video(components, "alice")
    failed = client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()
    assert failed["error"]["code"] == "NO_VIDEO_STREAM"
    response = client.post(f"/v1/videos/{video_id}/retry", headers=alice.headers)
    assert response.status_code == 202
    body = response.json()
    assert body["job"]["state"] == "QUEUED" and body["job"]["id"] != failed["job"]["id"]
    assert body["status"] == "UPLOADED" and body["error"] is None
    assert body["queue_position"] == 1
    events = client.get(f"/v1/videos/{video_id}/events", headers=alice.headers).json()["items"]
    assert [(e["from"], e["to"]) for e in events] == [
        (None, "QUEUED"),
        ("QUEUED", "RUNNING"),
        ("RUNNING", "FAILED"),
        (None, "QUEUED"),
    ]
    assert {e["job_id"] for e in events} == {failed["job"]["id"], body["job"]["id"]}
    again = client.post(f"/v1/videos/{video_id}/retry", headers=alice.headers)
    assert_error(again, 409, "CONFLICT")


def test_delete_of_a_queued_video_removes_it_everywhere(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = queued_video(components, "alice")
    response = client.delete(f"/v1/videos/{video_id}", headers=alice.headers)
    assert response.json() == {"ok": True, "id": video_id, "purged": True, "objects": 0}
    for method, path in [
        ("GET", f"/v1/videos/{video_id}"),
        ("GET", f"/v1/videos/{video_id}/events"),
        ("POST", f"/v1/videos/{video_id}/cancel"),
        ("DELETE", f"/v1/videos/{video_id}"),
    ]:
        assert_error(client.request(method, path, headers=alice.headers), 404, "NOT_FOUND")
    assert client.get("/v1/videos", headers=alice.headers).json()["items"] == []
    assert components.repo.backlog().to_json()["queued"] == 0
