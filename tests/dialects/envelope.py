"""Assertions on seed 001's envelope ``{"code", "message", "data"}``, shared by its golden tests."""

from __future__ import annotations

from typing import Any

ENVELOPE_KEYS = {"code", "message", "data"}


def assert_ok(response: Any) -> Any:
    """A 200 envelope with ``message: success``; returns its ``data``."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert (body["code"], body["message"]) == (200, "success")
    return body["data"]


def assert_envelope_error(response: Any, status: int, error_code: str | None = None) -> dict:
    """An error envelope: HTTP status = ``code``, ``data`` null, a message and the error code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == ENVELOPE_KEYS | {"error_code"}
    assert body["code"] == status and body["data"] is None and body["message"]
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body
