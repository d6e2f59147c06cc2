"""Abuse of the tus routes (/v1/uploads/tus) beyond tests/integration/uploads/test_tus.py:
lengths and offsets that are not plain non-negative integers (signs, underscores, superscript
digits, 2**63 and beyond), the headers of extensions this server does not offer (concatenation,
deferred length, creation-with-upload) refused rather than half honoured, malformed or oversized
Upload-Metadata, wrong Content-Types and Tus-Resumable versions on PATCH, and another tenant's
finished upload. Each is a 4xx with a stable code; nothing is created and no byte is written."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.databases import SqliteDatabases
from tests.support.hostile import (
    MAX_FILE_BYTES,
    OCTETS,
    TUS,
    TUS_V1,
    HostileApi,
    closed_within,
    hostile_api,
    metadata,
    raw_request,
    read_response,
    request_head,
    snapshot,
)
from tests.support.uploads import files_under


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> Iterator[HostileApi]:
    # One server for the module: each test compares the disk before and after its own calls.
    with hostile_api(tmp_path_factory.mktemp("tus"), sqlite_databases) as api:
        yield api


def create(api: HostileApi, length: int = 10, **meta: str) -> str:
    """A new upload of alice's; its path."""
    headers = {**api.alice.headers, **TUS_V1, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    response = raw_request(api, "POST", TUS, headers)
    assert response.status == 201, response.body
    return urlsplit(response.headers["location"]).path


def offset_of(api: HostileApi, path: str) -> int:
    response = raw_request(api, "HEAD", path, {**api.alice.headers, **TUS_V1})
    assert response.status == 200
    return int(response.headers["upload-offset"])


def data_files(api: HostileApi) -> dict[str, int]:
    return {
        p.parent.name: p.stat().st_size for p in files_under(api.uploads_dir) if p.name == "data"
    }


# -- Upload-Length --------------------------------------------------------------------------

LENGTHS = {
    "negative": ("-5", 400),
    "plus sign": ("+5", 400),
    "underscore": ("1_0", 400),
    "decimal point": ("10.0", 400),
    "exponent": ("1e3", 400),
    "hexadecimal": ("0x10", 400),
    "superscript two (a digit to str.isdigit)": ("\xb2", 400),
    "Arabic-Indic digit": ("\u0663".encode().decode("latin-1"), 400),
    "empty": ("", 400),
    "one over the limit": (str(MAX_FILE_BYTES + 1), 413),
    "2**63": (str(2**63), 413),
    "2**64 + 1": (str(2**64 + 1), 413),
    "30 digits": ("9" * 30, 413),
    "31 digits": ("9" * 31, 400),
    "5000 digits (past int()'s own limit)": ("9" * 5000, 400),
}


@pytest.mark.parametrize(("length", "status"), LENGTHS.values(), ids=LENGTHS)
def test_an_upload_length_that_is_not_a_plain_size_creates_nothing(
    api: HostileApi, length: str, status: int
) -> None:
    before = snapshot(api.root)
    headers = {**api.alice.headers, **TUS_V1, "Upload-Length": length}
    response = raw_request(api, "POST", TUS, headers)
    code = response.error_code(status)
    assert code == ("PAYLOAD_TOO_LARGE" if status == 413 else "INVALID_REQUEST")
    assert response.headers["tus-resumable"] == "1.0.0"
    assert snapshot(api.root) == before


# -- extensions this server does not offer --------------------------------------------------


def test_options_offers_no_concatenation_deferral_or_creation_with_upload(api: HostileApi) -> None:
    response = raw_request(api, "OPTIONS", TUS)
    offered = set(response.headers["tus-extension"].split(","))
    assert offered == {"creation", "expiration", "termination"}


def test_upload_concat_is_refused_never_half_honoured(api: HostileApi) -> None:
    # Partials that a final upload could name: one of alice's, unfinished, and one of bob's.
    mine = create(api, 10, filename="mine.mp4")
    raw_request(
        api,
        "PATCH",
        mine,
        {**api.alice.headers, **TUS_V1, **OCTETS, "Upload-Offset": "0"},
        b"abc",
    )
    bobs = raw_request(api, "POST", TUS, {**api.bob.headers, **TUS_V1, "Upload-Length": "5"})
    theirs = urlsplit(bobs.headers["location"]).path
    before = snapshot(api.root)

    attempts = {
        "partial": {"Upload-Concat": "partial", "Upload-Length": "10"},
        "final of unfinished and foreign partials": {
            "Upload-Concat": f"final;{mine} {theirs}",
        },
        "final with absolute URLs": {
            "Upload-Concat": f"final;{api.base_url}{mine} {api.base_url}{theirs}",
            "Upload-Length": "15",
        },
        "final of traversal": {"Upload-Concat": "final;/v1/uploads/tus/../../../etc/passwd"},
        "empty": {"Upload-Concat": ""},
    }
    for why, extra in attempts.items():
        response = raw_request(api, "POST", TUS, {**api.alice.headers, **TUS_V1, **extra})
        assert response.error_code(400) == "INVALID_REQUEST", why
        assert "concatenation" in response.json()["error"]["message"], why
        assert "location" not in response.headers, why
    assert snapshot(api.root) == before
    # The partials are untouched: each still resumable by its owner alone.
    assert offset_of(api, mine) == 3
    assert raw_request(api, "HEAD", theirs, {**api.alice.headers, **TUS_V1}).status == 404
    assert raw_request(api, "HEAD", theirs, {**api.bob.headers, **TUS_V1}).status == 200


@pytest.mark.parametrize(
    "extra",
    [
        {"Upload-Defer-Length": "1"},
        {"Upload-Defer-Length": "1", "Upload-Length": "10"},
        {"Upload-Length": "10", "Content-Type": "application/offset+octet-stream"},
    ],
    ids=["deferred length", "deferred and declared length", "creation with upload"],
)
def test_other_unoffered_extensions_are_refused(api: HostileApi, extra: dict[str, str]) -> None:
    before = snapshot(api.root)
    body = b"0123456789" if "Content-Type" in extra else b""
    response = raw_request(api, "POST", TUS, {**api.alice.headers, **TUS_V1, **extra}, body)
    assert response.error_code(400) == "INVALID_REQUEST"
    assert snapshot(api.root) == before


# -- Upload-Metadata ------------------------------------------------------------------------

METADATA = {
    "over 4096 characters": metadata(title="t" * 4000),
    "five hundred keys": ",".join(f"k{n} YQ==" for n in range(500)),
    "key with a Latin-1 byte": "t\xe9tle YQ==",
    "empty key": ",title YQ==",
    "key twice, other values": f"{metadata(filename='a.mp4')},{metadata(filename='b.mp4')}",
    "URL-safe base64": "title _-_-",
    "base64 without padding": "title YQ",
    "value with an inner space": "title YQ== YQ==",
    "title over 500 characters": metadata(title="t" * 600),
    "title with ESC": metadata(title="\x1b[2Jwiped"),
    "filename with NUL behind a good title": metadata(title="Good", filename="a\x00.mp4"),
    "filename not UTF-8 behind a good title": metadata(title="Good", filename=b"\xff\xfe.mp4"),
}


@pytest.mark.parametrize("value", METADATA.values(), ids=METADATA)
def test_bad_upload_metadata_is_refused_at_creation(api: HostileApi, value: str) -> None:
    before = snapshot(api.root)
    headers = {**api.alice.headers, **TUS_V1, "Upload-Length": "10", "Upload-Metadata": value}
    response = raw_request(api, "POST", TUS, headers)
    assert response.error_code(400) == "INVALID_REQUEST"
    assert snapshot(api.root) == before


# -- PATCH ----------------------------------------------------------------------------------

OFFSETS = {
    "superscript two": ("\xb2", 400),
    "negative": ("-1", 400),
    "plus sign": ("+0", 400),
    "hexadecimal": ("0x0", 400),
    "empty": ("", 400),
    "31 digits": ("1" * 31, 400),
    "past the length": ("11", 409),
    "2**63": (str(2**63), 409),
}


@pytest.mark.parametrize(("offset", "status"), OFFSETS.values(), ids=OFFSETS)
def test_an_upload_offset_that_is_not_the_servers_writes_nothing(
    api: HostileApi, offset: str, status: int
) -> None:
    path = create(api, 10, filename="a.mp4")
    before = data_files(api)
    headers = {**api.alice.headers, **TUS_V1, **OCTETS, "Upload-Offset": offset}
    response = raw_request(api, "PATCH", path, headers, b"0123456789")
    assert response.error_code(status) == ("CONFLICT" if status == 409 else "INVALID_REQUEST")
    assert response.headers["tus-resumable"] == "1.0.0"
    assert data_files(api) == before
    assert offset_of(api, path) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/offset+octet-stream-evil",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain; a=application/offset+octet-stream",
    ],
)
def test_a_patch_of_another_content_type_is_415(api: HostileApi, content_type: str) -> None:
    path = create(api, 10, filename="a.mp4")
    headers = {
        **api.alice.headers,
        **TUS_V1,
        "Content-Type": content_type,
        "Upload-Offset": "0",
    }
    response = raw_request(api, "PATCH", path, headers, b"0123456789")
    assert response.error_code(415) == "UNSUPPORTED_MEDIA_TYPE"
    assert offset_of(api, path) == 0


