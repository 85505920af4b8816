"""User B holding user A's ids gets 404 everywhere, and nothing of A's changes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.db import Database
from api.history import service as history
from api.http.context import AppContext
from api.jobs.service import submit_job
from api.storage import get_object_store
from api.storage.service import store_bytes
from tests.http.conftest import SignUp


def _user_id(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/account", headers=headers).json()["data"]["id"])


@pytest.fixture
def alices_things(
    client: TestClient, sign_up: SignUp, db: Database, context: AppContext
) -> dict[str, Any]:
    alice = sign_up()
    alice_id = _user_id(client, alice)
    key = client.post("/api/keys", headers=alice, json={"name": "alice"}).json()["data"]
    with db.write() as session:
        record = history.record(session, user_id=alice_id, type="tts", model="tts-1", cost_micros=1)
        stored = store_bytes(
            session,
            get_object_store(context.settings),
            user_id=alice_id,
            kind="tts",
            ext="wav",
            data=b"RIFF....WAVE",
            content_type="audio/wav",
        )
        job_id = submit_job(session, user_id=alice_id, kind="noop", payload={}).id
    return {
        "headers": alice,
        "key": key,
        "record_id": record.id,
        "file_key": stored.key,
        "job_id": job_id,
    }


def test_b_gets_404_for_every_id_of_a(
    client: TestClient, sign_up: SignUp, alices_things: dict[str, Any]
) -> None:
    bob = sign_up()
    things = alices_things
    attempts = [
        ("PATCH", f"/api/keys/{things['key']['id']}", {"name": "mine now"}),
        ("DELETE", f"/api/keys/{things['key']['id']}", None),
        ("GET", f"/api/history/{things['record_id']}", None),
        ("GET", f"/api/files/{things['file_key']}", None),
        ("GET", f"/api/jobs/{things['job_id']}", None),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, headers=bob, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == 404

    alice = things["headers"]
    keys = client.get("/api/keys", headers=alice).json()["data"]
    assert keys[0]["name"] == "alice" and keys[0]["status"] == "active"
    assert client.get(f"/api/history/{things['record_id']}", headers=alice).status_code == 200
    owned = client.get(f"/api/files/{things['file_key']}", headers=alice).json()["data"]
    download = client.get(owned["url"].replace("http://testserver", ""))
    assert download.status_code == 200 and download.content == b"RIFF....WAVE"
    assert client.get(f"/api/jobs/{things['job_id']}", headers=alice).status_code == 200
