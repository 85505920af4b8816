"""Seed 001 text to speech over HTTP and WebSocket (``/api/audio/tts``): golden requests and
answers, streaming that really streams, and no charge for audio a client did not get.

On the fake engines: for the seed's voice ``longanyang`` Chinese text is spoken by the
"espeak-ng" fake and English by the "piper" fake (a tone of 60 ms per character, one chunk per
sentence). One request runs on the real offline engines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.testclient import WebSocketTestSession

from api import audio
from api.accounts.models import User
from api.billing.money import format_yuan
from api.billing.pricing import Usage
from api.db import Database
from api.engines.base import Pcm, SynthesisRequest
from api.engines.fakes import FakeTTS
from api.errors import UpstreamError
from api.history.models import HistoryRecord
from api.http.routes import audio_tts
from api.speech.context import SpeechContext
from api.speech.synthesis import PAUSE_MS
from api.voices import service as voices
from tests.dialects.conftest import Account
from tests.dialects.envelope import assert_envelope_error as assert_error
from tests.dialects.envelope import assert_ok
from tests.speech.conftest import Fakes

SYNTHESIZE = "/api/audio/tts/synthesize"
LONG = "/api/audio/tts/synthesize-long"
MODELS = "/api/audio/tts/models"
STREAM = "/api/audio/tts/stream"
SEED_EXAMPLE = audio_tts.SEED_EXAMPLE
SEED_LONG_EXAMPLE = {
    "model": "cosyvoice-v3-flash",
    "voice": "longanyang",
    "text": "这是一段很长的文本...(超过2000字符的内容)",
    "format": "mp3",
    "volume": 50,
    "speech_rate": 1.0,
}
ENGLISH = "The quick brown fox jumps over the lazy dog. It was a sunny day in the park."
USAGE = ("x-cost", "x-balance-remaining", "x-gateway-overhead-ms", "x-billed-characters")
SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


# --- helpers -------------------------------------------------------------------------------------


def micros(db: Database, account: Account) -> int:
    email = account.session["X-Test-Email"]
    with db.read() as session:
        return session.exec(select(User).where(User.email == email)).one().balance_micros


def user_id(db: Database, account: Account) -> int:
    email = account.session["X-Test-Email"]
    with db.read() as session:
        found = session.exec(select(User).where(User.email == email)).one().id
    assert found is not None
    return found


def records(db: Database, account: Account) -> list[HistoryRecord]:
    uid = user_id(db, account)
    with db.read() as session:
        rows = session.exec(select(HistoryRecord).where(HistoryRecord.user_id == uid)).all()
    return sorted(rows, key=lambda row: row.id or 0)


def price(speech: SpeechContext, model: str, text: str) -> int:
    characters = audio.count_characters(text)
    return speech.catalog.model(model).price.cost(Usage(characters=characters))


def assert_usage(response: Any, cost: int, characters: int, balance_after: int) -> None:
    for name in USAGE:
        assert response.headers.get(name), name
    assert response.headers["x-cost"] == format_yuan(cost)
    assert response.headers["x-billed-characters"] == str(characters)
    assert response.headers["x-balance-remaining"] == format_yuan(balance_after)
    assert float(response.headers["x-gateway-overhead-ms"]) >= 0


def download(client: TestClient, url: str) -> Any:
    """GET a signed absolute URL of the test server."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "testserver", url
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return response