@pytest.mark.parametrize("version", ["1.0.0, 1.0.0", "1.0.0-rc1", "1.0.00", "10.0.0", ""])
def test_a_patch_with_another_tus_resumable_is_412_and_writes_nothing(
    api: HostileApi, version: str
) -> None:
    path = create(api, 10, filename="a.mp4")
    headers = {**api.alice.headers, **OCTETS, "Tus-Resumable": version, "Upload-Offset": "0"}
    response = raw_request(api, "PATCH", path, headers, b"0123456789")
    assert response.error_code(412) == "INVALID_REQUEST"
    assert response.headers["tus-version"] == "1.0.0"
    assert offset_of(api, path) == 0


def test_a_patch_declaring_more_than_remains_is_413_before_its_body_is_read(
    api: HostileApi,
) -> None:
    path = create(api, 10, filename="a.mp4")
    headers = {
        **api.alice.headers,
        **TUS_V1,
        **OCTETS,
        "Upload-Offset": "0",
        "Content-Length": str(50 * MAX_FILE_BYTES),
    }
    with api.connect() as sock:
        sock.sendall(request_head("PATCH", path, headers) + b"x" * 1000)
        response = read_response(sock, timeout=5)
        assert response.error_code(413) == "PAYLOAD_TOO_LARGE"
        assert response.headers["connection"] == "close"
        assert closed_within(sock, 2)[0]
    assert offset_of(api, path) == 0


