"""SQL injection and hostile values in every query parameter, path id and cursor of the API:
each is answered with a clean 4xx or an ordinary page of the caller's own rows, never a 5xx,
never a row of another tenant, never a database error's text, and every table is intact
afterwards (same tables, same rows).

The routes and their parameters are read from the app's OpenAPI document, so a filter, query
parameter or id added later is attacked without editing this file.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select, table

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.errors import assert_error
from tests.support.uploads import multipart_body, multipart_headers
from tests.support.videos import failed_video, queued_video, ready_video, tenant_id
from vodforge.api.routes.live import StreamSettings
from vodforge.bootstrap import Components
from vodforge.tenants.repository import WebhookEndpoint
from vodforge.uploads.tus import TUS_VERSION
from vodforge.webhooks.signing import new_secret

PAYLOADS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE jobs; --',
    "'; DROP TABLE videos; --",
    "1; DELETE FROM tenants",
    "' UNION SELECT id, name, api_key_hash FROM tenants --",
    "1 UNION ALL SELECT NULL, NULL, NULL --",
    "') OR pg_sleep(5) IS NULL --",
    "' AND 1=CAST((SELECT api_key_hash FROM tenants LIMIT 1) AS INT) --",
    "\x00",
    "msg_\x00' OR 1=1 --",
    "%00",
    "\\",
    "%' --",
    "_",
    "*",
    "ü' OR 1=1 -- \U0001f4a5",
    "9" * 19,  # past a BIGINT
    "99999999999999999999999999999999",
    "-1",
    "0",
    "1e309",
    "NaN",
    "Infinity",
    "x" * 5000,
]

SQL_ERROR_TEXT = (
    "syntax error",
    "sqlite3",
    "psycopg",
    "sqlalchemy",
    "traceback",
    "operationalerror",
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def world(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey
) -> dict[str, Any]:
    """Both tenants with videos in several states and webhook deliveries; the live list ends
    at once (one snapshot), so a stream request with a valid limit returns."""
    client.app.state.stream_settings = StreamSettings(lifetime_s=0.1)  # type: ignore[attr-defined]
    for name in ("alice", "bob"):
        components.tenants_repo.set_webhook(
            tenant_id(components, name), WebhookEndpoint("https://hooks.example/", new_secret())
        )
    videos = {
        name: [ready_video(components, name), failed_video(components, name)]
        + [queued_video(components, name, f"{name} {n}") for n in range(3)]
        for name in ("alice", "bob")
    }
    deliveries = {
        name: components.webhooks.repo.list_for_tenant(tenant_id(components, name), 100)
        for name in ("alice", "bob")
    }
    assert deliveries["alice"] and deliveries["bob"]
    return {"videos": videos, "deliveries": deliveries}


@pytest.fixture
def tables_intact(components: Components, world: dict[str, Any]) -> Iterator[None]:
    """Every table, and every row count, is the same after the test as before it (once the
    world is made)."""
    before = table_counts(components.engine)
    yield
    assert table_counts(components.engine) == before


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(inspect(engine).get_table_names())
        }


def assert_clean(
    response: Any, bob_ids: set[str], what: str, *, allowed: tuple[int, ...] = (200, 400, 422)
) -> None:
    """A 4xx in the error shape, or a page; nothing of bob's and no database error text."""
    assert response.status_code in allowed, (what, response.status_code, response.text[:300])
    text = response.text
    assert not any(bob_id in text for bob_id in bob_ids), (what, text[:300])
    lowered = text.lower()
    assert not any(marker in lowered for marker in SQL_ERROR_TEXT), (what, text[:300])
    if response.status_code >= 400 and response.request.method != "HEAD":
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"], (what, body)


def bob_ids(world: dict[str, Any]) -> set[str]:
    return set(world["videos"]["bob"]) | {event.id for event in world["deliveries"]["bob"]}


def query_parameters(client: TestClient) -> list[tuple[str, str]]:
    """(path, query parameter) of every public GET operation that takes one."""
    found = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        get = operations.get("get")
        if not get or not path.startswith("/v1/") or "{" in path:
            continue
        found += [(path, p["name"]) for p in get.get("parameters", []) if p["in"] == "query"]
    return found


