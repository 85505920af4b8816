"""Golden tests of the Amphion platform dialect (seed 000): ``POST /tts/v1/audio/speech`` and
``POST /sed/v1/audio/analyze``.

Request → status, headers, body shape, for the seed's examples and for every error of its
table; failed calls charge nothing, successful ones exactly the per-call price and show up in
the history. The golden tests run on the fake engines; one test speaks with the real ones.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api import audio
from api.billing import ledger
from api.billing.money import format_yuan
from api.db import Database, utcnow
from api.engines.base import EMOTION_LABELS, Pcm
from api.engines.fakes import tone
from api.errors import ServiceUnavailableError, UpstreamError
from api.settings import Settings
from tests.dialects.conftest import Account, balance
from tests.helpers import make_key, make_user
from tests.speech.conftest import Fakes

TTS = "/tts/v1/audio/speech"
SED = "/sed/v1/audio/analyze"
# The body of the seed's curl, Python and JavaScript examples, as written.
SEED_BODY = {"model": "Qwen3-TTS", "input": "你好,欢迎使用 Amphion 开放平台。", "voice": "default"}
MISSING_KEY = "Missing API key. Provide X-API-Key header or Authorization: Bearer <key>."
USAGE = ("X-Cost", "X-Balance-Remaining", "X-Gateway-Overhead-Ms", "X-Request-Id")


# --- helpers (the Fish tests use them too) --------------------------------------------------


def user_id_of(client: TestClient, account: Account) -> int:
    response = client.get("/api/account", headers=account.session)
    return int(response.json()["data"]["id"])


def drain(client: TestClient, db: Database, account: Account, leave_micros: int = 0) -> None:
    """Spend the account's balance down to ``leave_micros``."""
    user_id = user_id_of(client, account)
    with db.write() as session:
        ledger.adjust(
            session,
            user_id,
            leave_micros - ledger.balance_of(session, user_id),
            note="test: drain",
        )


def history_items(client: TestClient, account: Account) -> list[dict[str, Any]]:
    response = client.get("/api/history", headers=account.session)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


def revoke(client: TestClient, account: Account) -> None:
    keys = client.get("/api/keys", headers=account.session).json()["data"]
    for key in keys:
        response = client.delete(f"/api/keys/{key['id']}", headers=account.session)
        assert response.status_code == 200, response.text


def expire_keys_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the key verifier's clock two days ahead: a key valid for one day has expired."""
    import api.keys.service as key_service

    later = utcnow() + timedelta(days=2)
    monkeypatch.setattr(key_service, "utcnow", lambda: later)


def wav_bytes(seconds: float = 2.0, rate: int = 16000) -> bytes:
    return audio.encode(Pcm(tone(int(seconds * rate), rate, 220.0), rate), "wav")


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("audio.wav", b"not really audio" * 100)
    return buffer.getvalue()


def assert_usage_headers(response: Response, cost: str) -> None:
    for name in USAGE:
        assert response.headers.get(name), name
    assert response.headers["X-Cost"] == cost
    assert float(response.headers["X-Gateway-Overhead-Ms"]) >= 0


def assert_detail(response: Response, status: int, contains: str = "") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Request-Id"]
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str) and body["detail"]
    assert contains.lower() in body["detail"].lower()
    detail: str = body["detail"]
    return detail


# --- TTS: success ----------------------------------------------------------------------------


