"""Another tenant's ids on every public route: alice makes real objects (videos in several
states, through the API where it can; tus uploads, one in progress and one finished; webhook
deliveries), bob calls every route that names an object with each of alice's ids. Each answer
is 404 NOT_FOUND, exactly as for an id that does not exist (never a 403 or 409 that would say
it does), carries none of alice's data, and alice's objects are unchanged afterwards.

Routes are enumerated from the app: a route added later is covered, and one whose path
parameter this test does not know how to fill with alice's objects fails it (teach FILLERS).
The play route is left out on purpose: a signed URL, not a tenant key, is its authority
(test_playback_signatures.py); /internal/ takes no tenant at all (test_internal_token.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table

from tests.support.api import TenantKey
from tests.support.playback import package_files, ready_with_files
from tests.support.routes import RouteCall, route_calls
from tests.support.uploads import multipart_body, multipart_headers
from tests.support.videos import failed_video
from vodforge.api.routes.live import StreamSettings
from vodforge.bootstrap import Components
from vodforge.uploads.tus import TUS_VERSION

# Each path parameter a public route may have, and how to make another of its kind that
# exists nowhere (the answer for alice's must be the same as for that one).
FILLERS = {
    "video_id": lambda: str(uuid.uuid4()),
    "upload_id": lambda: uuid.uuid4().hex,
    "delivery_id": lambda: "msg_" + uuid.uuid4().hex,
}
TUS_HEADERS = {
    "Tus-Resumable": TUS_VERSION,
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": "3",
}
SECRET_TITLE = "alice's private title 7f3a"


def public_routes(client: TestClient) -> list[RouteCall]:
    return [
        call
        for call in route_calls(client.app)
        if call.path.startswith("/v1/") and not call.path.startswith("/v1/play/")
    ]


@pytest.fixture
def alices(client: TestClient, components: Components, alice: TenantKey) -> dict[str, list[str]]:
    """Alice's objects by the path parameter that names them."""
    client.app.state.stream_settings = StreamSettings(lifetime_s=0.1)
    webhook = client.put(
        "/v1/webhooks/endpoint", json={"url": "https://hooks.example/in"}, headers=alice.headers
    )
    assert webhook.status_code == 200, webhook.text
    body = b"".join(multipart_body([b"not really a video"], title=SECRET_TITLE))
    uploaded = client.post("/v1/videos", content=body, headers=multipart_headers(alice.headers))
    assert uploaded.status_code == 201, uploaded.text
    videos = [
        uploaded.json()["id"],
        ready_with_files(components, alice.key, package_files(), SECRET_TITLE),
        failed_video(components, "alice", SECRET_TITLE),
    ]
    tus = {**alice.headers, "Tus-Resumable": TUS_VERSION}
    uploads = []
    for length in (10, 3):
        created = client.post("/v1/uploads/tus", headers={**tus, "Upload-Length": str(length)})
        assert created.status_code == 201, created.text
        location = httpx.URL(created.headers["location"]).path
        patched = client.patch(
            location, content=b"abc", headers={**tus, **TUS_HEADERS, "Upload-Offset": "0"}
        )
        assert patched.status_code == 204, patched.text
        uploads.append(location.rsplit("/", 1)[1])
    deliveries = [
        item["id"]
        for item in client.get("/v1/webhooks/deliveries", headers=alice.headers).json()["items"]
    ]
    assert deliveries, "no webhook delivery was recorded"
    return {"video_id": videos, "upload_id": uploads, "delivery_id": deliveries}


def snapshot(client: TestClient, components: Components, alice: TenantKey, alices: Any) -> Any:
    """Everything alice can see of her objects, and every table's row count."""
    tus = {**alice.headers, "Tus-Resumable": TUS_VERSION}
    videos = {}
    for video_id in alices["video_id"]:
        body = client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()
        events = client.get(f"/v1/videos/{video_id}/events", headers=alice.headers).json()
        keep = ("status", "title", "job", "error", "updated_at", "renditions")
        videos[video_id] = ({k: body[k] for k in keep}, events)
    uploads = {}
    for upload_id in alices["upload_id"]:
        head = client.head(f"/v1/uploads/tus/{upload_id}", headers=tus)
        assert head.status_code == 200, head.status_code
        uploads[upload_id] = {k: v for k, v in head.headers.items() if k.startswith("upload-")}
    deliveries = {
        delivery_id: client.get(
            f"/v1/webhooks/deliveries/{delivery_id}", headers=alice.headers
        ).json()
        for delivery_id in alices["delivery_id"]
    }
    endpoint = components.tenants_repo.webhook_endpoint(components.tenants.by_name("alice").id)
    with components.engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in inspect(components.engine).get_table_names()
        }
    return videos, uploads, deliveries, endpoint, counts