@pytest.mark.usefixtures("tables_intact")
def test_every_query_parameter_of_every_list_route(
    client: TestClient, alice: TenantKey, world: dict[str, Any]
) -> None:
    params = query_parameters(client)
    for expected in [
        ("/v1/videos", "cursor"),
        ("/v1/videos", "limit"),
        ("/v1/webhooks/deliveries", "cursor"),
        ("/v1/webhooks/deliveries", "limit"),
        ("/v1/videos/stream", "limit"),
    ]:
        assert expected in params, f"discovery missed {expected}: {params}"
    cursor_payloads = [
        b64(payload.encode())
        for payload in ("wh:1 OR 1=1", "wh:0; DROP TABLE jobs", "wh:" + "9" * 19)
    ] + [
        b64(json.dumps([1.0, "' OR 1=1 --"]).encode()),
        b64(json.dumps(["1 OR 1=1", "7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e"]).encode()),
        b64(b'[1e999, "7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e"]'),
        b64(b'[NaN, "7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e"]'),
        b64(b'[true, "7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e"]'),
        b64(b'[1, "urn:uuid:7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e"]'),
        b64(b"\x00\xff\xfe"),
    ]
    hidden = bob_ids(world)
    for path, name in params:
        values = PAYLOADS + (cursor_payloads if name == "cursor" else [])
        for value in values:
            response = client.get(path, params={name: value}, headers=alice.headers)
            what = f"GET {path}?{name}={value[:40]!r}"
            assert_clean(response, hidden, what)
            if response.status_code == 200 and "json" in response.headers["content-type"]:
                assert all(item["id"] not in hidden for item in response.json()["items"]), what
    # The same parameters, given twice (one valid, one hostile), still answer cleanly.
    for path, name in params:
        query = urllib.parse.urlencode([(name, "1"), (name, "' OR 1=1 --")])
        assert_clean(client.get(f"{path}?{query}", headers=alice.headers), hidden, path)


def path_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every public and internal operation with an id in its path."""
    found = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if path.startswith(("/v1/", "/internal/")) and "{" in path:
            found += [(method.upper(), path) for method in operations]
    return found


def fill(path: str, value: str, real: dict[str, str]) -> str:
    """The path with each parameter set to its real value, or else to `value`."""
    out = path
    for segment in [part for part in path.split("/") if part.startswith("{")]:
        name = segment.strip("{}").split(":")[0]
        out = out.replace(segment, urllib.parse.quote(real.get(name, value), safe=""), 1)
    return out


@pytest.mark.usefixtures("tables_intact")
def test_every_id_in_a_path(
    client: TestClient, components: Components, alice: TenantKey, world: dict[str, Any]
) -> None:
    """Each path parameter of each route in turn gets every payload (the others stay real):
    404, or 403 for a play token, and nothing changes (the table check)."""
    routes = path_routes(client)
    assert ("GET", "/v1/videos/{video_id}/events") in routes, routes
    assert ("POST", "/internal/v1/jobs/{job_id}/dead-letter") in routes, routes
    alices_video = world["videos"]["alice"][0]
    playback_url = client.get(f"/v1/videos/{alices_video}", headers=alice.headers).json()[
        "playback_url"
    ]
    token = urllib.parse.urlsplit(playback_url).path.split("/")[4]
    real = {"video_id": alices_video, "token": token, "path": "master.m3u8"}
    headers = {**alice.headers, "Tus-Resumable": TUS_VERSION, "X-Internal-Token": INTERNAL_TOKEN}
    hidden = bob_ids(world)
    attacked = 0
    for method, path in routes:
        names = [part.strip("{}").split(":")[0] for part in path.split("/") if "{" in part]
        for name in names:
            others = {key: value for key, value in real.items() if key != name}
            for value in PAYLOADS:
                url = fill(path, value, others)
                response = client.request(method, url, headers=headers)
                what = f"{method} {path} with {name}={value[:40]!r}"
                assert_clean(response, hidden, what, allowed=(403, 404, 405, 412, 415))
                attacked += 1
    assert attacked > 10 * len(PAYLOADS), attacked


@pytest.mark.usefixtures("tables_intact")
def test_a_forged_cursor_never_reaches_another_tenants_rows(
    client: TestClient, components: Components, alice: TenantKey, world: dict[str, Any]
) -> None:
    """A cursor is a position in the caller's own list: one forged from bob's newest video
    (or his newest delivery's seq) pages through alice's rows only."""
    hidden = bob_ids(world)
    for bob_video in world["videos"]["bob"]:
        record = components.videos_repo.get_video(bob_video)
        cursor = b64(json.dumps([record.created_at + 1, bob_video]).encode())
        page = client.get("/v1/videos", params={"cursor": cursor}, headers=alice.headers)
        assert page.status_code == 200, page.text
        ids = [item["id"] for item in page.json()["items"]]
        assert ids and set(ids) <= set(world["videos"]["alice"]), ids
    for event in world["deliveries"]["bob"]:
        cursor = b64(f"wh:{event.seq + 1}".encode())
        page = client.get(
            "/v1/webhooks/deliveries", params={"cursor": cursor}, headers=alice.headers
        )
        assert page.status_code == 200, page.text
        assert all(item["id"] not in hidden for item in page.json()["items"])
        videos = {item["video_id"] for item in page.json()["items"]}
        assert videos <= set(world["videos"]["alice"]), videos


@pytest.mark.usefixtures("tables_intact")
def test_a_tampered_cursor_is_400_or_a_page_of_ones_own(
    client: TestClient, alice: TenantKey, world: dict[str, Any]
) -> None:
    """Every character of a real next_cursor changed in turn, and bits of its decoded bytes
    flipped: a 400, or a page of alice's rows."""
    hidden = bob_ids(world)
    for path in ("/v1/videos", "/v1/webhooks/deliveries"):
        page = client.get(path, params={"limit": 1}, headers=alice.headers).json()
        cursor = page["next_cursor"]
        assert cursor, page
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tampered = [
            cursor[:i] + ("A" if cursor[i] != "A" else "z") + cursor[i + 1 :]
            for i in range(len(cursor))
        ]
        tampered += [b64(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]) for i in range(len(raw))]
        tampered += [cursor + "=", cursor + "==", cursor[:-1], cursor + "%00", " " + cursor]
        for bad in tampered:
            response = client.get(path, params={"cursor": bad}, headers=alice.headers)
            assert_clean(response, hidden, f"{path} cursor {bad!r}")
            if response.status_code != 200:
                assert_error(response, response.status_code, "INVALID_REQUEST")


