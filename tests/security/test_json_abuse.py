"""Huge, deep and strange JSON on every route that takes a JSON body (found in the published
OpenAPI document, so a new route is covered the day it is added): 100k-deep arrays, a 50 MB
string, 100k keys, and within the size limit, nesting past the parser's recursion limit,
non-finite and 5000-digit numbers, invalid UTF-8, lone surrogates, the wrong JSON type. Each is
a 400, 413 or 422 in the API's error shape (never a 500 or a RecursionError), answered at
once, with the memory it costs bounded by the body limit, and changes nothing."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.databases import SqliteDatabases
from tests.support.hostile import (
    MAX_JSON_BYTES,
    MIB,
    HostileApi,
    hostile_api,
    json_routes,
    pour,
    read_response,
    request_head,
    snapshot,
)

STABLE = {400: "INVALID_REQUEST", 413: "PAYLOAD_TOO_LARGE", 422: "INVALID_REQUEST"}


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> Iterator[HostileApi]:
    with hostile_api(tmp_path_factory.mktemp("json"), sqlite_databases) as api:
        yield api


@pytest.fixture(scope="module")
def routes(api: HostileApi) -> list[tuple[str, str, list[str]]]:
    """(method, path, the body's property names) of every JSON route."""
    schema = httpx.get(f"{api.base_url}/openapi.json").json()
    found = []
    for method, path in json_routes(api):
        body = schema["paths"][path][method.lower()]["requestBody"]["content"]
        ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        properties = list(schema["components"]["schemas"][ref]["properties"])
        # A path parameter gets an id that exists nowhere.
        found.append((method, path.replace("{", "").replace("}", ""), properties))
    assert {(m, p) for m, p, _ in found} >= {
        ("POST", "/v1/uploads"),
        ("PUT", "/v1/webhooks/endpoint"),
    }
    return found


def every_field(properties: list[str], raw_value: bytes) -> bytes:
    """An object giving every property of the body the same (raw JSON) value."""
    return b"{" + b",".join(json.dumps(p).encode() + b":" + raw_value for p in properties) + b"}"


DEEP = 100_000
SHAPES: dict[str, Any] = {
    # At full scale: over the body limit, refused without being parsed.
    "100k-deep arrays": lambda props: b"[" * DEEP + b"]" * DEEP,
    "100k-deep objects": lambda props: b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "100k keys": lambda props: json.dumps({f"k{n}": n for n in range(DEEP)}).encode(),
    # Within the limit: parsed, and refused by the parser or the schema.
    "30k-deep arrays": lambda props: b"[" * 30_000 + b"]" * 30_000,
    "deep arrays in every field": lambda props: every_field(props, b"[" * 5000 + b"]" * 5000),
    "5000 unknown keys": lambda props: json.dumps({f"k{n}": n for n in range(5000)}).encode(),
    "NaN everywhere": lambda props: every_field(props, b"NaN"),
    "Infinity everywhere": lambda props: every_field(props, b"-Infinity"),
    "1e400 everywhere": lambda props: every_field(props, b"1e400"),
    "a 5000-digit number everywhere": lambda props: every_field(props, b"9" * 5000),
    "invalid UTF-8 everywhere": lambda props: every_field(props, b'"\xff\xfe\xc0\xaf"'),
    "a lone surrogate everywhere": lambda props: every_field(props, b'"\\ud800"'),
    "an object everywhere": lambda props: every_field(props, b'{"$gt": ""}'),
    "a 60 KB string everywhere": lambda props: every_field(props, b'"' + b"a" * 60_000 + b'"'),
    "an array body": lambda props: b"[1, 2, 3]",
    "a null body": lambda props: b"null",
    "trailing garbage": lambda props: every_field(props, b"1") + b" and more",
    "not JSON at all": lambda props: b"\x00\x01\x02 not json",
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_hostile_json_is_a_4xx_with_a_stable_code_at_once(
    api: HostileApi, routes: list[tuple[str, str, list[str]]], shape: Any
) -> None:
    before = snapshot(api.root)
    with api.client() as client:
        for method, path, properties in routes:
            body = shape(properties)
            started = time.monotonic()
            response = client.request(
                method,
                path,
                headers={**api.alice.headers, "Content-Type": "application/json"},
                content=body,
            )
            took = time.monotonic() - started
            assert response.status_code in STABLE, (path, response.status_code, response.text)
            if len(body) > MAX_JSON_BYTES:
                assert response.status_code == 413, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == STABLE[response.status_code], (path, error)
            assert error["message"] and "Traceback" not in error["message"]
            assert took < 2, (path, took)
        # Nothing changed: no video, no webhook URL, and the server still answers.
        assert client.get("/v1/videos", headers=api.alice.headers).json()["items"] == []
        endpoint = client.get("/v1/webhooks/endpoint", headers=api.alice.headers).json()
        assert endpoint["url"] is None
    assert snapshot(api.root) == before


def test_a_50_mb_string_costs_the_server_no_more_than_the_body_limit(
    api: HostileApi, routes: list[tuple[str, str, list[str]]]
) -> None:
    for method, path, properties in routes:
        opening = b"{" + json.dumps(properties[0]).encode() + b': "'
        for framing in ("declared", "chunked"):
            headers = {**api.alice.headers, "Content-Type": "application/json"}
            if framing == "declared":
                headers["Content-Length"] = str(50 * MIB + len(opening) + 2)
            else:
                headers["Transfer-Encoding"] = "chunked"
            tracemalloc.start()
            try:
                with api.connect() as sock:
                    started = time.monotonic()
                    head = request_head(method, path, headers)
                    if framing == "declared":
                        sock.sendall(head + opening)
                        sent = pour(sock, b"a" * 64 * 1024, total=50 * MIB)
                    else:
                        sock.sendall(head + f"{len(opening):x}\r\n".encode() + opening + b"\r\n")
                        sent = pour(sock, b"a" * 64 * 1024, total=50 * MIB, chunked=True)
                    response = read_response(sock, timeout=5)
                    took = time.monotonic() - started
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert response.error_code(413) == "PAYLOAD_TOO_LARGE", (path, framing)
            assert response.headers["connection"] == "close"
            # Refused near the limit: far from all of it sent, read or held.
            assert sent < 16 * MIB, (path, framing, sent)
            assert peak < 8 * MIB, (path, framing, peak)
            assert took < 2, (path, framing, took)
