"""Seed 001 voice cloning and voices over HTTP (``/api/audio/voice``): golden requests and answers.

Samples are real speech (espeak-ng reading a short story), since every sample is checked against
the seed's audio requirements before anything is stored; the enrolment itself runs on the fake
clone engine (``finish_jobs`` plays the worker).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api import audio
from api.db import Database
from api.engines.base import Pcm
from api.errors import InvalidInputError
from api.voices import service as voices
from tests.dialects import test_audio_asr
from tests.dialects.conftest import Account
from tests.dialects.test_audio_asr import (
    AudioServer,
    assert_envelope_error,
    assert_ok,
    history_items,
    micros,
    revoke,
    user_of,
    wav,
)
from tests.speech.conftest import Fakes

# The loopback audio server on the operator allowlist, as in the ASR tests.
settings = test_audio_asr.settings
audio_server = test_audio_asr.audio_server

VOICE_ITEM_KEYS = {"voice_id", "status", "target_model", "prefix", "gmt_create", "gmt_modified"}


@functools.cache
def sample_wav() -> bytes:
    """About 12 s of a female espeak voice reading a story, as a 16 kHz WAV."""
    from tests.engines import speech_samples as samples

    speech = samples.espeak(samples.REFERENCE_STORY, "en-us+f3", rate=140)
    return audio.encode(speech, "wav", sample_rate=16000)


def create(client: TestClient, account: Account, prefix: str = "myvoice", **fields: str) -> Any:
    form = {"target_model": "cosyvoice-v3-plus", "prefix": prefix, **fields}
    response = client.post(
        "/api/audio/voice/create",
        headers=account.headers,
        data=form,
        files={"file": ("sample.wav", sample_wav(), "audio/wav")},
    )
    return assert_ok(response)


def add_voices(db: Database, account: Account, specs: list[tuple[str, str]]) -> list[str]:
    """Voices straight into the table (for paging and the quota)."""
    user_id = user_of(db, account).id
    assert user_id is not None
    ids = []
    with db.write() as session:
        for prefix, model in specs:
            voice = voices.create_voice(
                session, user_id=user_id, prefix=prefix, target_model=model, sample_key=None
            )
            ids.append(voice.voice_id)
    return ids


# --- the clone lifecycle -----------------------------------------------------------------------


def test_clone_lifecycle_create_deploy_read_update_delete(
    client: TestClient, account: Account, db: Database, finish_jobs: Any
) -> None:
    before = micros(db, account)
    created = create(client, account, language_hints="en")
    voice_id = created["voice_id"]
    assert voice_id.startswith("cosyvoice-v3-plus-myvoice-") and len(voice_id) == 34
    assert created == {
        "voice_id": voice_id,
        "status": "DEPLOYING",
        "target_model": "cosyvoice-v3-plus",
        "record_id": created["record_id"],
    }
    path = f"/api/audio/voice/{voice_id}"
    deploying = assert_ok(client.get(path, headers=account.headers))
    assert deploying["status"] == "DEPLOYING" and deploying["language_hints"] == ["en"]

    finish_jobs()

    voice = assert_ok(client.get(path, headers=account.bearer))
    assert voice["status"] == "OK" and voice["target_model"] == "cosyvoice-v3-plus"
    assert set(voice) == VOICE_ITEM_KEYS | {"resource_link", "language_hints"}
    assert len(voice["gmt_create"]) == 19 and voice["gmt_modified"] >= voice["gmt_create"]
    sample = client.get(voice["resource_link"])
    assert voice["resource_link"].startswith("http://testserver/files/")
    assert sample.status_code == 200 and sample.content == sample_wav()

    listed = assert_ok(client.get("/api/audio/voice/list", headers=account.headers))
    assert listed["total"] == 1
    assert listed["voices"] == [{k: voice[k] for k in VOICE_ITEM_KEYS}]

    # A new sample (multipart) deploys again; a JSON prefix renames; the id stays.
    response = client.put(
        path, headers=account.headers, files={"file": ("new.wav", sample_wav(), "audio/wav")}
    )
    assert assert_ok(response) == {"voice_id": voice_id, "status": "DEPLOYING", "prefix": "myvoice"}
    finish_jobs()
    assert assert_ok(client.get(path, headers=account.headers))["status"] == "OK"
    renamed = assert_ok(client.put(path, headers=account.headers, json={"prefix": "renamed"}))
    assert renamed == {"voice_id": voice_id, "status": "OK", "prefix": "renamed"}
    assert assert_ok(client.get(path, headers=account.headers))["prefix"] == "renamed"

    deleted = client.delete(path, headers=account.headers)
    assert assert_ok(deleted) is None
    assert_envelope_error(client.get(path, headers=account.headers), 404, "VOICE_NOT_FOUND")
    assert client.get(voice["resource_link"]).status_code == 404  # the sample went too
    assert micros(db, account) == before  # enrolment is free

    items = history_items(client, account, "voice")
    assert [(item["type"], item["status"]) for item in items] == [("voice", "succeeded")] * 2
    # An enrolment job is not a transcription task.
    response = client.get(f"/api/audio/asr/task/{items[0]['job_id']}", headers=account.headers)
    assert_envelope_error(response, 404, "TASK_NOT_FOUND")


def test_create_from_the_seed_json_example_with_an_audio_url(
    client: TestClient, account: Account, audio_server: AudioServer, finish_jobs: Any
) -> None:
    url = audio_server.serve("/audio/sample.wav", sample_wav())
    body = {"target_model": "cosyvoice-v3-plus", "prefix": "myvoice", "audio_url": url}
    created = assert_ok(client.post("/api/audio/voice/create", headers=account.bearer, json=body))
    assert created["status"] == "DEPLOYING" and created["target_model"] == "cosyvoice-v3-plus"
    assert audio_server.hits == ["/audio/sample.wav"]
    finish_jobs()
    path = f"/api/audio/voice/{created['voice_id']}"
    assert assert_ok(client.get(path, headers=account.headers))["status"] == "OK"
    # Update by URL as the seed documents it.
    response = client.put(path, headers=account.headers, json={"audio_url": url})
    assert assert_ok(response)["status"] == "DEPLOYING"
    [item, _] = history_items(client, account, "voice")
    assert item["input"]["prefix"] == "myvoice"


def test_a_voice_refused_by_its_check_is_undeployed_with_the_reason(
    client: TestClient, account: Account, fakes: Fakes, finish_jobs: Any
) -> None:
    fakes.clone.fail = InvalidInputError("The sample has two speakers.")
    created = create(client, account, prefix="twospk")
    finish_jobs()
    voice = assert_ok(
        client.get(f"/api/audio/voice/{created['voice_id']}", headers=account.headers)
    )
    assert voice["status"] == "UNDEPLOYED" and voice["reason"] == "The sample has two speakers."
    listed = assert_ok(client.get("/api/audio/voice/list", headers=account.headers))
    assert listed["voices"][0]["reason"] == "The sample has two speakers."


def test_a_sample_that_fails_the_checks_is_400_with_the_reasons(
    client: TestClient, account: Account, audio_server: AudioServer, db: Database
) -> None:
    before = micros(db, account)
    silent = audio.encode(Pcm(np.zeros(16000 * 15, np.int16), 16000), "wav")
    for name, content, reason in (
        ("short.wav", wav(3.0), "10–60 s"),
        ("silent.wav", silent, "silent"),
    ):
        response = client.post(
            "/api/audio/voice/create",
            headers=account.headers,
            data={"target_model": "cosyvoice-v3-flash", "prefix": "bad"},
            files={"file": (name, content, "audio/wav")},
        )
        body = assert_envelope_error(response, 400, "INVALID_AUDIO")
        assert reason in body["message"]
    url = audio_server.serve("/short.wav", wav(3.0))
    body = {"target_model": "cosyvoice-v3-flash", "prefix": "bad", "audio_url": url}
    response = client.post("/api/audio/voice/create", headers=account.headers, json=body)
    assert_envelope_error(response, 400, "INVALID_AUDIO")
    assert micros(db, account) == before
    assert assert_ok(client.get("/api/audio/voice/list", headers=account.headers))["total"] == 0


def test_create_refuses_bad_input(
    client: TestClient, account: Account, audio_server: AudioServer, db: Database
) -> None:
    url = audio_server.serve("/s.wav", sample_wav())
    good = {"target_model": "cosyvoice-v3-plus", "prefix": "ok", "audio_url": url}
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"json": {**good, "target_model": "qwen3-asr-flash"}}, 400, "INVALID_MODEL"),
        ({"json": {**good, "target_model": "nope"}}, 400, "INVALID_MODEL"),
        ({"json": {**good, "prefix": "has-dash"}}, 400, "INVALID_INPUT"),
        ({"json": {**good, "prefix": "much_too_long"}}, 400, "INVALID_INPUT"),
        ({"json": {**good, "language_hints": ["xx"]}}, 400, "INVALID_INPUT"),
        ({"json": {**good, "language_hints": "en"}}, 400, "INVALID_INPUT"),
        ({"json": {k: v for k, v in good.items() if k != "audio_url"}}, 400, "INVALID_INPUT"),
        ({"json": {k: v for k, v in good.items() if k != "prefix"}}, 400, "INVALID_INPUT"),
        ({"json": {**good, "audio_url": "http://169.254.169.254/x"}}, 400, "INVALID_URL"),
        ({"data": {"target_model": "cosyvoice-v3-plus", "prefix": "ok"}}, 400, "INVALID_INPUT"),
        (  # a file and a URL at once
            {
                "data": good,
                "files": {"file": ("s.wav", sample_wav(), "audio/wav")},
            },
            400,
            "INVALID_INPUT",
        ),
        (
            {
                "data": {"target_model": "cosyvoice-v3-plus", "prefix": "ok"},
                "files": {"file": ("s.wav", b"PK\x03\x04" + b"\0" * 500, "audio/wav")},
            },
            415,
            "UNSUPPORTED_MEDIA",
        ),
        (
            {
                "data": {"target_model": "cosyvoice-v3-plus", "prefix": "ok"},
                "files": {"file": ("s.wav", b"\0" * (10 * 1024 * 1024 + 1), "audio/wav")},
            },
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ]
    for keywords, status, code in cases:
        response = client.post("/api/audio/voice/create", headers=account.headers, **keywords)
        assert_envelope_error(response, status, code)
    assert assert_ok(client.get("/api/audio/voice/list", headers=account.headers))["total"] == 0


def test_multipart_language_hints_are_comma_separated(client: TestClient, account: Account) -> None:
    created = create(client, account, prefix="hints", language_hints="en, fr")
    voice = assert_ok(
        client.get(f"/api/audio/voice/{created['voice_id']}", headers=account.headers)
    )
    assert voice["language_hints"] == ["en", "fr"]


def test_the_thousandth_voice_is_the_last(
    client: TestClient, account: Account, db: Database
) -> None:
    add_voices(db, account, [(f"v{i}", "cosyvoice-v2") for i in range(voices.VOICE_QUOTA)])
    response = client.post(
        "/api/audio/voice/create",
        headers=account.headers,
        data={"target_model": "cosyvoice-v3-plus", "prefix": "onemore"},
        files={"file": ("sample.wav", sample_wav(), "audio/wav")},
    )
    assert_envelope_error(response, 400, "VOICE_LIMIT_EXCEEDED")
    listed = assert_ok(client.get("/api/audio/voice/list", headers=account.headers))
    assert listed["total"] == voices.VOICE_QUOTA


# --- listing -----------------------------------------------------------------------------------


def test_list_filters_by_model_and_prefix_and_pages_from_zero(
    client: TestClient, account: Account, make_account: Any, db: Database
) -> None:
    add_voices(
        db,
        account,
        [
            ("myvoice", "cosyvoice-v3-plus"),
            ("test", "cosyvoice-v3-plus"),
            ("test", "cosyvoice-v3-flash"),
            ("other", "cosyvoice-v2"),
            ("test", "cosyvoice-v3-plus"),
        ],
    )
    add_voices(db, make_account(), [("test", "cosyvoice-v3-plus")])  # not ours

    def listed(**params: Any) -> dict[str, Any]:
        return assert_ok(
            client.get("/api/audio/voice/list", params=params, headers=account.headers)
        )

    everything = listed(page=0, page_size=10)
    assert everything["total"] == 5 and len(everything["voices"]) == 5
    assert all(set(v) == VOICE_ITEM_KEYS for v in everything["voices"])
    assert {v["status"] for v in everything["voices"]} == {"DEPLOYING"}
    flash = listed(model="cosyvoice-v3-flash", page=0, page_size=10)
    assert flash["total"] == 1 and flash["voices"][0]["target_model"] == "cosyvoice-v3-flash"
    tests = listed(prefix="test")
    assert tests["total"] == 3
    both = listed(model="cosyvoice-v3-plus", prefix="test", page=0, page_size=10)
    assert both["total"] == 2 and all(v["prefix"] == "test" for v in both["voices"])
    first, second, third = (listed(page=page, page_size=2) for page in range(3))
    assert [len(p["voices"]) for p in (first, second, third)] == [2, 2, 1]
    assert all(p["total"] == 5 for p in (first, second, third))
    ids = [v["voice_id"] for p in (first, second, third) for v in p["voices"]]
    assert ids == [v["voice_id"] for v in everything["voices"]] and len(set(ids)) == 5
    assert listed(model="no-such-model")["total"] == 0
    for bad in ({"page": -1}, {"page_size": 0}, {"page_size": 101}, {"page": "x"}):
        response = client.get("/api/audio/voice/list", params=bad, headers=account.headers)
        assert_envelope_error(response, 400, "INVALID_INPUT")


# --- privacy, auth -----------------------------------------------------------------------------


def test_another_users_voice_is_404_for_every_verb(
    client: TestClient, account: Account, make_account: Any, db: Database
) -> None:
    [voice_id] = add_voices(db, account, [("mine", "cosyvoice-v3-plus")])
    stranger = make_account()
    path = f"/api/audio/voice/{voice_id}"
    for response in (
        client.get(path, headers=stranger.headers),
        client.put(path, headers=stranger.headers, json={"prefix": "theirs"}),
        client.put(
            path,
            headers=stranger.headers,
            files={"file": ("s.wav", sample_wav(), "audio/wav")},
        ),
        client.delete(path, headers=stranger.headers),
        client.get("/api/audio/voice/cosyvoice-v3-plus-nobody-00000000", headers=account.headers),
    ):
        assert_envelope_error(response, 404, "VOICE_NOT_FOUND")
    assert assert_ok(client.get("/api/audio/voice/list", headers=stranger.headers))["total"] == 0
    assert assert_ok(client.get(path, headers=account.headers))["prefix"] == "mine"
    response = client.get("/api/audio/voice/bad id!", headers=account.headers)
    assert_envelope_error(response, 400)


def test_update_needs_something_to_change(
    client: TestClient, account: Account, db: Database
) -> None:
    [voice_id] = add_voices(db, account, [("mine", "cosyvoice-v3-plus")])
    path = f"/api/audio/voice/{voice_id}"
    assert_envelope_error(client.put(path, headers=account.headers, json={}), 400)
    response = client.put(path, headers=account.headers, json={"prefix": "bad-name"})
    assert_envelope_error(response, 400)
    response = client.put(path, headers=account.headers, json={"audio_url": "ftp://x/a.wav"})
    assert_envelope_error(response, 400, "INVALID_URL")
    response = client.put(
        path, headers=account.headers, files={"file": ("s.wav", wav(2.0), "audio/wav")}
    )
    assert_envelope_error(response, 400, "INVALID_AUDIO")
    voice = assert_ok(client.get(path, headers=account.headers))
    assert (voice["prefix"], voice["status"]) == ("mine", "DEPLOYING")


def test_voice_routes_need_a_key_with_the_voice_scope(
    client: TestClient, account: Account, make_account: Any, db: Database
) -> None:
    [voice_id] = add_voices(db, account, [("mine", "cosyvoice-v3-plus")])
    routes = [
        ("GET", "/api/audio/voice/list"),
        ("GET", "/api/audio/voice/system"),
        ("GET", "/api/audio/voice/system/longanyang/preview"),
        ("GET", f"/api/audio/voice/{voice_id}"),
        ("DELETE", f"/api/audio/voice/{voice_id}"),
        ("POST", "/api/audio/voice/create"),
        ("PUT", f"/api/audio/voice/{voice_id}"),
    ]
    asr_only = make_account(scopes=["asr"])
    revoked = make_account()
    revoke(client, revoked)
    for method, path in routes:
        assert_envelope_error(client.request(method, path), 401, "UNAUTHORIZED")
        response = client.request(method, path, headers={"X-API-Key": "sk-wrong"})
        assert_envelope_error(response, 401)
        response = client.request(method, path, headers=asr_only.headers, json={"prefix": "x"})
        assert_envelope_error(response, 403, "SCOPE_DENIED")
        response = client.request(method, path, headers=revoked.headers)
        assert_envelope_error(response, 403, "KEY_REVOKED")
    assert assert_ok(client.get(f"/api/audio/voice/{voice_id}", headers=account.headers))


def test_voice_routes_are_rate_limited_per_key(client: TestClient, make_account: Any) -> None:
    slow = make_account(rpm_limit=1)
    assert_ok(client.get("/api/audio/voice/list", headers=slow.headers))
    response = client.get("/api/audio/voice/list", headers=slow.headers)
    assert_envelope_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) >= 1


# --- system voices -----------------------------------------------------------------------------


def test_system_voices_in_the_seed_shape_with_filters(client: TestClient, account: Account) -> None:
    everything = assert_ok(client.get("/api/audio/voice/system", headers=account.bearer))
    by_id = {v["voice_id"]: v for v in everything}
    longanyang = by_id["longanyang"]
    assert {
        k: longanyang[k]
        for k in ("voice_id", "name", "trait", "age", "category", "languages", "features")
    } == {
        "voice_id": "longanyang",
        "name": "龙安洋",
        "trait": "阳光大男孩",
        "age": "20~30岁",
        "category": "社交陪伴",
        "languages": ["中文(普通话)", "英文"],
        "features": {"ssml": True, "instruct": True, "timestamp": False},
    }
    assert {"cosyvoice-v3-flash", "cosyvoice-v3-plus"} <= set(longanyang["models"])

    params = {"model": "cosyvoice-v3-flash", "category": "社交陪伴"}
    social = assert_ok(client.get("/api/audio/voice/system", params=params, headers=account.bearer))
    assert social and "longanyang" in {v["voice_id"] for v in social}
    assert all(v["category"] == "社交陪伴" and "cosyvoice-v3-flash" in v["models"] for v in social)
    assert len(social) < len(everything)
    params = {"category": "no-such-category"}
    none = assert_ok(client.get("/api/audio/voice/system", params=params, headers=account.bearer))
    assert none == []


def test_system_voice_preview_is_audio(client: TestClient, account: Account, db: Database) -> None:
    before = micros(db, account)
    response = client.get("/api/audio/voice/system/longanyang/preview", headers=account.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert audio.decode(response.content).pcm.duration_ms > 500
    assert micros(db, account) == before  # previews are free
    response = client.get("/api/audio/voice/system/nobody/preview", headers=account.headers)
    assert_envelope_error(response, 400, "INVALID_VOICE")


def test_fixed_paths_are_not_read_as_voice_ids(client: TestClient, account: Account) -> None:
    assert isinstance(assert_ok(client.get("/api/audio/voice/list", headers=account.headers)), dict)
    assert isinstance(
        assert_ok(client.get("/api/audio/voice/system", headers=account.headers)), list
    )
    response = client.get("/api/audio/voice/create", headers=account.headers)
    assert_envelope_error(response, 404, "VOICE_NOT_FOUND")  # GET create: no such voice


@pytest.mark.parametrize("path", ["/api/audio/voice/create", "/api/audio/voice/{voice_id}"])
def test_the_openapi_document_shows_both_request_bodies(client: TestClient, path: str) -> None:
    spec = client.get("/openapi.json").json()
    method = "post" if path.endswith("create") else "put"
    content = spec["paths"][path][method]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = content["multipart/form-data"]["schema"]["properties"]
    assert form["file"]["format"] == "binary"
    if method == "post":
        assert form["language_hints"]["type"] == "string"  # comma-separated in a form
        json_schema = content["application/json"]["schema"]
        assert {"target_model", "prefix"} <= set(json_schema["required"])
        assert "audio_url" in json_schema["properties"]
