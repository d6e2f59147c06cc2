"""GET /v1/videos pages newest first by cursor: every video once, in order, then a null cursor."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.videos import queued_video
from vodforge.bootstrap import Components
from vodforge.jobs.repository import JobRepository


def walk(client: TestClient, key: TenantKey, limit: int) -> list[list[str]]:
    """Every page's ids, following next_cursor until it is null (bounded, in case it never is)."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit}
    for _ in range(50):
        response = client.get("/v1/videos", headers=key.headers, params=params)
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        if body["next_cursor"] is None:
            return pages
        params["cursor"] = body["next_cursor"]
    raise AssertionError("next_cursor never became null")


@pytest.fixture
def alices_videos(components: Components, alice: TenantKey, bob: TenantKey) -> list[str]:
    """25 videos of alice, newest first; three share each timestamp (the id breaks the tie),
    and bob's videos are made in between."""
    clock = FakeClock()
    repo = JobRepository(components.engine, clock=clock)
    made: list[tuple[float, str]] = []
    for n in range(25):
        made.append((clock.now, queued_video(components, "alice", f"a{n}", repo=repo)))
        if n % 5 == 0:
            queued_video(components, "bob", f"b{n}", repo=repo)
        if n % 3 == 2:
            clock.advance(1.0)
    return [video_id for _, video_id in sorted(made, reverse=True)]


def test_pages_cover_every_video_once_newest_first(
    client: TestClient, alice: TenantKey, alices_videos: list[str]
) -> None:
    pages = walk(client, alice, limit=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [video_id for page in pages for video_id in page] == alices_videos


def test_a_last_page_that_is_exactly_full_has_a_null_cursor(
    client: TestClient, alice: TenantKey, alices_videos: list[str]
) -> None:
    assert walk(client, alice, limit=25) == [alices_videos]
    assert [len(page) for page in walk(client, alice, limit=5)] == [5] * 5


def test_deleted_videos_leave_the_listing(
    client: TestClient, alice: TenantKey, alices_videos: list[str]
) -> None:
    gone = alices_videos[3]
    assert client.delete(f"/v1/videos/{gone}", headers=alice.headers).status_code == 200
    listed = [video_id for page in walk(client, alice, limit=10) for video_id in page]
    assert listed == [v for v in alices_videos if v != gone]


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["zzz", "!!!", forged({"a": 1}), forged([1.0, "not-a-uuid"]), forged(["x", "y", "z"])],
)
def test_a_cursor_this_api_did_not_return_is_400(
    client: TestClient, alice: TenantKey, cursor: str
) -> None:
    response = client.get("/v1/videos", headers=alice.headers, params={"cursor": cursor})
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_a_limit_out_of_range_is_rejected_with_the_error_shape(
    client: TestClient, alice: TenantKey, limit: str
) -> None:
    response = client.get("/v1/videos", headers=alice.headers, params={"limit": limit})
    error = assert_error(response, 422, "INVALID_REQUEST")
    assert "limit" in error["message"]