def test_seed_example_returns_mp3_charges_one_call_and_is_in_history(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    before = balance(client, account)
    response = client.post(TTS, headers=account.headers, json=SEED_BODY)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="speech-' in disposition
    assert disposition.split(";")[1].strip().endswith('.mp3"')
    assert_usage_headers(response, "0.0100")
    characters = audio.count_characters(SEED_BODY["input"])
    assert response.headers["X-Billed-Characters"] == str(characters)
    assert before == "100.0000"
    assert response.headers["X-Balance-Remaining"] == balance(client, account) == "99.9900"

    decoded = audio.decode(response.content)
    assert decoded.format == "mp3"
    expected = fakes.espeak.duration_ms(SEED_BODY["input"]) / 1000  # Chinese: espeak-ng speaks
    assert decoded.duration_seconds == pytest.approx(expected, abs=0.15)
    assert fakes.espeak.requests[-1].voice == "cmn+m7"

    [record] = history_items(client, account)
    assert (record["type"], record["model"], record["voice"]) == ("tts", "Qwen3-TTS", "default")
    assert (record["status"], record["bill"], record["characters"]) == (
        "succeeded",
        "0.0100",
        characters,
    )
    assert record["request_id"] == response.headers["X-Request-Id"]


def test_bearer_wav_and_default_voice(client: TestClient, account: Account, fakes: Fakes) -> None:
    body = {"model": "Qwen3-TTS", "input": "Hello from Amphion.", "response_format": "wav"}
    response = client.post(TTS, headers=account.bearer, json=body)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF" and response.content[8:12] == b"WAVE"
    assert '.wav"' in response.headers["content-disposition"]
    assert_usage_headers(response, "0.0100")
    assert fakes.piper.requests[-1].voice == "joe"  # the default voice's English side
    decoded = audio.decode(response.content)
    assert decoded.duration_seconds == pytest.approx(
        fakes.piper.duration_ms(body["input"]) / 1000, abs=0.05
    )
    assert balance(client, account) == "99.9900"
    [record] = history_items(client, account)
    assert record["voice"] == "default" and record["bill"] == "0.0100"


def test_every_call_costs_exactly_one_call(client: TestClient, account: Account) -> None:
    short = client.post(TTS, headers=account.headers, json={**SEED_BODY, "input": "嗨。"})
    long = client.post(TTS, headers=account.headers, json={**SEED_BODY, "input": "你好。" * 300})
    assert short.status_code == long.status_code == 200
    assert short.headers["X-Cost"] == long.headers["X-Cost"] == "0.0100"
    assert balance(client, account) == "99.9800"
    assert [item["bill"] for item in history_items(client, account)] == ["0.0100", "0.0100"]


# --- TTS: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "Qwen3-TTS"}, "input"),
        ({**SEED_BODY, "input": ""}, "text"),
        ({**SEED_BODY, "input": "   "}, "text"),
        ({**SEED_BODY, "model": "Qwen9-TTS"}, "unknown"),
        ({**SEED_BODY, "model": "Zipformer-SED"}, "unknown tts model"),
        ({**SEED_BODY, "model": 12345}, "model"),
        ({**SEED_BODY, "voice": "no-such-voice"}, "unknown voice"),
        ({**SEED_BODY, "voice": "longanyang"}, "not available for model"),
        ({**SEED_BODY, "response_format": "ogg"}, "response_format"),
        ({**SEED_BODY, "input": "字" * 10_001}, "limit is 10000"),
    ],
    ids=[
        "no model",
        "no input",
        "empty input",
        "blank input",
        "unknown model",
        "model of another kind",
        "model not a string",
        "unknown voice",
        "voice of another model",
        "bad format",
        "text too long",
    ],
)
def test_bad_parameters_are_400_and_free(
    client: TestClient, account: Account, body: dict[str, Any], contains: str
) -> None:
    response = client.post(TTS, headers=account.headers, json=body)
    assert_detail(response, 400, contains)
    assert "X-Cost" not in response.headers
    assert balance(client, account) == "100.0000"


def test_malformed_json_is_400(client: TestClient, account: Account) -> None:
    response = client.post(
        TTS,
        headers={**account.headers, "Content-Type": "application/json"},
        content=b'{"model": "Qwen3-TTS", "input": ',
    )
    assert_detail(response, 400, "json")


def test_missing_key_is_401_with_the_seed_message(client: TestClient) -> None:
    for path, kwargs in ((TTS, {"json": SEED_BODY}), (SED, {"files": _wav_upload()})):
        response = client.post(path, **kwargs)
        assert assert_detail(response, 401) == MISSING_KEY


def test_invalid_key_is_401(client: TestClient, account: Account) -> None:
    forged = account.key[:-4] + ("aaaa" if not account.key.endswith("aaaa") else "bbbb")
    for headers in ({"X-API-Key": forged}, {"Authorization": f"Bearer {forged}"}):
        response = client.post(TTS, headers=headers, json=SEED_BODY)
        assert_detail(response, 401, "invalid api key")
    response = client.post(TTS, headers={"X-API-Key": "not-a-key"}, json=SEED_BODY)
    assert_detail(response, 401, "invalid api key")


def test_revoked_key_is_403(client: TestClient, account: Account) -> None:
    revoke(client, account)
    assert_detail(client.post(TTS, headers=account.headers, json=SEED_BODY), 403, "revoked")
    assert_detail(client.post(SED, headers=account.headers, files=_wav_upload()), 403, "revoked")
    assert balance(client, account) == "100.0000"