# -- another tenant's upload ----------------------------------------------------------------


def test_another_tenants_finished_upload_tells_nothing_and_cannot_be_touched(
    api: HostileApi,
) -> None:
    path = create(api, 4, title="Alice's")
    done = raw_request(
        api, "PATCH", path, {**api.alice.headers, **TUS_V1, **OCTETS, "Upload-Offset": "0"}, b"abcd"
    )
    assert done.status == 204 and "vodforge-video-id" in done.headers
    before = snapshot(api.root)
    bob = {**api.bob.headers, **TUS_V1}
    calls = [
        raw_request(api, "HEAD", path, bob),
        raw_request(api, "PATCH", path, {**bob, **OCTETS, "Upload-Offset": "4"}, b""),
        raw_request(api, "PATCH", path, {**bob, **OCTETS, "Upload-Offset": "4"}, b"more"),
        raw_request(api, "DELETE", path, bob),
    ]
    for response in calls:
        assert response.status == 404
        assert "vodforge-video-id" not in response.headers
        assert "upload-offset" not in response.headers
        assert "upload-metadata" not in response.headers
    assert snapshot(api.root) == before
    # Still alice's record of her video.
    mine = raw_request(api, "HEAD", path, {**api.alice.headers, **TUS_V1})
    assert mine.headers["vodforge-video-id"] == done.headers["vodforge-video-id"]
