"""Path traversal in every name, key and id a client controls: multipart file names and
titles, tus Upload-Metadata, direct-upload file names, the ids in video, tus and webhook
delivery paths, and the file path of the signed play route (`..`, percent-encoded and
double-encoded, backslashes, absolute paths, NUL, and symlinks inside local storage that lead
out of it). Names are kept as text and never steer where bytes go: the only files a request
adds are the ones the API itself names under the data dir, nothing outside it is read, and
every id or path that names nothing is a clean 4xx, never a 500."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.support.databases import SqliteDatabases
from tests.support.hostile import (
    FORM,
    OCTETS,
    TUS,
    TUS_V1,
    HostileApi,
    file_form,
    form_end,
    hostile_api,
    metadata,
    new_files,
    part,
    raw_request,
    snapshot,
)
from tests.support.playback import package_files, package_of, ready_with_files
from tests.support.s3server import aws_test_env

SECRET = b"the contents of a file outside the data dir"

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "....//....//etc/passwd.mp4",
    "..%c0%af..%c0%afboot.ini",
    "video.mp4/../../../../tmp/evil.sh",
    "~/.ssh/authorized_keys",
    "file:///etc/shadow",
    "..",
    ".",
    ".hidden.mp4",
]

# A source key is the video's own prefix, "source." and a short alphanumeric extension.
SOURCE_KEY = re.compile(r"data/storage/videos/[0-9a-f-]{36}/source\.[a-z0-9]{1,8}")


@pytest.fixture
def api(tmp_path: Path, sqlite_databases: SqliteDatabases) -> Iterator[HostileApi]:
    with hostile_api(tmp_path, sqlite_databases) as api:
        # Something to steal, beside the data dir.
        (tmp_path / "secret.txt").write_bytes(SECRET)
        yield api


def source_files(added: set[str]) -> set[str]:
    return {name for name in added if SOURCE_KEY.fullmatch(name)}


# -- names that arrive with uploads ---------------------------------------------------------


def test_multipart_file_names_and_titles_never_steer_where_bytes_go(api: HostileApi) -> None:
    before = snapshot(api.root)
    content = b"the uploaded bytes"
    with api.client() as client:
        for name in HOSTILE_NAMES:
            # As the title and the file name, then as the file name alone (the title then).
            for form in (part("title", name.encode()), b""):
                response = client.post(
                    "/v1/videos",
                    headers={**api.alice.headers, "Content-Type": FORM},
                    content=form + part("file", content, name) + form_end(),
                )
                assert response.status_code == 201, (name, response.text)
                video = response.json()
                if form:
                    assert video["title"] == name  # kept as the text it is
                key = api.components.videos_repo.get_video(video["id"]).source_key
                assert key is not None and key.startswith(f"videos/{video['id']}/source.")
                assert api.components.storage.read_bytes(key) == content

    added = new_files(before, api.root)
    # Exactly one stored source per upload, each where the API names it; nothing else anywhere.
    assert added == source_files(added) and len(added) == 2 * len(HOSTILE_NAMES)
    assert api.components.uploads.staging_dir.is_dir()
    assert list(api.components.uploads.staging_dir.iterdir()) == []
    assert (api.root / "secret.txt").read_bytes() == SECRET


def test_tus_metadata_names_never_steer_where_bytes_go(api: HostileApi) -> None:
    before = snapshot(api.root)
    for name in HOSTILE_NAMES:
        headers = {
            **api.alice.headers,
            **TUS_V1,
            "Upload-Length": "5",
            "Upload-Metadata": metadata(filename=name, title=name),
        }
        created = raw_request(api, "POST", TUS, headers)
        assert created.status == 201, (name, created.body)
        path = urlsplit(created.headers["location"]).path
        patch = {**api.alice.headers, **TUS_V1, **OCTETS, "Upload-Offset": "0"}
        done = raw_request(api, "PATCH", path, patch, b"bytes")
        assert done.status == 204, (name, done.body)
        video = api.components.videos_repo.get_video(done.headers["vodforge-video-id"])
        assert video.title == name

    added = new_files(before, api.root)
    records = {name for name in added if name.startswith("data/uploads/tus/")}
    # Each upload stays as a record of its video (info and lock, under its own id) until it
    # expires; the bytes moved into storage under the video's own key.
    assert all(
        re.fullmatch(r"data/uploads/tus/[0-9a-f]{32}/(info\.json|lock)", name) for name in records
    )
    assert len(records) == 2 * len(HOSTILE_NAMES)
    assert added - records == source_files(added) and len(source_files(added)) == len(HOSTILE_NAMES)


def test_direct_upload_file_names_never_reach_the_object_key(
    tmp_path: Path, sqlite_databases: SqliteDatabases
) -> None:
    # Presigning is local to boto3: the endpoint is never contacted.
    storage = {
        "VODFORGE_STORAGE_URL": "s3://vod-bucket/deploy",
        "VODFORGE_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    with aws_test_env(), hostile_api(tmp_path, sqlite_databases, **storage) as api:
        before = snapshot(api.root)
        with api.client() as client:
            for name in HOSTILE_NAMES:
                body = {"title": name, "size": 10, "filename": name}
                response = client.post("/v1/uploads", headers=api.alice.headers, json=body)
                assert response.status_code == 201, (name, response.text)
                started = response.json()
                video_id = started["video"]["id"]
                assert started["video"]["title"] == name
                url = urlsplit(started["upload"]["url"])
                assert re.fullmatch(
                    rf"/vod-bucket/deploy/videos/{video_id}/source\.[a-z0-9]{{1,8}}", url.path
                ), (name, url.path)
        assert new_files(before, api.root) == set()


def test_direct_upload_names_on_local_storage_create_nothing(api: HostileApi) -> None:
    before = snapshot(api.root)
    with api.client() as client:
        for name in HOSTILE_NAMES:
            body = {"title": name, "size": 10, "filename": name}
            response = client.post("/v1/uploads", headers=api.alice.headers, json=body)
            assert response.status_code == 409, (name, response.text)
    assert snapshot(api.root) == before
    assert api.video_count() == 0


# -- ids in paths ---------------------------------------------------------------------------

HOSTILE_IDS = [
    "..",
    "%2e%2e",
    "%252e%252e",
    "..%2f..%2f..%2fsecret.txt",
    "..%5c..%5csecret.txt",
    "%2e%2e%2f%2e%2e%2fdata%2fvodforge.db",
    "%00",
    "a%00b",
    "%2fetc%2fpasswd",
    "' OR '1'='1",
    "x" * 300,
]


def assert_clean_4xx(response_status: int, body: bytes, where: str) -> None:
    assert 400 <= response_status < 500, (where, response_status, body[:300])
    assert SECRET not in body and b"root:" not in body, where


def test_hostile_ids_in_every_path_name_nothing(api: HostileApi) -> None:
    # Something of alice's behind each route, so a hostile id that resolved would show.
    with api.client() as client:
        client.post(
            "/v1/videos", headers={**api.alice.headers, "Content-Type": FORM}, content=file_form()
        )
    created = raw_request(api, "POST", TUS, {**api.alice.headers, **TUS_V1, "Upload-Length": "9"})
    upload_id = urlsplit(created.headers["location"]).path.rsplit("/", 1)[1]
    before = snapshot(api.root)
    alice = api.alice.headers
    for raw in HOSTILE_IDS:
        hostile = quote(raw, safe="%/") if raw.startswith("'") else raw
        calls = [
            ("GET", f"/v1/videos/{hostile}", alice),
            ("GET", f"/v1/videos/{hostile}/events", alice),
            ("POST", f"/v1/videos/{hostile}/cancel", alice),
            ("POST", f"/v1/videos/{hostile}/retry", alice),
            ("POST", f"/v1/videos/{hostile}/complete", alice),
            ("DELETE", f"/v1/videos/{hostile}", alice),
            ("HEAD", f"{TUS}/{hostile}", {**alice, **TUS_V1}),
            ("PATCH", f"{TUS}/{hostile}", {**alice, **TUS_V1, **OCTETS, "Upload-Offset": "0"}),
            ("DELETE", f"{TUS}/{hostile}", {**alice, **TUS_V1}),
            ("GET", f"/v1/webhooks/deliveries/{hostile}", alice),
            ("POST", f"/v1/webhooks/deliveries/{hostile}/redeliver", alice),
        ]
        for method, target, headers in calls:
            response = raw_request(api, method, target, headers)
            assert_clean_4xx(response.status, response.body, f"{method} {target}")
            if method != "HEAD" and response.status != 400:  # uvicorn's own 400 is plain
                assert response.error_code(response.status)
    # An id glued to a real one by dot segments is no id either.
    for target in (f"{TUS}/{upload_id}/..", f"{TUS}/{upload_id}%2f..%2f{upload_id}"):
        response = raw_request(api, "HEAD", target, {**alice, **TUS_V1})
        assert_clean_4xx(response.status, response.body, target)
    assert snapshot(api.root) == before
    assert api.video_count() == 1


# -- the signed play route ------------------------------------------------------------------

PLAY_PATHS = [
    "../master.m3u8",
    "360p/../master.m3u8",
    "../../../../../../secret.txt",
    "..%2f..%2f..%2f..%2f..%2f..%2fsecret.txt",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "%252e%252e%252f%252e%252e%252fsecret.txt",
    "..%255c..%255csecret.txt",
    "..\\..\\..\\secret.txt",
    "..%5c..%5c..%5csecret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "master.m3u8%00.jpg",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    "..;/..;/secret.txt",
    ".hidden",
    "360p//index.m3u8",
    "",
]


@pytest.fixture
def play_base(api: HostileApi) -> str:
    """`/v1/play/{video}/{token}/` of a READY video of alice's, on local storage."""
    video_id = ready_with_files(api.components, api.alice.key, package_files())
    with api.client() as client:
        body = client.get(f"/v1/videos/{video_id}", headers=api.alice.headers).json()
    return "/".join(urlsplit(body["playback_url"]).path.split("/")[:5]) + "/"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_play_paths_that_leave_the_package_are_404(
    api: HostileApi, play_base: str, method: str
) -> None:
    assert raw_request(api, method, play_base + "master.m3u8").status == 200
    for path in PLAY_PATHS:
        response = raw_request(api, method, play_base + path)
        assert response.status == 404, (path, response.status, response.body[:300])
        if method == "GET":
            assert response.error_code(404) == "NOT_FOUND"
            assert SECRET not in response.body, path


