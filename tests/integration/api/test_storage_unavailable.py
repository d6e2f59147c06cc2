"""Storage failing for now during an upload (found by the fault matrix: an upload during an S3
outage answered 500): the API says 503 with Retry-After, keeps the stable STORAGE_ERROR code,
and leaves no video and no staging file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import TenantKey
from vodforge.bootstrap import Components
from vodforge.errors import ErrorCode, PermanentError, RetryableError


def test_an_upload_while_storage_is_down_is_503_with_retry_after(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(key: str, path: Path) -> None:
        raise RetryableError(
            "cannot put the source: endpoint unreachable", code=ErrorCode.STORAGE_ERROR
        )

    monkeypatch.setattr(components.videos.storage, "move_file", unreachable)
    response = client.post(
        "/v1/videos",
        headers=alice.headers,
        files={"file": ("clip.mp4", b"\0" * 1024, "video/mp4")},
    )
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "STORAGE_ERROR"
    assert client.get("/v1/videos", headers=alice.headers).json()["items"] == []
    staging = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and "staging" in str(p)]
    assert staging == []


def test_a_permanent_storage_error_stays_500(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(key: str, path: Path) -> None:
        raise PermanentError("access denied", code=ErrorCode.STORAGE_ERROR)

    monkeypatch.setattr(components.videos.storage, "move_file", refused)
    response = client.post(
        "/v1/videos",
        headers=alice.headers,
        files={"file": ("clip.mp4", b"\0" * 1024, "video/mp4")},
    )
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert response.json()["error"]["code"] == "STORAGE_ERROR"