def request(client: TestClient, call: RouteCall, url: str, tenant: TenantKey) -> httpx.Response:
    headers = dict(tenant.headers)
    content = None
    if "/tus" in call.path:
        headers.update(TUS_HEADERS)
        content = b"zzz" if call.method == "PATCH" else None
    return client.request(call.method, url, headers=headers, content=content)


def outcome(response: httpx.Response) -> tuple[int, str | None]:
    if response.request.method == "HEAD":
        return response.status_code, None
    return response.status_code, response.json().get("error", {}).get("code")


@pytest.mark.parametrize("bob_has_webhooks", [False, True], ids=["bob-webhooks-off", "on"])
def test_another_tenants_ids_are_404_on_every_route_and_change_nothing(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    bob: TenantKey,
    alices: dict[str, list[str]],
    bob_has_webhooks: bool,
) -> None:
    if bob_has_webhooks:
        url = {"url": "https://hooks.example/bob"}
        assert client.put("/v1/webhooks/endpoint", json=url, headers=bob.headers).status_code == 200
    calls = [call for call in public_routes(client) if call.params]
    unknown = {f"{call}: {name}" for call in calls for name in call.params if name not in FILLERS}
    assert not unknown, f"routes with ids this test cannot fill; teach FILLERS: {unknown}"
    for name in FILLERS:
        assert any(name in call.params for call in calls), f"no route takes {name} any more?"
    before = snapshot(client, components, alice, alices)

    tried = 0
    for call in calls:
        for name in call.params:
            # The other parameters (none on today's routes) name alice's first object.
            others = {other: alices[other][0] for other in call.params if other != name}
            nowhere = call.url(**others, **{name: FILLERS[name]()})
            control = outcome(request(client, call, nowhere, bob))
            assert control[0] == 404, (str(call), control)
            assert control[1] in (None, "NOT_FOUND"), (str(call), control)
            for object_id in alices[name]:
                response = request(client, call, call.url(**others, **{name: object_id}), bob)
                assert outcome(response) == control, (str(call), object_id, response.text[:300])
                assert SECRET_TITLE not in response.text and "alice" not in response.text
                tried += 1
    assert tried >= len(calls)

    after = snapshot(client, components, alice, alices)
    assert after == before


def test_no_list_and_no_keyless_write_of_bob_reaches_alice(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    bob: TenantKey,
    alices: dict[str, list[str]],
) -> None:
    """Bob's lists hold none of alice's objects, and bob's own writes on the routes that name
    no object (his endpoint, his secret, his uploads) leave every one of alice's as it was."""
    before = snapshot(client, components, alice, alices)[:4]
    mine = {object_id for ids in alices.values() for object_id in ids}
    no_params = [call for call in public_routes(client) if not call.params]
    for call in no_params:
        if call.method != "GET":
            continue
        response = client.get(call.path, headers=bob.headers)
        assert response.status_code == 200, (str(call), response.text[:200])
        assert not any(object_id in response.text for object_id in mine), str(call)
        assert SECRET_TITLE not in response.text and "hooks.example/in" not in response.text
    writes = {
        ("PUT", "/v1/webhooks/endpoint"): {"json": {"url": "https://hooks.example/bob"}},
        ("POST", "/v1/webhooks/endpoint/rotate-secret"): {},
        ("DELETE", "/v1/webhooks/endpoint"): {},
        ("POST", "/v1/videos"): {
            "content": b"".join(multipart_body([b"bob's"], title="bob")),
            "headers": multipart_headers(bob.headers),
        },
        ("POST", "/v1/uploads"): {"json": {"title": "bob", "size": 10}},
        ("POST", "/v1/uploads/tus"): {
            "headers": {**bob.headers, "Tus-Resumable": TUS_VERSION, "Upload-Length": "5"}
        },
        ("OPTIONS", "/v1/uploads/tus"): {},
    }
    seen = {(call.method, call.path) for call in no_params if call.method != "GET"}
    assert seen <= set(writes), f"teach this test the new route(s): {seen - set(writes)}"
    for (method, path), options in writes.items():
        headers = options.pop("headers", bob.headers)
        response = client.request(method, path, headers=headers, **options)
        assert response.status_code < 500, (method, path, response.text[:200])
        assert not any(object_id in response.text for object_id in mine), (method, path)
    assert snapshot(client, components, alice, alices)[:4] == before