def test_hostile_video_ids_and_tokens_on_the_play_route(api: HostileApi, play_base: str) -> None:
    _, _, _, video_id, token, _ = play_base.split("/")
    for bad in ("..", "%2e%2e", "..%2f..%2f..%2f", "%252e%252e"):
        for target in (
            f"/v1/play/{bad}/{token}/master.m3u8",
            f"/v1/play/{video_id}/{bad}/master.m3u8",
            f"/v1/play/{video_id}/{token}%2f..%2f..%2f{bad}/master.m3u8",
        ):
            response = raw_request(api, "GET", target)
            assert response.status in (403, 404), (target, response.status)
            assert response.error_code(response.status) in ("FORBIDDEN", "NOT_FOUND")


def test_a_symlink_inside_the_package_that_leads_out_of_storage_is_404(
    api: HostileApi, play_base: str
) -> None:
    video_id = play_base.split("/")[3]
    package = api.storage_dir / package_of(api.components, video_id)["prefix"]
    secret = api.root / "secret.txt"
    # As if planted by someone with a shell on the host, or restored from a careless backup.
    os.symlink(secret, package / "poster2.jpg")
    os.symlink(api.root, package / "escape")
    os.symlink("../../../../../../secret.txt", package / "relative.m3u8")
    os.symlink(Path("/etc/passwd"), package / "passwd.m3u8")
    for path in ("poster2.jpg", "escape/secret.txt", "relative.m3u8", "passwd.m3u8"):
        for method in ("GET", "HEAD"):
            response = raw_request(api, method, play_base + path)
            assert response.status == 404, (path, method, response.status, response.body[:300])
            assert SECRET not in response.body and b"root:" not in response.body
    # A symlink that stays inside the storage root is just another name for a stored file.
    os.symlink(package / "master.m3u8", package / "alias.m3u8")
    assert raw_request(api, "GET", play_base + "alias.m3u8").status == 200
