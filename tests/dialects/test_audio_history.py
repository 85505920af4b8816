"""Seed 001 history (``GET /api/audio/history``): the caller's own operations in the seed's
AudioHistoryItem shape, paged and filtered by type.

TTS records come from real calls of ``/api/audio/tts/synthesize`` (on the fake engines); the
other kinds are written straight into the history (the read model this route presents), so
these tests do not depend on the ASR and voice routes.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.accounts.models import User
from api.db import Database
from api.history import service as history
from api.http.routes import audio_tts
from tests.dialects.conftest import Account
from tests.dialects.envelope import assert_envelope_error as assert_error
from tests.dialects.envelope import assert_ok as data_of

HISTORY = "/api/audio/history"
SEED_TTS = audio_tts.SEED_EXAMPLE
SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
COMMON = {"id", "type", "model_name", "input_data", "duration", "bill", "record_status"}


def user_id(db: Database, account: Account) -> int:
    email = account.session["X-Test-Email"]
    with db.read() as session:
        found = session.exec(select(User).where(User.email == email)).one().id
    assert found is not None
    return found


def synthesize(client: TestClient, account: Account, text: str | None = None) -> dict[str, Any]:
    body = {**SEED_TTS, **({"text": text} if text else {})}
    response = client.post("/api/audio/tts/synthesize", headers=account.bearer, json=body)
    return data_of(response)


def other_records(db: Database, account: Account) -> dict[str, int]:
    """An ASR, an emotion and two voice enrolment records, written as the use cases write them."""
    uid = user_id(db, account)
    with db.write() as session:
        asr = history.record(
            session,
            user_id=uid,
            type="asr",
            model="qwen3-asr-flash",
            input_summary={"audio_url": "https://xxx/input.mp3"},
            output_text="欢迎使用语音识别服务。",
            duration_ms=3000,
            cost_micros=1200,
        )
        sed = history.record(
            session,
            user_id=uid,
            type="sed",
            model="Zipformer-SED",
            input_summary={"bytes": 48000},
            output_text="happy",
            duration_ms=1500,
            cost_micros=5000,
        )
        voice = history.record(
            session,
            user_id=uid,
            type="voice",
            model="cosyvoice-v3-plus",
            voice="cosyvoice-v3-plus-myvoice-1a2b3c4d",
            input_summary={"prefix": "myvoice"},
            output_text="OK",
            duration_ms=12000,
        )
        deploying = history.record(
            session,
            user_id=uid,
            type="voice",
            model="cosyvoice-v3-plus",
            voice="cosyvoice-v3-plus-second-5e6f7a8b",
            input_summary={"prefix": "second"},
            status="pending",
        )
        ids = {"asr": asr.id, "sed": sed.id, "voice": voice.id, "deploying": deploying.id}
    return {name: value for name, value in ids.items() if value is not None}


def test_the_seed_examples_list_every_kind_in_its_shape(
    client: TestClient, account: Account, db: Database
) -> None:
    tts = synthesize(client, account)
    ids = other_records(db, account)

    page = data_of(client.get(f"{HISTORY}?page=1&page_size=20", headers=account.bearer))
    assert (page["total"], page["page"], page["page_size"]) == (5, 1, 20)
    items = {item["id"]: item for item in page["items"]}
    assert [item["id"] for item in page["items"]] == sorted(items, reverse=True)  # newest first

    spoken = items[tts["record_id"]]
    assert set(spoken) == COMMON | {"output_url", "characters", "created_at"}
    assert spoken["type"] == "tts" and spoken["model_name"] == "cosyvoice-v3-flash"
    assert json.loads(spoken["input_data"]) == {"text": SEED_TTS["text"], "voice": "longanyang"}
    assert spoken["input_data"].startswith('{"text": "你好')  # a JSON string, as in the seed
    assert (spoken["duration"], spoken["bill"]) == (tts["duration"], tts["bill"])
    assert spoken["characters"] == tts["characters"] and spoken["record_status"] == "succeeded"
    assert SEED_TIME.match(spoken["created_at"])
    url = urlsplit(spoken["output_url"])
    assert (url.scheme, url.netloc) == ("http", "testserver")
    stored = client.get(f"{url.path}?{url.query}")
    assert stored.status_code == 200 and stored.headers["content-type"] == "audio/mpeg"

    heard = items[ids["asr"]]
    assert set(heard) == COMMON | {"output_text", "created_at"}
    assert heard["output_text"] == "欢迎使用语音识别服务。"
    assert json.loads(heard["input_data"]) == {"audio_url": "https://xxx/input.mp3"}
    assert (heard["duration"], heard["bill"]) == (3.0, "0.0012")
    assert items[ids["sed"]]["output_text"] == "happy"

    cloned = items[ids["voice"]]
    assert set(cloned) == COMMON | {"voice_id", "status", "created_at"}
    assert cloned["voice_id"] == "cosyvoice-v3-plus-myvoice-1a2b3c4d"
    assert (cloned["status"], cloned["bill"]) == ("OK", "0.0000")
    assert json.loads(cloned["input_data"]) == {"prefix": "myvoice"}
    waiting = items[ids["deploying"]]
    assert (waiting["status"], waiting["record_status"]) == ("DEPLOYING", "pending")

    only_tts = data_of(
        client.get(f"{HISTORY}?type=tts&page=1&page_size=10", headers=account.bearer)
    )
    assert (only_tts["total"], only_tts["page_size"]) == (1, 10)
    assert [item["id"] for item in only_tts["items"]] == [tts["record_id"]]
    for kind, expected in (("asr", 1), ("voice", 2), ("sed", 1)):
        listed = data_of(client.get(HISTORY, params={"type": kind}, headers=account.headers))
        assert listed["total"] == expected
        assert {item["type"] for item in listed["items"]} == {kind}


def test_pages_and_defaults(client: TestClient, account: Account) -> None:
    made = [synthesize(client, account, f"第{n}句话。")["record_id"] for n in range(3)]
    first = data_of(client.get(HISTORY, params={"page_size": 2}, headers=account.headers))
    second = data_of(
        client.get(HISTORY, params={"page": 2, "page_size": 2}, headers=account.headers)
    )
    assert (first["total"], second["total"], first["page"], second["page"]) == (3, 3, 1, 2)
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == list(reversed(made))
    default = data_of(client.get(HISTORY, headers=account.headers))
    assert (default["page"], default["page_size"], len(default["items"])) == (1, 20, 3)
    beyond = data_of(client.get(HISTORY, params={"page": 9}, headers=account.headers))
    assert (beyond["items"], beyond["total"]) == ([], 3)


def test_only_the_callers_own_records(
    client: TestClient, account: Account, make_account: Any, db: Database
) -> None:
    synthesize(client, account)
    other_records(db, account)
    stranger = make_account()
    empty = data_of(client.get(HISTORY, headers=stranger.headers))
    assert (empty["items"], empty["total"]) == ([], 0)
    # The console's login token sees the same records as the account's API key.
    by_session = data_of(client.get(HISTORY, headers=account.session))
    by_key = data_of(client.get(HISTORY, headers=account.headers))
    assert [i["id"] for i in by_session["items"]] == [i["id"] for i in by_key["items"]]
    assert by_key["total"] == 5


@pytest.mark.parametrize(
    "params",
    [{"type": "video"}, {"page": 0}, {"page_size": 0}, {"page_size": 101}, {"page": "one"}],
)
def test_bad_parameters_are_400(
    client: TestClient, account: Account, params: dict[str, Any]
) -> None:
    assert_error(client.get(HISTORY, params=params, headers=account.headers), 400, "INVALID_INPUT")


def test_credentials_and_scope(client: TestClient, make_account: Any) -> None:
    assert_error(client.get(HISTORY), 401, "UNAUTHORIZED")
    assert_error(client.get(HISTORY, headers={"X-API-Key": "sk-nope"}), 401, "UNAUTHORIZED")
    tts_only = make_account(scopes=["tts"])
    assert_error(client.get(HISTORY, headers=tts_only.headers), 403, "SCOPE_DENIED")