def test_expired_key_is_403(
    client: TestClient, make_account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(expires_in_days=1)
    assert client.post(TTS, headers=account.headers, json=SEED_BODY).status_code == 200
    expire_keys_now(monkeypatch)
    assert_detail(client.post(TTS, headers=account.headers, json=SEED_BODY), 403, "expired")


def test_insufficient_balance_is_403_and_free(
    client: TestClient, account: Account, db: Database
) -> None:
    drain(client, db, account, leave_micros=9_000)  # short of a ¥0.0100 call
    response = client.post(TTS, headers=account.headers, json=SEED_BODY)
    assert_detail(response, 403, "balance")
    assert balance(client, account) == "0.0090"
    sed = client.post(SED, headers=account.headers, files=_wav_upload())
    assert sed.status_code == 200, sed.text  # ¥0.0050 still fits
    assert balance(client, account) == "0.0040"
    assert_detail(client.post(SED, headers=account.headers, files=_wav_upload()), 403, "balance")


def test_missing_scope_and_spend_cap_are_403(client: TestClient, make_account) -> None:
    sed_only = make_account(scopes=["sed"])
    assert_detail(client.post(TTS, headers=sed_only.headers, json=SEED_BODY), 403, "tts")
    tts_only = make_account(scopes=["tts"])
    assert_detail(client.post(SED, headers=tts_only.headers, files=_wav_upload()), 403, "sed")
    capped = make_account(spend_cap="0.0150")
    assert client.post(TTS, headers=capped.headers, json=SEED_BODY).status_code == 200
    assert_detail(client.post(TTS, headers=capped.headers, json=SEED_BODY), 403, "cap")
    assert balance(client, capped) == "99.9900"


def test_rate_limit_is_429_with_retry_after(client: TestClient, make_account) -> None:
    limited = make_account(rpm_limit=1)
    assert client.post(TTS, headers=limited.headers, json=SEED_BODY).status_code == 200
    response = client.post(TTS, headers=limited.headers, json=SEED_BODY)
    assert_detail(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert balance(client, limited) == "99.9900"


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (RuntimeError("engine crashed"), 500),
        (UpstreamError("model service failed"), 502),
        (ServiceUnavailableError("model service is busy"), 503),
    ],
    ids=["500", "502", "503"],
)
def test_engine_failures_are_5xx_and_free(
    client: TestClient, account: Account, fakes: Fakes, failure: Exception, status: int
) -> None:
    fakes.espeak.fail = failure
    response = client.post(TTS, headers=account.headers, json=SEED_BODY)
    detail = assert_detail(response, status)
    assert "crashed" not in detail  # internals stay inside
    assert balance(client, account) == "100.0000"
    assert all(item["status"] != "succeeded" for item in history_items(client, account))

    fakes.emotion.fail = failure
    response = client.post(SED, headers=account.headers, files=_wav_upload())
    assert_detail(response, status)
    assert balance(client, account) == "100.0000"


# --- SED -------------------------------------------------------------------------------------


def _wav_upload(data: bytes | None = None, name: str = "audio.wav") -> dict[str, Any]:
    return {"file": (name, data if data is not None else wav_bytes(), "audio/wav")}