def test_hostile_titles_are_stored_as_text(
    client: TestClient, components: Components, alice: TenantKey, world: dict[str, Any]
) -> None:
    """Titles are data: a multipart `title` and a tus `Upload-Metadata` title full of SQL
    come back verbatim, every table is still there and bob's rows are untouched."""
    names = set(inspect(components.engine).get_table_names())
    titles = [p for p in PAYLOADS if p.isprintable() and p.strip() and len(p) <= 500]
    made = {}
    for title in titles:
        body = b"".join(multipart_body([b"not a video"], filename="x.mp4", title=title))
        response = client.post("/v1/videos", content=body, headers=multipart_headers(alice.headers))
        assert response.status_code == 201, (title, response.text)
        made[response.json()["id"]] = title.strip()
    tus_title = "'; DROP TABLE videos; --"
    metadata = "title " + base64.b64encode(tus_title.encode()).decode()
    tus = {**alice.headers, "Tus-Resumable": TUS_VERSION}
    created = client.post(
        "/v1/uploads/tus", headers={**tus, "Upload-Length": "4", "Upload-Metadata": metadata}
    )
    assert created.status_code == 201, created.text
    done = client.patch(
        urllib.parse.urlsplit(created.headers["location"]).path,
        content=b"abcd",
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert done.status_code == 204, done.text
    made[done.headers["vodforge-video-id"]] = tus_title
    listed = client.get("/v1/videos", params={"limit": 100}, headers=alice.headers).json()
    titles_listed = {item["id"]: item["title"] for item in listed["items"]}
    assert {video_id: titles_listed.get(video_id) for video_id in made} == made
    assert set(inspect(components.engine).get_table_names()) == names
    for video_id in world["videos"]["bob"]:
        assert components.videos_repo.find_video(video_id) is not None
    assert components.tenants.by_name("bob") is not None


@pytest.mark.usefixtures("tables_intact")
def test_a_hostile_api_key_is_401(client: TestClient, alice: TenantKey) -> None:
    """Payloads as the bearer key itself: 401, and the real key keeps working."""
    for value in PAYLOADS:
        key = "vf_" + value.replace("\x00", "%00")  # a header cannot carry a NUL byte
        response = client.get("/v1/videos", headers={"Authorization": f"Bearer {key}".encode()})
        assert_error(response, 401, "UNAUTHORIZED")
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200
