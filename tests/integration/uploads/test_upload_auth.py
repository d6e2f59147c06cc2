"""Every upload route wants the tenant's bearer key: none, a wrong one or another scheme is a
401 with the error shape and WWW-Authenticate, and nothing is created or changed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import TenantKey
from tests.support.uploads import BOUNDARY, error_code, files_under, multipart_body

V1 = {"Tus-Resumable": "1.0.0"}
BAD = {
    "no key": {},
    "unknown key": {"Authorization": "Bearer vf_" + "x" * 43},
    "basic scheme": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
}
ROUTES = [
    ("POST", "/v1/videos"),
    ("POST", "/v1/uploads"),
    ("POST", "/v1/videos/{video}/complete"),
    ("POST", "/v1/uploads/tus"),
    ("HEAD", "/v1/uploads/tus/{upload}"),
    ("PATCH", "/v1/uploads/tus/{upload}"),
    ("DELETE", "/v1/uploads/tus/{upload}"),
]
REQUEST_HEADERS = {
    "/v1/uploads/tus": {**V1, "Upload-Length": "10"},
    "/v1/uploads/tus/{upload}": {
        **V1,
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    },
}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("credentials", BAD.values(), ids=BAD)
def test_upload_routes_refuse_a_missing_or_wrong_key(
    client: TestClient,
    alice: TenantKey,
    data_dir: Path,
    method: str,
    path: str,
    credentials: dict[str, str],
) -> None:
    created = client.post("/v1/uploads/tus", headers={**alice.headers, **V1, "Upload-Length": "10"})
    upload = created.headers["Location"].rsplit("/", 1)[1]
    url = path.format(video=uuid.uuid4(), upload=upload)
    headers = {**REQUEST_HEADERS.get(path, {}), **credentials}
    body = b"0123456789"
    if path == "/v1/uploads":
        headers["Content-Type"] = "application/json"
        body = b'{"title": "t", "size": 10}'
    elif path == "/v1/videos":
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        body = b"".join(multipart_body([b"x"]))

    response = client.request(method, url, headers=headers, content=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    if method != "HEAD":
        assert error_code(response, 401) == "UNAUTHORIZED"
    # Nothing was made or changed: alice's one upload is as it was.
    status = client.head(f"/v1/uploads/tus/{upload}", headers={**alice.headers, **V1})
    assert status.headers["Upload-Offset"] == "0"
    assert len([p for p in files_under(data_dir / "uploads") if p.name == "info.json"]) == 1
    assert client.get("/v1/videos", headers=alice.headers).json()["items"] == []
