"""The API's one error shape, asserted the same way by every API test."""

from __future__ import annotations

from typing import Any, Protocol


class HasResponse(Protocol):
    status_code: int

    def json(self) -> Any: ...


def assert_error(response: HasResponse, status: int, code: str) -> dict[str, str]:
    """`response` is `status` with body `{"error": {"code": code, "message": <non-empty>}}`."""
    assert response.status_code == status, (response.status_code, response.json())
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    error: dict[str, str] = body["error"]
    return error