def audio_history(client: TestClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audio/history", params=params, headers=account.headers)
    return assert_ok(response)["items"]


def pcm_of(data: bytes, rate: int = 22050) -> Pcm:
    return Pcm(np.frombuffer(data, dtype=np.int16).copy(), rate)


def revoke(client: TestClient, account: Account) -> None:
    [key] = assert_ok(client.get("/api/keys", headers=account.session))
    assert_ok(client.delete(f"/api/keys/{key['id']}", headers=account.session))


def sentences(count: int) -> str:
    return " ".join(f"Sentence number {n} is here." for n in range(count))


class Gate:
    """Lets the engine speak the first sentence, then holds every later one until opened."""

    def __init__(self, engine: FakeTTS, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Event()
        original = engine.stream

        def stream(request: SynthesisRequest) -> Iterator[Pcm]:
            if engine.requests:
                self.waiting.set()
                assert self.opened.wait(10), "the gate was never opened"
            return original(request)

        monkeypatch.setattr(engine, "stream", stream)

    def open(self) -> None:
        self.opened.set()


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """``work()``, or a test failure (not a hang) when it takes longer than ``seconds``."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(work).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


# --- synthesize: success ---------------------------------------------------------------------


def test_the_seed_example_gives_a_downloadable_url_and_charges_the_documented_price(
    client: TestClient, account: Account, speech: SpeechContext, fakes: Fakes, db: Database
) -> None:
    before = micros(db, account)
    response = client.post(SYNTHESIZE, headers=account.bearer, json=SEED_EXAMPLE)

    data = assert_ok(response)
    text = SEED_EXAMPLE["text"]
    assert isinstance(text, str)
    cost = price(speech, "cosyvoice-v3-flash", text)
    characters = audio.count_characters(text)
    assert set(data) == {
        "audio_url",
        "duration",
        "format",
        "sample_rate",
        "characters",
        "bill",
        "record_id",
    }
    assert (data["format"], data["sample_rate"], data["characters"]) == ("mp3", 22050, characters)
    assert data["bill"] == format_yuan(cost) and isinstance(data["record_id"], int)
    assert isinstance(data["duration"], float)
    assert data["duration"] == pytest.approx(fakes.espeak.duration_ms(text) / 1000, abs=0.06)
    assert_usage(response, cost, characters, before - cost)
    assert micros(db, account) == before - cost
    assert fakes.espeak.requests[-1].voice == "cmn+m7"  # longanyang speaks Chinese on espeak

    stored = download(client, data["audio_url"])
    assert stored.headers["content-type"] == "audio/mpeg"
    decoded = audio.decode(stored.content)
    assert decoded.format == "mp3"
    assert decoded.duration_seconds == pytest.approx(data["duration"], abs=0.06)

    [row] = records(db, account)
    assert (row.id, row.type, row.status, row.cost_micros) == (
        data["record_id"],
        "tts",
        "succeeded",
        cost,
    )
    [item] = audio_history(client, account, type="tts")
    assert item["id"] == data["record_id"] and item["bill"] == data["bill"]
    assert download(client, item["output_url"]).content == stored.content


def test_the_seed_frontend_call_with_only_model_voice_and_text(
    client: TestClient, account: Account
) -> None:
    body = {
        "model": "cosyvoice-v3-flash",
        "voice": "longanyang",
        "text": "你好,欢迎使用语音合成服务!",
    }
    data = assert_ok(client.post(SYNTHESIZE, headers=account.bearer, json=body))
    assert (data["format"], data["sample_rate"]) == ("mp3", 22050)
    # X-API-Key works as well as the seed's Authorization: Bearer
    assert_ok(client.post(SYNTHESIZE, headers=account.headers, json=body))


@pytest.mark.parametrize(
    ("fmt", "rate", "content_type", "probed"),
    [
        ("wav", 16000, "audio/wav", "wav"),
        ("opus", 48000, "audio/ogg", "opus"),
        ("mp3", 44100, "audio/mpeg", "mp3"),
    ],
)
def test_every_format_and_sample_rate_is_what_it_says(
    client: TestClient, account: Account, fmt: str, rate: int, content_type: str, probed: str
) -> None:
    body = {**SEED_EXAMPLE, "text": ENGLISH, "format": fmt, "sample_rate": rate}
    data = assert_ok(client.post(SYNTHESIZE, headers=account.bearer, json=body))
    assert (data["format"], data["sample_rate"]) == (fmt, rate)
    stored = download(client, data["audio_url"])
    assert stored.headers["content-type"] == content_type
    decoded = audio.decode(stored.content)
    assert decoded.format in (probed, "ogg")
    assert decoded.source_sample_rate == rate
    assert decoded.duration_seconds == pytest.approx(data["duration"], abs=0.08)


def test_pcm_is_raw_16_bit_samples_at_the_asked_rate(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    body = {**SEED_EXAMPLE, "text": ENGLISH, "format": "pcm", "sample_rate": 8000}
    data = assert_ok(client.post(SYNTHESIZE, headers=account.bearer, json=body))
    raw = download(client, data["audio_url"]).content
    assert len(raw) // 2 / 8000 == pytest.approx(fakes.piper.duration_ms(ENGLISH) / 1000, 0.02)


def test_volume_speech_rate_and_pitch_rate_shape_the_audio(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    def render(**options: Any) -> tuple[Pcm, dict[str, Any]]:
        body = {**SEED_EXAMPLE, "text": ENGLISH, "format": "wav", **options}
        data = assert_ok(client.post(SYNTHESIZE, headers=account.bearer, json=body))
        return audio.decode(download(client, data["audio_url"]).content).pcm, data

    normal, data = render()
    quieter, _ = render(volume=25)  # 20·log10(25/50) ≈ −6 dB
    silent, _ = render(volume=0)  # the −60 dB floor
    assert audio.rms_dbfs(quieter) == pytest.approx(audio.rms_dbfs(normal) - 6.02, abs=0.5)
    assert audio.rms_dbfs(silent) < audio.rms_dbfs(normal) - 50
    fast, fast_data = render(speech_rate=2.0)
    assert fast_data["duration"] == pytest.approx(data["duration"] / 2, abs=0.05)
    assert fakes.piper.requests[-1].speed == 2.0
    high, _ = render(pitch_rate=1.5)
    assert audio.dominant_frequency_hz(high) == pytest.approx(
        audio.dominant_frequency_hz(normal) * 1.5, rel=0.05
    )


def test_a_cloned_voice_speaks_with_its_own_model_only(
    client: TestClient, account: Account, db: Database, fakes: Fakes
) -> None:
    with db.write() as session:
        voice = voices.create_voice(
            session,
            user_id=user_id(db, account),
            prefix="myvoice",
            target_model="cosyvoice-v3-plus",
            sample_key=None,
        )
        voices.mark_deployed(session, voice, base_voice="piper:joe", profile={"f0_hz": 180.0})
        voice_id = voice.voice_id
    body = {**SEED_EXAMPLE, "model": "cosyvoice-v3-plus", "voice": voice_id, "text": ENGLISH}
    assert_ok(client.post(SYNTHESIZE, headers=account.bearer, json=body))
    assert fakes.clone.applied == [{"f0_hz": 180.0}]

    before = micros(db, account)
    mismatch = {**body, "model": "cosyvoice-v3-flash"}
    response = client.post(SYNTHESIZE, headers=account.bearer, json=mismatch)
    assert_error(response, 400, "MODEL_VOICE_MISMATCH")
    assert micros(db, account) == before


# --- synthesize: errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error_code"),
    [
        ({"model": "cosyvoice-v9"}, "INVALID_MODEL"),
        ({"model": "qwen3-asr-flash"}, "INVALID_MODEL"),  # a model, but not a TTS one
        ({"voice": "nobody"}, "INVALID_VOICE"),
        ({"voice": "longxiaochun"}, "MODEL_VOICE_MISMATCH"),  # a cosyvoice-v2 voice
        ({"text": "字" * 2001}, "TEXT_TOO_LONG"),
        ({"text": "   "}, "INVALID_INPUT"),
        ({"format": "flac"}, "INVALID_INPUT"),
        ({"sample_rate": 12345}, "INVALID_INPUT"),
        ({"volume": 101}, "INVALID_INPUT"),
        ({"speech_rate": 2.5}, "INVALID_INPUT"),
        ({"pitch_rate": 0.1}, "INVALID_INPUT"),
        ({"text": None}, "INVALID_INPUT"),
    ],
)
def test_bad_requests_are_400_in_the_envelope_and_cost_nothing(
    client: TestClient,
    account: Account,
    db: Database,
    change: dict[str, Any],
    error_code: str,
) -> None:
    before = micros(db, account)
    for stream in (False, True):
        body = {**SEED_EXAMPLE, **change, "stream": stream}
        assert_error(client.post(SYNTHESIZE, headers=account.bearer, json=body), 400, error_code)
    assert micros(db, account) == before
    assert not records(db, account)


def test_missing_fields_and_broken_json_are_400(client: TestClient, account: Account) -> None:
    body = assert_error(client.post(SYNTHESIZE, headers=account.bearer, json={}), 400)
    assert "model" in body["message"]
    broken = client.post(
        SYNTHESIZE,
        headers={**account.bearer, "Content-Type": "application/json"},
        content=b'{"model": ',
    )
    assert_error(broken, 400, "INVALID_INPUT")


def test_auth_scope_balance_and_rate_limit(
    client: TestClient, account: Account, make_account: Any, db: Database, fakes: Fakes
) -> None:
    assert_error(client.post(SYNTHESIZE, json=SEED_EXAMPLE), 401, "UNAUTHORIZED")
    wrong = {"Authorization": "Bearer sk-not-a-real-key"}
    assert_error(client.post(SYNTHESIZE, headers=wrong, json=SEED_EXAMPLE), 401, "UNAUTHORIZED")

    asr_only = make_account(scopes=["asr"])
    response = client.post(SYNTHESIZE, headers=asr_only.headers, json=SEED_EXAMPLE)
    assert_error(response, 403, "SCOPE_DENIED")

    revoked = make_account()
    revoke(client, revoked)
    response = client.post(SYNTHESIZE, headers=revoked.headers, json=SEED_EXAMPLE)
    assert_error(response, 403, "KEY_REVOKED")

    capped = make_account(spend_cap="0.0001")
    response = client.post(SYNTHESIZE, headers=capped.headers, json=SEED_EXAMPLE)
    assert_error(response, 403, "SPEND_CAP_EXCEEDED")

    poor = make_account()
    with db.write() as session:
        row = session.get(User, user_id(db, poor))
        assert row is not None
        row.balance_micros = 10  # not enough for 14 characters (201 µ¥)
        session.add(row)
    for stream in (False, True):
        body = {**SEED_EXAMPLE, "stream": stream}
        response = client.post(SYNTHESIZE, headers=poor.headers, json=body)
        assert_error(response, 403, "INSUFFICIENT_BALANCE")
    assert micros(db, poor) == 10

    limited = make_account(rpm_limit=1)
    assert_ok(client.post(SYNTHESIZE, headers=limited.headers, json=SEED_EXAMPLE))
    response = client.post(SYNTHESIZE, headers=limited.headers, json=SEED_EXAMPLE)
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["retry-after"]) >= 1
    assert not fakes.piper.requests


@pytest.mark.parametrize(
    ("failure", "status", "error_code"),
    [(UpstreamError("engine down"), 502, "UPSTREAM_ERROR"), (RuntimeError("bug"), 500, None)],
)
def test_an_engine_failure_is_a_5xx_that_costs_nothing(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    failure: Exception,
    status: int,
    error_code: str | None,
) -> None:
    fakes.espeak.fail = failure
    before = micros(db, account)
    for stream in (False, True):
        body = {**SEED_EXAMPLE, "stream": stream}
        error = assert_error(client.post(SYNTHESIZE, headers=account.bearer, json=body), status)
        if error_code:
            assert error["error_code"] == error_code
        assert "bug" not in error["message"]
    assert micros(db, account) == before
    assert [row.status for row in records(db, account)] == ["failed", "failed"]


# --- synthesize: streaming ---------------------------------------------------------------------


def test_stream_true_is_chunked_audio_charged_once_at_the_end(
    client: TestClient, account: Account, speech: SpeechContext, fakes: Fakes, db: Database
) -> None:
    before = micros(db, account)
    body = {**SEED_EXAMPLE, "text": ENGLISH, "stream": True}
    with client.stream("POST", SYNTHESIZE, headers=account.bearer, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["x-request-id"]
        chunks = list(response.iter_raw())
    cost = price(speech, "cosyvoice-v3-flash", ENGLISH)
    assert_usage(response, cost, audio.count_characters(ENGLISH), before - cost)
    assert len(chunks) >= 2  # one sentence at a time
    decoded = audio.decode(b"".join(chunks))
    assert decoded.duration_seconds == pytest.approx(fakes.piper.duration_ms(ENGLISH) / 1000, 0.1)
    assert micros(db, account) == before - cost
    [item] = audio_history(client, account, type="tts")
    assert (item["record_status"], item["bill"]) == ("succeeded", format_yuan(cost))
    assert download(client, item["output_url"]).content == b"".join(chunks)


def test_the_first_chunk_arrives_before_the_rest_is_synthesized(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate(fakes.piper, monkeypatch)
    text = sentences(5)
    body = {**SEED_EXAMPLE, "text": text, "stream": True, "format": "pcm"}
    with client.stream("POST", SYNTHESIZE, headers=account.bearer, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/pcm"
        chunks = response.iter_raw()
        first = within(10, lambda: next(chunks))
        assert gate.waiting.wait(10)  # sentence 2 is being asked for, and held
        assert not gate.opened.is_set() and len(fakes.piper.requests) == 1
        assert len(first) // 2 == round(
            fakes.piper.duration_ms("Sentence number 0 is here.") * 22.05
        )
        gate.open()
        rest = b"".join(chunks)
    assert len(fakes.piper.requests) == 5
    total = len(first + rest) // 2 / 22050
    assert total == pytest.approx(fakes.piper.duration_ms(text.replace(" S", "S")) / 1000, 0.02)
    assert [row.status for row in records(db, account)] == ["succeeded"]


def test_a_client_that_hangs_up_pays_nothing_and_the_engine_stops(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate(fakes.piper, monkeypatch)
    before = micros(db, account)
    body = {**SEED_EXAMPLE, "text": sentences(20), "stream": True, "format": "pcm"}
    with client.stream("POST", SYNTHESIZE, headers=account.bearer, json=body) as response:
        chunks = response.iter_raw()
        within(10, lambda: next(chunks))
        assert gate.waiting.wait(10)
        # The sentence under way finishes (a thread cannot be interrupted), no later one starts.
        threading.Timer(0.3, gate.open).start()
    assert micros(db, account) == before
    assert len(fakes.piper.requests) == 2  # of 20 sentences
    [item] = audio_history(client, account, type="tts")
    assert (item["record_status"], item["bill"], item["output_url"]) == (
        "cancelled",
        "0.0000",
        None,
    )


# --- synthesize-long ---------------------------------------------------------------------------


def test_the_seed_long_example(
    client: TestClient, account: Account, speech: SpeechContext, db: Database
) -> None:
    before = micros(db, account)
    response = client.post(LONG, headers=account.bearer, json=SEED_LONG_EXAMPLE)
    data = assert_ok(response)
    text = str(SEED_LONG_EXAMPLE["text"])
    cost = price(speech, "cosyvoice-v3-flash", text)
    assert set(data) == {
        "audio_url",
        "duration",
        "format",
        "sample_rate",
        "total_characters",
        "segments",
        "bill",
        "record_id",
    }
    assert (data["total_characters"], data["segments"]) == (audio.count_characters(text), 1)
    assert data["bill"] == format_yuan(cost)
    assert_usage(response, cost, audio.count_characters(text), before - cost)
    assert audio.decode(download(client, data["audio_url"]).content).format == "mp3"


def test_long_text_is_split_at_sentences_and_merged(
    client: TestClient, account: Account, speech: SpeechContext, fakes: Fakes, db: Database
) -> None:
    sentence = "这是一个用于测试长文本语音合成的句子，它会被切分并重新合并。"  # 30 characters
    text = sentence * 160
    before = micros(db, account)
    body = {**SEED_LONG_EXAMPLE, "text": text, "format": "wav"}
    data = assert_ok(client.post(LONG, headers=account.bearer, json=body))
    cost = price(speech, "cosyvoice-v3-flash", text)
    assert data["total_characters"] == 4800 and data["segments"] == 3
    assert data["bill"] == format_yuan(cost)
    assert micros(db, account) == before - cost
    assert len(fakes.espeak.requests) == 3
    assert all(len(r.text.replace(" ", "")) <= 2000 for r in fakes.espeak.requests)
    assert all(r.text.endswith("。") for r in fakes.espeak.requests)  # cut at sentence ends
    spoken_ms = sum(fakes.espeak.duration_ms(r.text) for r in fakes.espeak.requests)
    expected = (spoken_ms + 2 * PAUSE_MS) / 1000
    assert data["duration"] == pytest.approx(expected, abs=0.1)
    merged = audio.decode(download(client, data["audio_url"]).content)
    assert merged.duration_seconds == pytest.approx(data["duration"], abs=0.05)

    # The same text is too long for one synthesize call.
    too_long = client.post(SYNTHESIZE, headers=account.bearer, json=body)
    assert_error(too_long, 400, "TEXT_TOO_LONG")


def test_long_text_errors(client: TestClient, account: Account, db: Database) -> None:
    before = micros(db, account)
    huge = {**SEED_LONG_EXAMPLE, "text": "字" * 200_001}
    assert_error(client.post(LONG, headers=account.bearer, json=huge), 400, "TEXT_TOO_LONG")
    unknown = {**SEED_LONG_EXAMPLE, "voice": "nobody"}
    assert_error(client.post(LONG, headers=account.bearer, json=unknown), 400, "INVALID_VOICE")
    assert_error(client.post(LONG, json=SEED_LONG_EXAMPLE), 401, "UNAUTHORIZED")
    assert micros(db, account) == before


# --- models ------------------------------------------------------------------------------------


def test_models_are_the_seeds_first_with_price_features_and_engine(
    client: TestClient, account: Account, speech: SpeechContext
) -> None:
    response = client.get(MODELS, headers=account.bearer)
    models = assert_ok(response)
    assert [m["model_id"] for m in models[:3]] == [
        "cosyvoice-v3-flash",
        "cosyvoice-v3-plus",
        "cosyvoice-v2",
    ]
    seed = {m["model_id"]: m for m in models[:3]}
    assert {k: seed["cosyvoice-v3-flash"][k] for k in ("model_name", "description")} == {
        "model_name": "CosyVoice V3 Flash",
        "description": "平衡效果与成本,性价比高",
    }
    assert seed["cosyvoice-v3-flash"]["price_per_10k_chars"] == "0.14335"
    assert seed["cosyvoice-v3-plus"]["price_per_10k_chars"] == "0.286706"
    assert seed["cosyvoice-v2"]["price_per_10k_chars"] == "0.286706"
    assert seed["cosyvoice-v3-flash"]["features"] == ["快速合成", "支持SSML", "支持Instruct"]
    assert seed["cosyvoice-v2"]["features"] == ["稳定", "支持SSML"]
    assert all({"engine", "provider"} <= set(m) and m["provider"] == "offline" for m in models)
    everything = {m.id for m in speech.catalog.models("tts")}
    assert {m["model_id"] for m in models} == everything
    by_id = {m["model_id"]: m for m in models}
    assert by_id["tts-1"]["price_per_10k_chars"] == "1.08"  # ¥0.108 per 1k characters
    assert by_id["Qwen3-TTS"]["price_per_10k_chars"] is None  # priced per call
    assert by_id["Qwen3-TTS"]["price"] == "¥0.01 / call"
    assert "x-cost" not in response.headers  # free


def test_models_need_a_valid_key(client: TestClient) -> None:
    assert_error(client.get(MODELS), 401, "UNAUTHORIZED")
    assert_error(client.get(MODELS, headers={"X-API-Key": "sk-nope"}), 401, "UNAUTHORIZED")


# --- the real engines ------------------------------------------------------------------------


@pytest.mark.slow
def test_synthesize_on_the_real_offline_engines(
    real_client: TestClient, sign_up: Any, db: Database
) -> None:
    session = sign_up()
    key = real_client.post("/api/keys", headers=session, json={"name": "real"}).json()
    headers = {"Authorization": f"Bearer {key['data']['key']}"}
    body = {**SEED_EXAMPLE, "text": "Hello, and welcome to the speech synthesis service."}
    data = assert_ok(real_client.post(SYNTHESIZE, headers=headers, json=body))
    stored = download(real_client, data["audio_url"])
    decoded = audio.decode(stored.content)
    assert decoded.format == "mp3"
    assert 1.5 < decoded.duration_seconds < 8  # about three seconds of speech
    assert decoded.duration_seconds == pytest.approx(data["duration"], abs=0.1)
    assert audio.rms_dbfs(decoded.pcm) > -40  # speech, not silence


# --- WebSocket -----------------------------------------------------------------------------------


def ws_url(**params: Any) -> str:
    query = {"model": "cosyvoice-v3-flash", "voice": "longanyang", **params}
    return STREAM + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def receive(ws: WebSocketTestSession, timeout: float = 10.0) -> dict[str, Any]:
    """The next message the server sent, or a failure after ``timeout`` (never a hang)."""

    async def get() -> dict[str, Any]:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()  # noqa: SLF001 (TestClient has no timeout)

    return ws.portal.call(get)


def receive_json(ws: WebSocketTestSession) -> dict[str, Any]:
    message = receive(ws)
    assert message["type"] == "websocket.send" and message.get("text"), message
    return json.loads(message["text"])


def receive_audio(ws: WebSocketTestSession) -> bytes:
    message = receive(ws)
    assert message["type"] == "websocket.send" and message.get("bytes"), message
    return message["bytes"]


def until_complete(ws: WebSocketTestSession) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Audio frames up to the ``complete`` message, then the close."""
    frames = []
    while True:
        message = receive(ws)
        assert message["type"] == "websocket.send", message
        if message.get("bytes") is not None:
            frames.append(message["bytes"])
        else:
            complete = json.loads(message["text"])
            break
    return b"".join(frames), complete, receive(ws)


def refused(
    client: TestClient, url: str, headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], int]:
    """The error message and close code of a session the server refuses when it opens."""
    with client.websocket_connect(url, headers=headers or {}) as ws:
        error = receive_json(ws)
        closing = receive(ws)
    assert closing["type"] == "websocket.close"
    assert set(error) >= {"type", "code", "error_code", "message"} and error["type"] == "error"
    return error, closing["code"]


def test_websocket_speaks_each_sentence_as_it_arrives_and_bills_once_at_the_end(
    client: TestClient, account: Account, speech: SpeechContext, fakes: Fakes, db: Database
) -> None:
    before = micros(db, account)
    with client.websocket_connect(ws_url(), headers=account.bearer) as ws:
        started = receive_json(ws)
        assert started == {
            "type": "started",
            "model": "cosyvoice-v3-flash",
            "voice": "longanyang",
            "format": "pcm",
            "sample_rate": 22050,
            "content_type": "audio/pcm",
            "max_characters": 200_000,
        }
        ws.send_json({"type": "text", "content": "Hello there. How are"})
        first = receive_audio(ws)  # before the rest of the text exists
        assert [r.text for r in fakes.piper.requests] == ["Hello there."]
        assert len(first) // 2 == round(fakes.piper.duration_ms("Hello there.") * 22.05)
        assert micros(db, account) == before - price(speech, "cosyvoice-v3-flash", "Hello there.")
        ws.send_json({"type": "text", "content": " you today? 我很好。"})
        ws.send_json({"type": "text", "content": "See you"})
        ws.send_json({"type": "end"})
        rest, complete, closing = until_complete(ws)
    spoken = "Hello there. How are you today? 我很好。 See you"
    characters = audio.count_characters("Hello there.How are you today? 我很好。See you")
    cost = speech.catalog.model("cosyvoice-v3-flash").price.cost(Usage(characters=characters))
    assert closing == {"type": "websocket.close", "code": 1000, "reason": ""}
    assert set(complete) == {
        "type",
        "characters",
        "duration",
        "format",
        "sample_rate",
        "bill",
        "record_id",
        "audio_url",
    }
    assert complete["type"] == "complete" and complete["characters"] == characters
    assert complete["bill"] == format_yuan(cost)
    assert complete["duration"] == pytest.approx(len(first + rest) / 2 / 22050, abs=0.005)
    assert [r.text for r in fakes.piper.requests] == [
        "Hello there.",
        "How are you today?",
        "See you",
    ]
    assert [r.text for r in fakes.espeak.requests] == ["我很好。"]
    assert micros(db, account) == before - cost  # held piece by piece, captured once
    [row] = records(db, account)
    assert (row.id, row.status, row.cost_micros, row.characters) == (
        complete["record_id"],
        "succeeded",
        cost,
        characters,
    )
    assert row.input_summary["text"].replace(" ", "") == spoken.replace(" ", "")
    assert download(client, complete["audio_url"]).content == first + rest


def test_websocket_mp3_and_a_message_ending_a_sentence_is_spoken_soon(
    client: TestClient, account: Account, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio_tts, "FLUSH_SECONDS", 0.05)
    with client.websocket_connect(
        ws_url(format="mp3", sample_rate=24000), headers=account.headers
    ) as ws:
        assert receive_json(ws)["content_type"] == "audio/mpeg"
        ws.send_json({"type": "text", "content": "One message, one sentence."})
        first = receive_audio(ws)  # no "end" yet: the short wait after a sentence mark passed
        ws.send_json({"type": "end"})
        rest, complete, _ = until_complete(ws)
    decoded = audio.decode(first + rest)
    assert decoded.format == "mp3" and decoded.source_sample_rate == 24000
    assert decoded.duration_seconds == pytest.approx(complete["duration"], abs=0.08)


def test_websocket_with_nothing_said_costs_nothing(
    client: TestClient, account: Account, db: Database
) -> None:
    before = micros(db, account)
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        receive_json(ws)
        ws.send_json({"type": "text", "content": "   "})
        ws.send_json({"type": "end"})
        audio_bytes, complete, closing = until_complete(ws)
    assert audio_bytes == b"" and closing["code"] == 1000
    assert complete == {
        "type": "complete",
        "characters": 0,
        "duration": 0.0,
        "format": "pcm",
        "sample_rate": 22050,
        "bill": "0.0000",
        "record_id": None,
        "audio_url": None,
    }
    assert micros(db, account) == before and not records(db, account)


def test_websocket_refuses_bad_credentials_and_keys_in_the_url(
    client: TestClient, account: Account, make_account: Any
) -> None:
    error, code = refused(client, ws_url())
    assert (error["code"], error["error_code"], code) == (401, "UNAUTHORIZED", 4401)
    error, code = refused(client, ws_url(), {"X-API-Key": "sk-not-a-real-key"})
    assert (error["code"], error["error_code"], code) == (401, "UNAUTHORIZED", 4401)
    error, code = refused(client, ws_url(api_key=account.key))
    assert (error["code"], error["error_code"], code) == (400, "KEY_IN_URL", 4400)
    revoked = make_account()
    revoke(client, revoked)
    error, code = refused(client, ws_url(), revoked.headers)
    assert (error["error_code"], code) == ("KEY_REVOKED", 4403)
    error, code = refused(client, ws_url(), make_account(scopes=["asr"]).headers)
    assert (error["error_code"], code) == ("SCOPE_DENIED", 4403)
    limited = make_account(rpm_limit=1)
    with client.websocket_connect(ws_url(), headers=limited.headers) as ws:
        receive_json(ws)
    error, code = refused(client, ws_url(), limited.headers)
    assert (error["error_code"], code) == ("RATE_LIMITED", 4429)
    assert error["retry_after"] >= 1


def test_websocket_accepts_the_console_cookie_from_our_own_pages_only(
    client: TestClient, account: Account
) -> None:
    token = account.session["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"amphion_session={token}"}
    with client.websocket_connect(
        ws_url(), headers={**cookie, "Origin": "http://testserver"}
    ) as ws:
        assert receive_json(ws)["type"] == "started"
    error, code = refused(client, ws_url(), {**cookie, "Origin": "https://evil.example"})
    assert (error["code"], code) == (403, 4403)


@pytest.mark.parametrize(
    ("params", "error_code"),
    [
        ({"model": "cosyvoice-v9"}, "INVALID_MODEL"),
        ({"voice": "nobody"}, "INVALID_VOICE"),
        ({"voice": "longxiaochun"}, "MODEL_VOICE_MISMATCH"),
        ({"format": "flac"}, "INVALID_INPUT"),
        ({"sample_rate": "12345"}, "INVALID_INPUT"),
    ],
)
def test_websocket_refuses_bad_parameters(
    client: TestClient, account: Account, params: dict[str, str], error_code: str
) -> None:
    error, code = refused(client, ws_url(**params), account.headers)
    assert (error["code"], error["error_code"], code) == (400, error_code, 4400)


def test_websocket_needs_model_and_voice(client: TestClient, account: Account) -> None:
    error, code = refused(client, STREAM + "?model=cosyvoice-v3-flash", account.headers)
    assert (error["error_code"], code) == ("INVALID_INPUT", 4400)
    assert "voice" in error["message"]


def test_websocket_client_leaving_mid_way_pays_nothing_and_the_engine_stops(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate(fakes.piper, monkeypatch)
    before = micros(db, account)
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        receive_json(ws)
        ws.send_json({"type": "text", "content": sentences(20) + " "})
        receive_audio(ws)  # sentence 0
        assert gate.waiting.wait(10)  # sentence 1 under way
        ws.close()
        threading.Timer(0.3, gate.open).start()
    assert micros(db, account) == before
    assert len(fakes.piper.requests) == 2  # of 20 sentences
    [item] = audio_history(client, account, type="tts")
    assert (item["record_status"], item["bill"]) == ("cancelled", "0.0000")
    assert json.loads(item["input_data"])["stream"] == "websocket"


@pytest.mark.parametrize(
    ("message", "error_code"),
    [
        ("not json", "INVALID_MESSAGE"),
        (json.dumps({"type": "shout", "content": "hi"}), "INVALID_MESSAGE"),
        (json.dumps({"type": "text", "content": 42}), "INVALID_INPUT"),
    ],
)
def test_websocket_bad_messages_end_the_session_without_charge(
    client: TestClient, account: Account, db: Database, message: str, error_code: str
) -> None:
    before = micros(db, account)
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        receive_json(ws)
        ws.send_json({"type": "text", "content": "Hello there. "})
        receive_audio(ws)
        ws.send_text(message)
        error = receive_json(ws)
        closing = receive(ws)
    assert (error["type"], error["code"], error["error_code"]) == ("error", 400, error_code)
    assert closing["code"] == 4400
    assert micros(db, account) == before
    [row] = records(db, account)
    assert (row.status, row.cost_micros) == ("failed", 0)


def test_websocket_caps_the_characters_of_a_session(
    client: TestClient, account: Account, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio_tts, "MAX_SESSION_CHARACTERS", 30)
    before = micros(db, account)
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        assert receive_json(ws)["max_characters"] == 30
        ws.send_json({"type": "text", "content": "Twenty characters!! "})
        receive_audio(ws)
        ws.send_json({"type": "text", "content": "And eleven."})
        error = receive_json(ws)
        assert (error["error_code"], receive(ws)["code"]) == ("TEXT_TOO_LONG", 4400)
    assert micros(db, account) == before


def test_websocket_short_balance_and_engine_failure_mid_session(
    client: TestClient, account: Account, make_account: Any, fakes: Fakes, db: Database
) -> None:
    poor = make_account()
    with db.write() as session:
        row = session.get(User, user_id(db, poor))
        assert row is not None
        row.balance_micros = 1
        session.add(row)
    with client.websocket_connect(ws_url(), headers=poor.headers) as ws:
        receive_json(ws)
        ws.send_json({"type": "text", "content": "Hello there. "})
        error = receive_json(ws)
        assert (error["code"], error["error_code"], receive(ws)["code"]) == (
            403,
            "INSUFFICIENT_BALANCE",
            4403,
        )
    assert micros(db, poor) == 1

    before = micros(db, account)
    fakes.piper.fail_after_chunks = 0
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        receive_json(ws)
        ws.send_json({"type": "text", "content": "Hello there. "})
        error = receive_json(ws)
        assert (error["code"], error["error_code"], receive(ws)["code"]) == (
            502,
            "UPSTREAM_ERROR",
            4502,
        )
    assert micros(db, account) == before
    assert [row.status for row in records(db, account)] == ["failed"]


def test_websocket_idle_session_is_closed(
    client: TestClient, account: Account, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio_tts, "IDLE_SECONDS", 0.2)
    with client.websocket_connect(ws_url(), headers=account.headers) as ws:
        assert receive_json(ws)["type"] == "started"
        error = receive_json(ws)
        closing = receive(ws)
    assert (error["code"], error["error_code"], closing["code"]) == (408, "IDLE_TIMEOUT", 4408)
    assert not records(db, account)


# --- the real server -----------------------------------------------------------------------------


@pytest.fixture
def live_api(tmp_path: Any) -> Iterator[str]:
    """``amphion serve --api-only`` on a free port: granian, the server the console runs the
    API under too (a server may not send a close frame while a receive is pending)."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "AMPHION_DATA_DIR": str(tmp_path),
        "AMPHION_SECRET_KEY": "live-api-secret-key-long-enough",
        "AMPHION_INPROCESS_WORKER": "false",
    }
    env.pop("AMPHION_DATABASE_URL", None)
    amphion = Path(sys.executable).parent / "amphion"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(amphion), "serve", "--api-only", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.slow
def test_websocket_on_the_real_server_ends_with_a_close_frame(live_api: str) -> None:
    import httpx
    import websockets

    with httpx.Client(base_url=f"http://{live_api}", timeout=30) as http:
        signup = {"email": "live@example.com", "password": "correct horse battery"}
        token = http.post("/api/auth/signup", json=signup).json()["data"]["token"]
        keys = http.post("/api/keys", headers={"Authorization": f"Bearer {token}"}, json={})
        headers = {"X-API-Key": keys.json()["data"]["key"]}

    async def session() -> tuple[bytes, dict[str, Any], int | None]:
        url = f"ws://{live_api}{ws_url()}"
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "started"
            await ws.send(json.dumps({"type": "text", "content": "Hello there. "}))
            frames = [await asyncio.wait_for(ws.recv(), 30)]
            await ws.send(json.dumps({"type": "end"}))
            while isinstance(message := await asyncio.wait_for(ws.recv(), 30), bytes):
                frames.append(message)
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return b"".join(frames), json.loads(message), closed.rcvd and closed.rcvd.code
            raise AssertionError("no close frame after complete")

    audio_bytes, complete, code = asyncio.run(session())
    assert code == 1000
    assert complete["type"] == "complete" and complete["characters"] == 12
    assert complete["duration"] == pytest.approx(len(audio_bytes) / 2 / 22050, abs=0.005)
