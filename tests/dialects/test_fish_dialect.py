"""Golden tests of the Fish open API dialect (seed 004): ``POST /api/open/tts`` with JSON and
MessagePack bodies.

Request → status, headers, body shape, for the seed's two curl examples, every option, the
cached-URL answer, and every documented error (``{"error", "details", "code"}`` with 400, 401,
403, 404, 413, 429 — a short balance too — and 500). Failed calls charge nothing; successful
ones the catalog price of the version's model and show up in the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api import audio
from api.db import Database
from api.errors import ServiceUnavailableError, UpstreamError
from api.settings import Settings
from api.speech import cloning
from api.speech.context import SpeechContext
from tests.dialects.conftest import Account, balance
from tests.dialects.test_amphion_dialect import (
    assert_usage_headers,
    balance_of,
    drain,
    expire_keys_now,
    history_items,
    real_key,
    revoke,
    user_id_of,
)
from tests.speech.conftest import Fakes, caller_for
from tests.speech.test_speech_cloning import sample_wav

TTS = "/api/open/tts"
TEXT = "要转换的文本内容"
# The seed's two curl examples, as written.
SEED_S1 = {
    "reference_id": "your_model_id",
    "text": TEXT,
    "speed": 1.0,
    "volume": 0,
    "version": "s1",
    "format": "mp3",
    "cache": False,
}
SEED_V3_HD = {
    "reference_id": "your_model_id",
    "text": TEXT,
    "speed": 1.0,
    "volume": 0,
    "version": "v3-hd",
    "emotion": "happy",
    "format": "mp3",
    "cache": False,
}
ENGLISH = {"reference_id": "fish-narrator", "text": "Hello there."}  # Piper (fake) speaks it


def packed(body: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb(body, use_bin_type=True)
    return data


def post_msgpack(
    client: TestClient, account: Account, body: Any, content_type: str = "application/msgpack"
) -> Response:
    raw = body if isinstance(body, bytes) else packed(body)
    headers = {**account.bearer, "Content-Type": content_type}
    return client.post(TTS, headers=headers, content=raw)


def assert_fish_error(response: Response, status: int, code: str, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Request-Id"]
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details", "code"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], str)
    assert body["code"] == code, body
    assert contains.lower() in body["error"].lower(), body
    assert "X-Cost" not in response.headers
    return body


# --- success ---------------------------------------------------------------------------------


def test_seed_s1_example_returns_mp3_and_charges_the_catalog_price(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    response = client.post(TTS, headers=account.bearer, json=SEED_S1)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert '.mp3"' in response.headers["content-disposition"]
    # fish-s1 costs ¥0.1 per 1,000 characters: 8 characters are ¥0.0008.
    assert_usage_headers(response, "0.0008")
    assert response.headers["X-Billed-Characters"] == "8"
    assert response.headers["X-Sample-Rate"] == "22050"
    assert balance(client, account) == response.headers["X-Balance-Remaining"] == "99.9992"
    decoded = audio.decode(response.content)
    assert decoded.format == "mp3"
    assert decoded.duration_seconds == pytest.approx(fakes.espeak.duration_ms(TEXT) / 1000, abs=0.1)
    request = fakes.espeak.requests[-1]
    assert (request.voice, request.instruction) == ("cmn+m7", None)  # the narrator's Mandarin

    [record] = history_items(client, account)
    assert (record["type"], record["model"], record["voice"]) == ("tts", "fish-s1", "fish-narrator")
    assert (record["status"], record["bill"], record["characters"]) == ("succeeded", "0.0008", 8)


def test_seed_v3_hd_example_carries_the_emotion(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    response = client.post(TTS, headers=account.bearer, json=SEED_V3_HD)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert_usage_headers(response, "0.0024")  # fish-v3-hd: ¥0.3 per 1,000 characters
    assert "happy" in (fakes.espeak.requests[-1].instruction or "")
    assert audio.decode(response.content).duration_seconds > 0.3
    [record] = history_items(client, account)
    assert (record["model"], record["bill"]) == ("fish-v3-hd", "0.0024")


@pytest.mark.parametrize(
    "content_type", ["application/msgpack", "application/x-msgpack; charset=binary"]
)
def test_msgpack_bodies_are_read_like_json(
    client: TestClient, account: Account, content_type: str
) -> None:
    response = post_msgpack(client, account, SEED_V3_HD, content_type)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert_usage_headers(response, "0.0024")
    assert audio.decode(response.content).format == "mp3"
    # Bin-typed text (a client packing bytes) is UTF-8 text too.
    raw = packed({**SEED_S1, "text": TEXT.encode()})
    assert post_msgpack(client, account, raw).status_code == 200


def test_defaults_and_nulls(client: TestClient, account: Account, fakes: Fakes) -> None:
    response = client.post(TTS, headers=account.bearer, json=ENGLISH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["X-Cost"] == "0.0012"  # v1: ¥0.1 per 1,000 characters, 12 of them
    nulls = {**ENGLISH, "speed": None, "volume": None, "emotion": None, "cache": None}
    assert client.post(TTS, headers=account.bearer, json=nulls).status_code == 200
    assert fakes.piper.requests[-1].speed == 1.0
    assert [item["model"] for item in history_items(client, account)] == ["fish-v1", "fish-v1"]


def test_wav_and_pcm_formats(client: TestClient, account: Account, fakes: Fakes) -> None:
    wav = client.post(TTS, headers=account.bearer, json={**ENGLISH, "format": "wav"})
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.content[:4] == b"RIFF"
    pcm = client.post(TTS, headers=account.bearer, json={**ENGLISH, "format": "pcm"})
    assert pcm.status_code == 200 and pcm.headers["content-type"] == "audio/pcm"
    assert '.pcm"' in pcm.headers["content-disposition"]
    rate = int(pcm.headers["X-Sample-Rate"])
    samples = audio.decode(wav.content).pcm.samples
    assert len(pcm.content) == 2 * len(samples)  # raw 16-bit mono, no header
    assert len(samples) / rate == pytest.approx(fakes.piper.duration_ms("Hello there.") / 1000)


def test_speed_and_volume(client: TestClient, account: Account) -> None:
    def render(**options: Any) -> audio.Decoded:
        body = {**ENGLISH, "format": "wav", **options}
        response = client.post(TTS, headers=account.bearer, json=body)
        assert response.status_code == 200, response.text
        return audio.decode(response.content)

    plain, fast, slow = render(), render(speed=2.0), render(speed=0.5)
    assert fast.duration_seconds == pytest.approx(plain.duration_seconds / 2, abs=0.02)
    assert slow.duration_seconds == pytest.approx(plain.duration_seconds * 2, abs=0.02)
    quiet = render(volume=-20)
    assert audio.rms_dbfs(plain.pcm) - audio.rms_dbfs(quiet.pcm) == pytest.approx(20, abs=0.5)
    assert audio.rms_dbfs(render(volume=6).pcm) > audio.rms_dbfs(plain.pcm) + 3


def test_every_v3_emotion_is_accepted(client: TestClient, account: Account, fakes: Fakes) -> None:
    emotions = ["happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm", "fluent"]
    for emotion in emotions:
        body = {**ENGLISH, "version": "v3-turbo", "emotion": emotion}
        response = client.post(TTS, headers=account.bearer, json=body)
        assert response.status_code == 200, (emotion, response.text)
        assert fakes.piper.requests[-1].instruction
    auto = client.post(TTS, headers=account.bearer, json={**ENGLISH, "emotion": "auto"})
    assert auto.status_code == 200 and fakes.piper.requests[-1].instruction is None


def test_cache_true_answers_with_a_link_to_the_stored_audio(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    response = client.post(TTS, headers=account.bearer, json={**SEED_S1, "cache": True})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_usage_headers(response, "0.0008")
    body = response.json()
    assert set(body) == {"success", "audio_url", "format", "characters_used", "quota_remaining"}
    assert body["success"] is True and body["format"] == "mp3" and body["characters_used"] == 8
    assert body["quota_remaining"] == 99.9992
    assert isinstance(body["quota_remaining"], float)
    assert body["audio_url"].startswith("http://testserver/files/")

    download = client.get(body["audio_url"])  # no key: the signed link is the credential
    assert download.status_code == 200
    assert download.headers["content-type"] == "audio/mpeg"
    decoded = audio.decode(download.content)
    assert decoded.duration_seconds == pytest.approx(fakes.espeak.duration_ms(TEXT) / 1000, abs=0.1)
    [record] = history_items(client, account)
    assert record["output_key"] and record["output_key"] in body["audio_url"]

    wav = client.post(
        TTS, headers=account.bearer, json={**ENGLISH, "format": "wav", "cache": True}
    ).json()
    assert wav["format"] == "wav"
    assert client.get(wav["audio_url"]).content[:4] == b"RIFF"
    tampered = body["audio_url"].replace("sig=", "sig=x")
    assert client.get(tampered).status_code == 403


def test_a_cloned_voice_speaks_with_its_model(
    client: TestClient,
    account: Account,
    make_account,
    speech: SpeechContext,
    fakes: Fakes,
    finish_jobs,
) -> None:
    caller = caller_for(user_id_of(client, account))
    submitted = cloning.create_voice(
        speech, caller, sample_wav(), prefix="fishy", target_model="fish-s1"
    )
    finish_jobs()
    voice_id = submitted.voice.voice_id
    before = balance(client, account)

    body = {"reference_id": voice_id, "text": "Hello there.", "version": "s1"}
    response = client.post(TTS, headers=account.bearer, json=body)
    assert response.status_code == 200, response.text
    assert fakes.clone.applied  # the voice's styling was applied
    assert history_items(client, account)[0]["voice"] == voice_id

    mismatch = client.post(TTS, headers=account.bearer, json={**body, "version": "v1"})
    error = assert_fish_error(mismatch, 400, "MODEL_VOICE_MISMATCH", "fish-s1")
    assert "reference_id" in error["details"]

    stranger = make_account()
    assert_fish_error(client.post(TTS, headers=stranger.bearer, json=body), 404, "VOICE_NOT_FOUND")
    assert balance(client, account) != before  # one success, charged
    assert balance(client, stranger) == "100.0000"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"text": TEXT}, "reference_id"),
        ({"reference_id": "your_model_id"}, "text"),
        ({**SEED_S1, "reference_id": ""}, "reference_id"),
        ({**SEED_S1, "reference_id": 42}, "reference_id"),
        ({**SEED_S1, "speed": 0.4}, "speed"),
        ({**SEED_S1, "speed": 2.1}, "speed"),
        ({**SEED_S1, "speed": "fast"}, "speed"),
        ({**SEED_S1, "volume": 21}, "volume"),
        ({**SEED_S1, "volume": -20.5}, "volume"),
        ({**SEED_S1, "version": "v4"}, "version"),
        ({**SEED_S1, "format": "ogg"}, "format"),
        ({**SEED_V3_HD, "emotion": "excited"}, "emotion"),
        ({**SEED_S1, "cache": "maybe"}, "cache"),
    ],
    ids=[
        "no reference_id",
        "no text",
        "empty reference_id",
        "reference_id not a string",
        "too slow",
        "too fast",
        "speed not a number",
        "too loud",
        "too quiet",
        "unknown version",
        "unknown format",
        "unknown emotion",
        "cache not a boolean",
    ],
)
def test_bad_parameters_are_400_and_free(
    client: TestClient, account: Account, body: dict[str, Any], param: str
) -> None:
    error = assert_fish_error(
        client.post(TTS, headers=account.bearer, json=body), 400, "INVALID_INPUT"
    )
    assert param in error["error"] and param in error["details"]
    packed_body = post_msgpack(client, account, body)  # the same in MessagePack
    assert_fish_error(packed_body, 400, "INVALID_INPUT")
    assert balance(client, account) == "100.0000"


@pytest.mark.parametrize("version", ["v1", "v2", "s1"])
def test_emotion_needs_a_v3_version(client: TestClient, account: Account, version: str) -> None:
    body = {**SEED_V3_HD, "version": version}
    error = assert_fish_error(
        client.post(TTS, headers=account.bearer, json=body), 400, "INVALID_INPUT", "v3"
    )
    assert "emotion" in error["details"]
    auto = client.post(TTS, headers=account.bearer, json={**body, "emotion": "auto"})
    assert auto.status_code == 200


def test_text_problems_are_400(client: TestClient, account: Account) -> None:
    empty = client.post(TTS, headers=account.bearer, json={**SEED_S1, "text": "  "})
    assert "text" in assert_fish_error(empty, 400, "INVALID_INPUT")["details"]
    long = client.post(TTS, headers=account.bearer, json={**SEED_S1, "text": "字" * 10_001})
    assert_fish_error(long, 400, "TEXT_TOO_LONG", "limit is 10000")
    assert balance(client, account) == "100.0000"


@pytest.mark.parametrize(
    ("content_type", "raw", "code", "contains"),
    [
        ("application/json", b'{"reference_id": "your_model_id", "text": ', "INVALID_BODY", "json"),
        ("application/json", b"[1, 2, 3]", "INVALID_BODY", "object"),
        ("application/json", b"[" * 100_000, "INVALID_BODY", "json"),
        ("application/json", b"\xff\xfe{}", "INVALID_BODY", "json"),
        ("application/msgpack", b"\xc1\xc1\xc1", "INVALID_BODY", "messagepack"),
        ("application/msgpack", packed(SEED_S1)[:-3], "INVALID_BODY", "messagepack"),
        ("application/msgpack", packed(SEED_S1) + b"\x01", "INVALID_BODY", "messagepack"),
        ("application/msgpack", msgpack.packb([1, 2]), "INVALID_BODY", "object"),
        ("application/msgpack", msgpack.packb({1: 2}), "INVALID_BODY", "messagepack"),
        ("text/plain", b"reference_id=your_model_id", "UNSUPPORTED_CONTENT_TYPE", "content-type"),
    ],
    ids=[
        "truncated json",
        "json array",
        "json nested too deep",
        "json not utf-8",
        "msgpack reserved bytes",
        "msgpack truncated",
        "msgpack trailing bytes",
        "msgpack array",
        "msgpack integer keys",
        "unknown content type",
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, account: Account, content_type: str, raw: bytes, code: str, contains: str
) -> None:
    response = post_msgpack(client, account, raw, content_type)
    assert_fish_error(response, 400, code, contains)
    assert balance(client, account) == "100.0000"


def test_a_body_without_content_type_is_sniffed(client: TestClient, account: Account) -> None:
    import json

    for raw in (json.dumps(SEED_S1).encode(), packed(SEED_S1)):
        response = client.post(TTS, headers=account.bearer, content=raw)
        assert response.status_code == 200, response.text


def test_unknown_reference_id_is_404(client: TestClient, account: Account) -> None:
    response = client.post(TTS, headers=account.bearer, json={**SEED_S1, "reference_id": "nobody"})
    error = assert_fish_error(response, 404, "VOICE_NOT_FOUND", "nobody")
    assert "reference_id" in error["details"]
    packed_response = post_msgpack(client, account, {**SEED_S1, "reference_id": "nobody"})
    assert_fish_error(packed_response, 404, "VOICE_NOT_FOUND")
    # A system voice of another family is known, but not for this version: a 400.
    other = client.post(TTS, headers=account.bearer, json={**SEED_S1, "reference_id": "longanyang"})
    assert_fish_error(other, 400, "MODEL_VOICE_MISMATCH")
    assert balance(client, account) == "100.0000"


def test_missing_and_invalid_tokens_are_401(client: TestClient, account: Account) -> None:
    missing = client.post(TTS, json=SEED_S1)
    assert_fish_error(missing, 401, "UNAUTHORIZED", "missing api key")
    forged = account.key[:-4] + ("aaaa" if not account.key.endswith("aaaa") else "bbbb")
    for headers in (
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": "Bearer YOUR_API_TOKEN"},  # the seed's placeholder
        {"Authorization": "Basic abc"},
    ):
        assert_fish_error(client.post(TTS, headers=headers, json=SEED_S1), 401, "UNAUTHORIZED")


def test_revoked_expired_and_scopeless_keys_are_403(
    client: TestClient, account: Account, make_account, monkeypatch: pytest.MonkeyPatch
) -> None:
    sed_only = make_account(scopes=["sed"])
    assert_fish_error(
        client.post(TTS, headers=sed_only.bearer, json=SEED_S1), 403, "SCOPE_DENIED", "tts"
    )
    capped = make_account(spend_cap="0.0010")
    assert client.post(TTS, headers=capped.bearer, json=SEED_S1).status_code == 200
    assert_fish_error(
        client.post(TTS, headers=capped.bearer, json=SEED_S1), 403, "SPEND_CAP_EXCEEDED"
    )
    revoke(client, account)
    assert_fish_error(client.post(TTS, headers=account.bearer, json=SEED_S1), 403, "KEY_REVOKED")
    expiring = make_account(expires_in_days=1)
    expire_keys_now(monkeypatch)
    response = client.post(TTS, headers=expiring.bearer, json=SEED_S1)
    assert_fish_error(response, 403, "KEY_REVOKED", "expired")
    assert balance(client, account) == balance(client, sed_only) == "100.0000"


def test_rate_limit_is_429_with_retry_after(client: TestClient, make_account) -> None:
    limited = make_account(rpm_limit=1)
    assert client.post(TTS, headers=limited.bearer, json=SEED_S1).status_code == 200
    response = client.post(TTS, headers=limited.bearer, json=SEED_S1)
    assert_fish_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) >= 1


def test_a_short_balance_is_429_in_fish(client: TestClient, account: Account, db: Database) -> None:
    drain(client, db, account, leave_micros=500)
    response = client.post(TTS, headers=account.bearer, json=SEED_S1)  # costs 800 µ¥
    assert_fish_error(response, 429, "INSUFFICIENT_BALANCE", "balance")
    assert "Retry-After" not in response.headers
    assert balance(client, account) == "0.0005"


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_an_oversized_body_is_413(client: TestClient, account: Account) -> None:
    big = {**SEED_S1, "text": "字" * 400_000}  # 1.2 MB of UTF-8
    declared = client.post(TTS, headers=account.bearer, json=big)
    assert_fish_error(declared, 413, "PAYLOAD_TOO_LARGE")
    packed_big = post_msgpack(client, account, big)
    assert_fish_error(packed_big, 413, "PAYLOAD_TOO_LARGE")
    # Chunked, with no Content-Length: refused while it streams in.
    streamed = client.post(
        TTS,
        headers={**account.bearer, "Content-Type": "application/msgpack"},
        content=_chunks(packed(big)),
    )
    assert_fish_error(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert balance(client, account) == "100.0000"


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (RuntimeError("engine crashed"), 500, "INTERNAL_ERROR"),
        (UpstreamError("model service failed"), 502, "UPSTREAM_ERROR"),
        (ServiceUnavailableError("model service is busy"), 503, "SERVICE_UNAVAILABLE"),
    ],
    ids=["500", "502", "503"],
)
def test_engine_failures_are_5xx_and_free(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    failure: Exception,
    status: int,
    code: str,
) -> None:
    fakes.espeak.fail = failure
    for cache in (False, True):
        response = client.post(TTS, headers=account.bearer, json={**SEED_S1, "cache": cache})
        body = assert_fish_error(response, status, code)
        assert "crashed" not in body["error"]
    assert balance(client, account) == "100.0000"
    assert all(item["status"] != "succeeded" for item in history_items(client, account))


def test_openapi_documents_json_and_msgpack_with_fish_errors(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][TTS]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "application/msgpack"}
    assert content["application/json"]["schema"]["required"] == ["reference_id", "text"]
    assert {"audio/mpeg", "audio/wav", "audio/pcm", "application/json"} == set(
        operation["responses"]["200"]["content"]
    )
    for status in ("400", "401", "403", "404", "413", "429", "500"):
        example = operation["responses"][status]["content"]["application/json"]["example"]
        assert set(example) == {"error", "details", "code"}


# --- the real engines ------------------------------------------------------------------------


def test_real_engines_speak_the_seed_examples(
    real_client: TestClient, db: Database, settings: Settings
) -> None:
    user_id, key = real_key(db, settings)
    bearer = {"Authorization": f"Bearer {key['X-API-Key']}"}

    spoken = real_client.post(TTS, headers=bearer, json=SEED_S1)  # espeak-ng, Mandarin
    assert spoken.status_code == 200, spoken.text
    decoded = audio.decode(spoken.content)
    assert decoded.format == "mp3" and 1.0 < decoded.duration_seconds < 6  # 8 characters
    assert not audio.is_silent(decoded.pcm)

    english = {"reference_id": "your_model_id", "text": "Welcome to the open API.", "cache": True}
    raw = packed({**english, "version": "v3-turbo", "emotion": "calm", "format": "wav"})
    cached = real_client.post(
        TTS, headers={**bearer, "Content-Type": "application/msgpack"}, content=raw
    )
    assert cached.status_code == 200, cached.text
    download = real_client.get(cached.json()["audio_url"])  # Piper (joe), stored
    assert download.status_code == 200 and download.headers["content-type"] == "audio/wav"
    wav = audio.decode(download.content)
    assert wav.format == "wav" and 1.0 < wav.duration_seconds < 5
    assert not audio.is_silent(wav.pcm)
    # s1: 8 characters at ¥0.1/1k; v3-turbo: 24 characters at ¥0.15/1k.
    assert balance_of(db, user_id) == "99.9956"
    assert cached.json()["quota_remaining"] == 99.9956
