"""Direct uploads to S3 (a real moto server): `POST /v1/uploads` hands out a presigned PUT
URL, the client PUTs the bytes there itself, and `POST /v1/videos/{id}/complete` checks the
object and queues the video. Local storage has no such URL and says so (409)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import TenantKey, api_components, api_settings, make_tenant
from tests.support.api import test_client as api_client
from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client
from tests.support.uploads import error_code
from vodforge.bootstrap import Components

PREFIX = "deploy/vod"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_components(database_url: str, tmp_path: Path, s3_endpoint: str) -> Iterator[Components]:
    bucket = new_bucket_name()
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    settings = api_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
        VODFORGE_S3_ENDPOINT_URL=s3_endpoint,
    )
    with api_components(settings) as components:
        yield components


@pytest.fixture
def s3_api(s3_components: Components) -> Iterator[TestClient]:
    with api_client(s3_components) as client:
        yield client


@pytest.fixture
def carol(s3_components: Components) -> TenantKey:
    return make_tenant(s3_components, "carol")


def start(api: TestClient, tenant: TenantKey, size: int, **extra: Any) -> dict[str, Any]:
    body = {"title": "Direct", "size": size, "filename": "talk.mp4", **extra}
    response = api.post("/v1/uploads", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def test_put_to_the_url_then_complete_queues_the_video(
    s3_api: TestClient, s3_components: Components, carol: TenantKey
) -> None:
    data = bytes(range(256)) * 400
    started = start(s3_api, carol, len(data))
    video, upload = started["video"], started["upload"]
    assert video["status"] == "PENDING_UPLOAD" and video["job"] is None
    assert upload["method"] == "PUT"
    assert abs(upload["expires_at"] - (time.time() + 3600)) < 60

    put = httpx.put(upload["url"], content=data, headers={"Content-Type": "video/mp4"})
    assert put.status_code == 200, put.text
    response = s3_api.post(f"/v1/videos/{video['id']}/complete", headers=carol.headers)

    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "UPLOADED" and done["job"]["state"] == "QUEUED"
    source = s3_components.videos_repo.get_video(video["id"]).source_key
    assert source == f"videos/{video['id']}/source.mp4"
    assert s3_components.storage.read_bytes(source) == data
    again = s3_api.post(f"/v1/videos/{video['id']}/complete", headers=carol.headers)
    assert error_code(again, 409) == "CONFLICT"


def test_complete_before_the_put_is_409_and_the_upload_stays_open(
    s3_api: TestClient, carol: TenantKey
) -> None:
    started = start(s3_api, carol, 10)
    video_id = started["video"]["id"]

    early = s3_api.post(f"/v1/videos/{video_id}/complete", headers=carol.headers)
    assert error_code(early, 409) == "CONFLICT"
    assert "PUT" in early.json()["error"]["message"]
    assert s3_api.get(f"/v1/videos/{video_id}", headers=carol.headers).json()["status"] == (
        "PENDING_UPLOAD"
    )
    assert httpx.put(started["upload"]["url"], content=b"0123456789").status_code == 200
    late = s3_api.post(f"/v1/videos/{video_id}/complete", headers=carol.headers)
    assert late.status_code == 200 and late.json()["status"] == "UPLOADED"


def test_an_object_of_another_size_than_announced_is_409(
    s3_api: TestClient, carol: TenantKey
) -> None:
    started = start(s3_api, carol, 10)
    assert httpx.put(started["upload"]["url"], content=b"01234567890").status_code == 200

    response = s3_api.post(f"/v1/videos/{started['video']['id']}/complete", headers=carol.headers)

    assert error_code(response, 409) == "CONFLICT"
    assert "11 bytes, 10 announced" in response.json()["error"]["message"]


def test_another_tenant_cannot_complete_the_upload(
    s3_api: TestClient, s3_components: Components, carol: TenantKey
) -> None:
    started = start(s3_api, carol, 3)
    httpx.put(started["upload"]["url"], content=b"abc")
    dave = make_tenant(s3_components, "dave")

    response = s3_api.post(f"/v1/videos/{started['video']['id']}/complete", headers=dave.headers)

    assert error_code(response, 404) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("size", "status"),
    [(0, 422), (-5, 422), (6 * 1000**3, 413), (21 * 1024**3, 413)],
    ids=["zero", "negative", "over one PUT", "over the limit"],
)
def test_a_size_that_cannot_be_put_is_refused(
    s3_api: TestClient, carol: TenantKey, size: int, status: int
) -> None:
    response = s3_api.post(
        "/v1/uploads", headers=carol.headers, json={"title": "Big", "size": size}
    )
    error_code(response, status)
    assert s3_api.get("/v1/videos", headers=carol.headers).json()["items"] == []


def test_local_storage_has_no_direct_uploads(client: TestClient, alice: TenantKey) -> None:
    response = client.post("/v1/uploads", headers=alice.headers, json={"title": "t", "size": 10})
    assert error_code(response, 409) == "CONFLICT"
    assert "S3" in response.json()["error"]["message"]
    assert client.get("/v1/videos", headers=alice.headers).json()["items"] == []

    uploaded = client.post("/v1/videos", headers=alice.headers, files={"file": ("a.mp4", b"x")})
    video_id = uploaded.json()["id"]
    complete = client.post(f"/v1/videos/{video_id}/complete", headers=alice.headers)
    assert error_code(complete, 409) == "CONFLICT"
    assert "PENDING_UPLOAD" in complete.json()["error"]["message"]
