"""Another tenant's video is a 404 on every route that names a video, and stays untouched.

Routes are found from the app, so video routes added later are covered without editing this
file. Playback (/v1/play/) is excluded: it takes a signed URL, not a tenant key.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.routes import RouteCall, route_calls
from tests.support.videos import failed_video, queued_video
from vodforge.bootstrap import Components


def video_routes(client: TestClient) -> list[RouteCall]:
    return [
        call
        for call in route_calls(client.app)
        if "video_id" in call.params and not call.path.startswith("/v1/play/")
    ]


def test_another_tenants_video_is_404_on_every_video_route(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    calls = video_routes(client)
    expected = {"GET", "POST", "DELETE"}
    assert expected <= {call.method for call in calls}, calls
    # A waiting video and a failed one: cancel and retry would each have had work to do.
    videos = [queued_video(components, "alice"), failed_video(components, "alice")]
    before = {v: client.get(f"/v1/videos/{v}", headers=alice.headers).json() for v in videos}
    for video_id in videos:
        for call in calls:
            response = client.request(call.method, call.url(video_id=video_id), headers=bob.headers)
            if call.method != "HEAD":
                assert_error(response, 404, "NOT_FOUND")
            assert response.status_code == 404, (str(call), response.status_code)
    for video_id in videos:
        after = client.get(f"/v1/videos/{video_id}", headers=alice.headers)
        assert after.status_code == 200
        unchanged = ("status", "job", "error", "updated_at")
        assert {k: after.json()[k] for k in unchanged} == {
            k: before[video_id][k] for k in unchanged
        }


def test_another_tenants_videos_are_not_listed(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    mine = queued_video(components, "alice")
    theirs = queued_video(components, "bob")
    listed = client.get("/v1/videos", headers=alice.headers).json()
    assert [item["id"] for item in listed["items"]] == [mine]
    assert listed["items"][0]["tenant"] == "alice"
    assert client.get(f"/v1/videos/{theirs}", headers=bob.headers).json()["tenant"] == "bob"


def test_an_id_that_is_not_a_uuid_is_404(client: TestClient, alice: TenantKey) -> None:
    for path in ("/v1/videos/not-a-uuid", "/v1/videos/%00", "/v1/videos/" + "9" * 300):
        assert_error(client.get(path, headers=alice.headers), 404, "NOT_FOUND")
