"""Secrets never reach the logs or error bodies: a full flow at DEBUG leaves no token behind."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.helpers import PASSWORD


def test_no_secret_in_logs_or_errors(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signed = client.post(
        "/api/auth/signup", json={"email": "log@example.com", "password": PASSWORD}
    )
    token = signed.json()["data"]["token"]
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    key = client.post("/api/keys", headers=headers, json={"name": "k"}).json()["data"]["key"]
    key_id = client.get("/api/keys", headers=headers).json()["data"][0]["id"]
    client.delete(f"/api/keys/{key_id}", headers=headers)
    bodies = [
        client.get("/api/account", headers={"X-API-Key": key}).text,  # revoked key
        client.get("/api/account", headers={"X-API-Key": key[:-1] + "x"}).text,  # bad checksum
        client.get(f"/api/account?api_key={key}").text,
        client.post(
            "/api/auth/login", json={"email": "log@example.com", "password": "wrong!!"}
        ).text,
        client.get("/api/account", headers={"Authorization": f"Bearer {token}x"}).text,
    ]
    # The test's own HTTP client logs the URLs it requests; only the server's records count.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    for secret in (token, key, PASSWORD):
        assert secret not in logged
        for body in bodies:
            assert secret not in body