def test_seed_example_analyzes_a_wav(client: TestClient, account: Account, fakes: Fakes) -> None:
    response = client.post(SED, headers=account.headers, files=_wav_upload(wav_bytes(3.45)))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_usage_headers(response, "0.0050")
    assert response.headers["X-Billed-Seconds"] == "3.450"
    body = response.json()
    assert set(body) == {"emotions", "duration_seconds", "model"}
    assert body["model"] == "Zipformer-SED" and body["duration_seconds"] == 3.45
    scores = [emotion["score"] for emotion in body["emotions"]]
    assert scores == sorted(scores, reverse=True)
    assert {emotion["label"] for emotion in body["emotions"]} == set(EMOTION_LABELS)
    assert all(set(emotion) == {"label", "score"} for emotion in body["emotions"])
    assert sum(scores) == pytest.approx(1.0, abs=0.001)
    assert body["emotions"][0] == {"label": "neutral", "score": 0.55}  # the fake's favourite
    assert balance(client, account) == response.headers["X-Balance-Remaining"] == "99.9950"
    [record] = history_items(client, account)
    assert (record["type"], record["model"], record["bill"]) == ("sed", "Zipformer-SED", "0.0050")
    assert record["status"] == "succeeded" and record["duration"] == 3.45


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_mp3_and_flac_are_probed_by_content(client: TestClient, account: Account, fmt: str) -> None:
    pcm = Pcm(tone(32000, 16000, 220.0), 16000)
    data = audio.encode(pcm, fmt)
    response = client.post(SED, headers=account.bearer, files=_wav_upload(data, "recording.bin"))
    assert response.status_code == 200, response.text
    assert response.json()["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert response.headers["X-Cost"] == "0.0050"


def test_model_field_is_optional_and_checked(client: TestClient, account: Account) -> None:
    chosen = client.post(
        SED, headers=account.headers, files=_wav_upload(), data={"model": "Zipformer-SED"}
    )
    assert chosen.status_code == 200 and chosen.json()["model"] == "Zipformer-SED"
    for model in ("Zipformer-XYZ", "Qwen3-TTS"):
        response = client.post(
            SED, headers=account.headers, files=_wav_upload(), data={"model": model}
        )
        assert_detail(response, 400, "unknown sed model")
    assert balance(client, account) == "99.9950"


def test_a_zip_named_wav_is_415_and_free(client: TestClient, account: Account) -> None:
    response = client.post(SED, headers=account.headers, files=_wav_upload(zip_bytes()))
    assert_detail(response, 415, "zip")
    assert balance(client, account) == "100.0000"
    assert history_items(client, account) == []


@pytest.mark.parametrize(
    ("files", "status", "contains"),
    [
        ({}, 400, "file"),
        ({"file": ("audio.wav", b"", "audio/wav")}, 400, "empty"),
        ({"file": ("audio.wav", wav_bytes(0.05), "audio/wav")}, 400, "too short"),
    ],
    ids=["no file", "empty file", "too short"],
)
def test_bad_uploads_are_refused(
    client: TestClient, account: Account, files: dict[str, Any], status: int, contains: str
) -> None:
    kwargs: dict[str, Any] = {"files": files} if files else {"data": {"model": "Zipformer-SED"}}
    response = client.post(SED, headers=account.headers, **kwargs)
    assert_detail(response, status, contains)
    assert balance(client, account) == "100.0000"


def test_an_oversized_upload_is_413(client: TestClient, account: Account) -> None:
    big = wav_bytes(1.0) + b"\0" * (27 * 1024 * 1024)
    response = client.post(SED, headers=account.headers, files=_wav_upload(big))
    assert_detail(response, 413, "exceeds")
    assert balance(client, account) == "100.0000"


def test_rate_limit_on_sed(client: TestClient, make_account) -> None:
    limited = make_account(rpm_limit=1)
    assert client.post(SED, headers=limited.headers, files=_wav_upload()).status_code == 200
    response = client.post(SED, headers=limited.headers, files=_wav_upload())
    assert_detail(response, 429)
    assert int(response.headers["Retry-After"]) >= 1


# --- documentation ---------------------------------------------------------------------------


def test_openapi_documents_both_routes_with_detail_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    tts = spec["paths"][TTS]["post"]
    assert set(tts["responses"]["200"]["content"]) == {"audio/mpeg", "audio/wav"}
    assert "X-Cost" in tts["responses"]["200"]["headers"]
    for status in ("400", "401", "403", "429", "500", "502", "503"):
        example = tts["responses"][status]["content"]["application/json"]["example"]
        assert list(example) == ["detail"]
    sed = spec["paths"][SED]["post"]
    assert "multipart/form-data" in sed["requestBody"]["content"]
    assert {"413", "415"} <= set(sed["responses"])


# --- the real engines ------------------------------------------------------------------------


def real_key(db: Database, settings: Settings) -> tuple[int, dict[str, str]]:
    """A user with the ¥100 welcome credit and a key, made without the fake-engine ``client``
    (``sign_up`` and ``account`` use it, and it puts the fakes in front of every route)."""
    user_id = make_user(db, settings)
    return user_id, {"X-API-Key": make_key(db, settings, user_id)[1]}


def balance_of(db: Database, user_id: int) -> str:
    with db.read() as session:
        return format_yuan(ledger.balance_of(session, user_id))


def test_real_engines_speak_the_seed_example(
    real_client: TestClient, db: Database, settings: Settings
) -> None:
    user_id, headers = real_key(db, settings)

    chinese = real_client.post(TTS, headers=headers, json=SEED_BODY)  # espeak-ng, Mandarin
    assert chinese.status_code == 200, chinese.text
    assert chinese.headers["content-type"] == "audio/mpeg"
    decoded = audio.decode(chinese.content)
    assert decoded.format == "mp3"
    assert 1.5 < decoded.duration_seconds < 12  # 21 characters of speech
    assert not audio.is_silent(decoded.pcm)

    english = {
        "model": "Qwen3-TTS",
        "input": "Welcome to the Amphion platform.",
        "response_format": "wav",
    }
    spoken = real_client.post(TTS, headers=headers, json=english)  # Piper (joe)
    assert spoken.status_code == 200, spoken.text
    wav = audio.decode(spoken.content)
    assert wav.format == "wav" and 1.0 < wav.duration_seconds < 6
    assert not audio.is_silent(wav.pcm)
    assert balance_of(db, user_id) == "99.9800"
