"""Golden tests of the OpenAI-compatible dialect (seeds 002, 003) on fake engines.

Each route: request → status, headers (Content-Type, X-Request-Id, usage headers on billable
success), body shape, for success and for each error the seeds document; failed calls charge
nothing, successful ones charge exactly the catalog price and show up in ``/api/history``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from httpx import Response

from api import audio
from api.billing import ledger
from api.billing.money import format_yuan
from api.billing.pricing import Usage
from api.catalog.catalog import get_catalog
from api.engines.base import Pcm, Segment, Transcript
from api.engines.fakes import tone
from api.errors import ServiceUnavailableError, UpstreamError
from api.http.context import AppContext
from api.speech import cloning
from api.speech.context import SpeechContext
from api.speech.subtitles import to_srt, to_vtt
from tests.dialects.conftest import Account
from tests.speech.conftest import Fakes, caller_for

SPEECH = "/v1/audio/speech"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
HEARD = "Hello world. This is a test."
TEXT_100 = ("The quick brown fox jumps over the lazy dog. " * 3)[:99] + "."  # 100 characters
USAGE = ("X-Cost", "X-Balance-Remaining", "X-Gateway-Overhead-Ms")


# --- helpers ---------------------------------------------------------------------------------


def wav(seconds: float, rate: int = 16000) -> bytes:
    return audio.encode(Pcm(tone(round(seconds * rate), rate, 220.0), rate), "wav")


def micros(context: AppContext, account: Account, client: TestClient) -> int:
    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    with context.db.read() as session:
        return ledger.balance_of(session, user_id)


def tts_price(characters: int, model: str = "tts-1") -> int:
    return get_catalog().model(model).price.cost(Usage(characters=characters))


def asr_price(ms: int, model: str = "whisper-1") -> int:
    return get_catalog().model(model).price.cost(Usage(audio_ms=ms))


def history(client: TestClient, account: Account) -> list[dict[str, Any]]:
    response = client.get("/api/history", headers=account.session)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


def assert_openai_error(
    response: Response, status: int, *, type_: str, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == type_ and error["message"]
    assert error["param"] == param
    return error


def assert_usage_headers(response: Response, *, cost: int, characters: int | None = None) -> None:
    assert response.headers["x-request-id"]
    for name in USAGE:
        assert response.headers[name]
    assert response.headers["x-cost"] == format_yuan(cost)
    if characters is not None:
        assert response.headers["x-billed-characters"] == str(characters)
    assert_server_timing(response)


def assert_server_timing(response: Response) -> None:
    """``Server-Timing`` splits the server's time between engines and the gateway, and its
    gateway part is the overhead header's figure."""
    metrics = dict(
        re.fullmatch(r"(\w+);dur=([0-9.]+)", part.strip()).groups()  # type: ignore[union-attr]
        for part in response.headers["server-timing"].split(",")
    )
    assert set(metrics) == {"engine", "gateway"}
    assert metrics["gateway"] == response.headers["x-gateway-overhead-ms"]
    assert float(metrics["engine"]) >= 0


def speak(client: TestClient, account: Account, **fields: Any) -> Response:
    body = {"model": "tts-1", "input": TEXT_100, "voice": "alloy", **fields}
    return client.post(SPEECH, headers=account.bearer, json=body)


def transcribe(
    client: TestClient,
    account: Account,
    data: bytes | None = None,
    *,
    path: str = TRANSCRIPTIONS,
    name: str = "speech.wav",
    fields: list[tuple[str, str]] | None = None,
) -> Response:
    form: dict[str, list[str]] = {}
    for key, value in fields if fields is not None else [("model", "whisper-1")]:
        form.setdefault(key, []).append(value)
    files = {"file": (name, data if data is not None else wav(2.5), "audio/wav")}
    return client.post(path, headers=account.bearer, data=form, files=files)


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            events.append(json.loads(block[len("data: ") :]))
    return events


@pytest.fixture
def funded(client: TestClient, account: Account, context: AppContext) -> int:
    """The account's balance in µ¥ before the test's calls."""
    return micros(context, account, client)


# --- POST /v1/audio/speech -------------------------------------------------------------------


def test_speech_unstreamed_mp3_is_charged_the_catalog_price_and_recorded(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    response = speak(client, account, stream=False)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert_usage_headers(response, cost=tts_price(100), characters=100)
    assert tts_price(100) == 10_800  # ¥0.108 per 1,000 characters
    assert response.headers["content-length"] == str(len(response.content))  # a whole file
    samples, rate = soundfile.read(io.BytesIO(response.content))
    assert rate == 22050 and len(samples) / rate == pytest.approx(100 * 0.06, abs=0.1)
    assert micros(context, account, client) == funded - 10_800
    assert response.headers["x-balance-remaining"] == format_yuan(funded - 10_800)
    [record] = history(client, account)
    assert (record["type"], record["model"], record["voice"]) == ("tts", "tts-1", "alloy")
    assert (record["status"], record["bill"], record["characters"]) == ("succeeded", "0.0108", 100)


def test_speech_streams_by_default_and_settles_at_the_end(
    client: TestClient, account: Account, context: AppContext, funded: int, fakes: Fakes
) -> None:
    response = speak(client, account)  # seed 003: stream defaults to true

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert "content-length" not in response.headers  # streamed: no length up front
    assert_usage_headers(response, cost=10_800, characters=100)
    # Sent before the audio: the balance with the whole cost held up front.
    assert response.headers["x-balance-remaining"] == format_yuan(funded - 10_800)
    samples, rate = soundfile.read(io.BytesIO(response.content))
    assert len(samples) / rate == pytest.approx(6.0, abs=0.15)
    assert micros(context, account, client) == funded - 10_800
    [record] = history(client, account)
    assert record["status"] == "succeeded" and record["input"]["stream"] is True
    assert len(fakes.piper.requests) == 3  # one per sentence: made as it was sent


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("mp3", "audio/mpeg"),
        ("opus", "audio/opus"),
        ("aac", "audio/aac"),
        ("flac", "audio/flac"),
        ("wav", "audio/wav"),
        ("pcm", "audio/pcm"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_speech_formats_have_seed_003_content_types(
    client: TestClient, account: Account, fmt: str, content_type: str, stream: bool
) -> None:
    response = speak(client, account, input="Hello there.", response_format=fmt, stream=stream)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert_usage_headers(response, cost=tts_price(12), characters=12)
    if fmt == "pcm":  # OpenAI's pcm: 24 kHz 16-bit little-endian mono
        assert len(response.content) == pytest.approx(12 * 0.06 * 24_000 * 2, rel=0.01)
    elif fmt == "aac":
        assert audio.probe_format(response.content) == "aac"
    else:
        decoded = audio.decode(response.content)
        assert decoded.pcm.duration_ms == pytest.approx(720, abs=100)  # + MP3 stream padding


def test_speech_sse_events_carry_the_audio_and_usage(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    response = speak(client, account, model="gpt-4o-mini-tts", voice="coral", stream_format="sse")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    cost = tts_price(100, "gpt-4o-mini-tts")
    assert_usage_headers(response, cost=cost, characters=100)
    events = sse_events(response.text)
    *deltas, done = events
    assert len(deltas) >= 3 and {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert done == {
        "type": "speech.audio.done",
        "usage": {"input_tokens": 100, "output_tokens": 0, "total_tokens": 100},
    }
    mp3 = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    samples, rate = soundfile.read(io.BytesIO(mp3))
    assert len(samples) / rate == pytest.approx(6.0, abs=0.15)
    assert micros(context, account, client) == funded - cost


def test_speech_takes_a_voice_object_speed_sample_rate_and_instructions(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    response = speak(
        client,
        account,
        model="gpt-4o-mini-tts",
        voice={"id": "nova"},
        instructions="Speak cheerfully.",
        response_format="wav",
        speed=2.0,
        sample_rate=16000,
        stream=False,
        user="end-user-7",
    )

    assert response.status_code == 200, response.text
    samples, rate = soundfile.read(io.BytesIO(response.content))
    assert rate == 16000 and len(samples) / rate == pytest.approx(3.0, abs=0.1)
    engine = fakes.piper if fakes.piper.requests else fakes.espeak
    assert {r.instruction for r in engine.requests} == {"Speak cheerfully."}
    assert {r.speed for r in engine.requests} == {2.0}


def test_speech_speaks_with_the_callers_cloned_voice_only(
    client: TestClient,
    account: Account,
    make_account,
    speech: SpeechContext,
    fakes: Fakes,
    finish_jobs,
) -> None:
    from tests.engines import speech_samples as samples

    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    story = samples.espeak(samples.REFERENCE_STORY, "en-us+f3", rate=140)
    submitted = cloning.create_voice(
        speech,
        caller_for(user_id),
        audio.encode(story, "wav", sample_rate=16000),
        prefix="mine",
        target_model="tts-1",
    )
    finish_jobs()
    voice_id = submitted.voice.voice_id

    for voice in (voice_id, {"id": voice_id}):
        response = speak(client, account, voice=voice, input="Hello there.", stream=False)
        assert response.status_code == 200, response.text
    assert len(fakes.clone.applied) == 2
    record = history(client, account)[0]  # newest first
    assert record["voice"] == voice_id
    stranger = make_account()
    refused = speak(client, stranger, voice=voice_id, input="Hello there.")
    assert_openai_error(refused, 400, type_="invalid_request_error", param="voice")


def test_speech_too_long_input_is_400_and_free(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    response = speak(client, account, input="a" * 4097)

    error = assert_openai_error(response, 400, type_="invalid_request_error", param="input")
    assert "4096" in error["message"]
    assert speak(client, account, input="a" * 4096, stream=False).status_code == 200
    assert micros(context, account, client) == funded - tts_price(4096)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"speed": 4.5}, "speed"),
        ({"speed": 0.2}, "speed"),
        ({"response_format": "ogg"}, "response_format"),
        ({"stream_format": "json"}, "stream_format"),
        ({"sample_rate": 12345}, "sample_rate"),
        ({"input": ""}, "input"),
        ({"input": "   "}, "input"),
        ({"voice": "nobody"}, "voice"),
        ({"voice": "verse"}, "voice"),  # a gpt-4o-mini-tts voice, not tts-1's
        ({"instructions": "Whisper."}, "instructions"),  # not for tts-1 (OpenAI)
        ({"model": None}, "model"),
    ],
)
def test_speech_bad_parameters_are_400_and_free(
    client: TestClient,
    account: Account,
    context: AppContext,
    funded: int,
    fields: dict[str, Any],
    param: str,
) -> None:
    body = {"model": "tts-1", "input": "Hello.", "voice": "alloy", **fields}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.post(SPEECH, headers=account.headers, json=body)

    assert_openai_error(response, 400, type_="invalid_request_error", param=param)
    assert micros(context, account, client) == funded
    assert history(client, account) == []


def test_speech_body_that_is_not_json_is_400(client: TestClient, account: Account) -> None:
    response = client.post(
        SPEECH, headers={**account.headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert_openai_error(response, 400, type_="invalid_request_error")


@pytest.mark.parametrize("model", ["gpt-5-tts", "whisper-1"])
def test_speech_unknown_model_is_404_model_not_found(
    client: TestClient, account: Account, context: AppContext, funded: int, model: str
) -> None:
    for stream in (False, True):
        response = speak(client, account, model=model, stream=stream)
        error = assert_openai_error(response, 404, type_="not_found_error", param="model")
        assert error["code"] == "model_not_found" and model in error["message"]
    assert micros(context, account, client) == funded


def test_speech_without_or_with_a_bad_key_is_401(client: TestClient) -> None:
    body = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}
    missing = client.post(SPEECH, json=body)
    assert_openai_error(missing, 401, type_="authentication_error")
    bad = client.post(SPEECH, json=body, headers={"Authorization": "Bearer sk-not-a-real-key"})
    assert_openai_error(bad, 401, type_="authentication_error")


def test_speech_with_a_revoked_key_is_403(client: TestClient, account: Account) -> None:
    [key] = client.get("/api/keys", headers=account.session).json()["data"]
    client.delete(f"/api/keys/{key['id']}", headers=account.session)
    response = speak(client, account)
    error = assert_openai_error(response, 403, type_="permission_error")
    assert error["code"] == "key_revoked"


def test_speech_without_the_tts_scope_is_403_and_free(
    client: TestClient, make_account, context: AppContext
) -> None:
    listener = make_account(scopes=["asr"])
    before = micros(context, listener, client)
    response = speak(client, listener)
    assert_openai_error(response, 403, type_="permission_error")
    assert micros(context, listener, client) == before


def test_speech_with_a_short_balance_is_403_and_free(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    with context.db.write() as session:
        ledger.adjust(session, user_id, -(funded - 100), note="drain for the test")
    for stream in (False, True):
        response = speak(client, account, stream=stream)
        error = assert_openai_error(response, 403, type_="permission_error")
        assert error["code"] == "insufficient_balance"
    assert micros(context, account, client) == 100


def test_speech_over_the_spend_cap_is_403(client: TestClient, make_account) -> None:
    capped = make_account(spend_cap="0.0001")
    response = speak(client, capped)
    error = assert_openai_error(response, 403, type_="permission_error")
    assert error["code"] == "spend_cap_exceeded"


def test_speech_over_the_key_rpm_is_429_with_retry_after(client: TestClient, make_account) -> None:
    limited = make_account(rpm_limit=1)
    assert speak(client, limited, input="Hi.").status_code == 200
    response = speak(client, limited, input="Hi.")
    assert_openai_error(response, 429, type_="rate_limit_error")
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("stream", [False, True])
def test_speech_engine_failure_is_502_and_free(
    client: TestClient,
    account: Account,
    context: AppContext,
    funded: int,
    fakes: Fakes,
    stream: bool,
) -> None:
    fakes.piper.fail = UpstreamError("The speech engine failed")
    response = speak(client, account, stream=stream)

    error = assert_openai_error(response, 502, type_="server_error")
    assert error["code"] == "upstream_error"
    assert micros(context, account, client) == funded
    [record] = history(client, account)
    assert (record["status"], record["bill"]) == ("failed", "0.0000")


def test_speech_sse_failing_midway_ends_with_an_error_event_and_is_free(
    client: TestClient, account: Account, context: AppContext, funded: int, fakes: Fakes
) -> None:
    fakes.piper.fail_after_chunks = 1
    response = speak(client, account, stream_format="sse")

    assert response.status_code == 200  # the first audio was already on its way
    *deltas, last = sse_events(response.text)
    assert deltas and {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert last["type"] == "error"
    assert last["error"]["type"] == "server_error" and last["error"]["code"] == "upstream_error"
    assert micros(context, account, client) == funded


# --- POST /v1/audio/transcriptions -----------------------------------------------------------


def test_transcription_json_is_charged_per_second_and_recorded(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    response = transcribe(client, account)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    cost = asr_price(2500)
    assert cost == 1800  # ¥0.00072 per second
    assert_usage_headers(response, cost=cost)
    assert response.headers["x-billed-seconds"] == "2.500"
    assert response.json() == {"text": HEARD, "usage": {"type": "duration", "seconds": 3}}
    assert micros(context, account, client) == funded - cost
    [record] = history(client, account)
    assert (record["type"], record["model"], record["status"]) == ("asr", "whisper-1", "succeeded")
    assert record["output_text"] == HEARD and record["input"]["file"] == "speech.wav"


def test_transcription_text_srt_and_vtt(client: TestClient, account: Account) -> None:
    def ask(fmt: str) -> Response:
        fields = [("model", "whisper-1"), ("response_format", fmt)]
        response = transcribe(client, account, fields=fields)
        assert response.status_code == 200, response.text
        assert_usage_headers(response, cost=asr_price(2500))
        return response

    text = ask("text")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == HEARD + "\n"

    srt = ask("srt")
    assert srt.headers["content-type"].startswith("application/x-subrip")
    first, second = srt.text.strip().split("\n\n")
    assert first.splitlines()[0] == "1" and first.splitlines()[2] == "Hello world."
    assert first.splitlines()[1].startswith("00:00:00,000 --> 00:00:0")
    assert second.splitlines()[0] == "2" and second.splitlines()[2] == "This is a test."
    assert second.splitlines()[1].endswith("--> 00:00:02,500")

    vtt = ask("vtt")
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert "00:00:02.500\nThis is a test.\n" in vtt.text


def test_transcription_verbose_json_with_words_and_segments(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    fields = [
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("language", "en"),
        ("prompt", "A greeting."),
        ("temperature", "0.2"),
    ]
    response = transcribe(client, account, fields=fields)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"task", "language", "duration", "text", "segments", "words", "usage"}
    assert (body["task"], body["language"], body["duration"]) == ("transcribe", "english", 2.5)
    assert body["text"] == HEARD
    first, second = body["segments"]
    assert set(first) == {
        "id",
        "seek",
        "start",
        "end",
        "text",
        "tokens",
        "temperature",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
    }
    assert (first["id"], first["start"], first["text"], first["temperature"]) == (
        0,
        0.0,
        "Hello world.",
        0.2,
    )
    assert second["end"] == 2.5 and first["end"] == second["start"]
    assert [w["word"] for w in body["words"]] == ["Hello", "world.", "This", "is", "a", "test."]
    assert all(set(w) == {"word", "start", "end"} for w in body["words"])
    assert body["words"][-1]["end"] == 2.5
    [request] = fakes.asr.requests
    assert (request.word_timestamps, request.prompt, request.language) == (
        True,
        "A greeting.",
        "en",
    )


def test_transcription_verbose_json_granularities(client: TestClient, account: Account) -> None:
    plain = transcribe(
        client, account, fields=[("model", "whisper-1"), ("response_format", "verbose_json")]
    ).json()
    assert "segments" in plain and "words" not in plain
    words = transcribe(
        client,
        account,
        fields=[
            ("model", "whisper-1"),
            ("response_format", "verbose_json"),
            ("timestamp_granularities", "word"),  # curl users often leave out the brackets
        ],
    ).json()
    assert "words" in words and "segments" not in words


def test_transcription_stream_sends_deltas_then_done(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    response = transcribe(client, account, fields=[("model", "whisper-1"), ("stream", "true")])

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert_usage_headers(response, cost=asr_price(2500))
    *deltas, done = sse_events(response.text)
    assert deltas == [
        {"type": "transcript.text.delta", "delta": "Hello world."},
        {"type": "transcript.text.delta", "delta": " This is a test."},
    ]
    assert done == {
        "type": "transcript.text.done",
        "text": HEARD,
        "usage": {"type": "duration", "seconds": 3},
    }
    assert micros(context, account, client) == funded - asr_price(2500)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            [("response_format", "json"), ("timestamp_granularities[]", "word")],
            "timestamp_granularities",
        ),
        (
            [("response_format", "verbose_json"), ("timestamp_granularities[]", "line")],
            "timestamp_granularities",
        ),
        ([("response_format", "diarized_json")], "response_format"),
        ([("response_format", "srt"), ("stream", "true")], "stream"),
        ([("temperature", "1.5")], "temperature"),
        ([("language", "xx")], "language"),
        ([("stream", "maybe")], "stream"),
    ],
)
def test_transcription_bad_parameters_are_400_and_free(
    client: TestClient,
    account: Account,
    context: AppContext,
    funded: int,
    fields: list[tuple[str, str]],
    param: str,
) -> None:
    response = transcribe(client, account, fields=[("model", "whisper-1"), *fields])
    assert_openai_error(response, 400, type_="invalid_request_error", param=param)
    assert micros(context, account, client) == funded


def test_transcription_missing_file_or_model_is_400(client: TestClient, account: Account) -> None:
    no_file = client.post(TRANSCRIPTIONS, headers=account.bearer, data={"model": "whisper-1"})
    assert_openai_error(no_file, 400, type_="invalid_request_error", param="file")
    no_model = transcribe(client, account, fields=[])
    assert_openai_error(no_model, 400, type_="invalid_request_error", param="model")


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "tts-1"])
def test_transcription_unknown_model_is_404_model_not_found(
    client: TestClient, account: Account, model: str
) -> None:
    response = transcribe(client, account, fields=[("model", model)])
    error = assert_openai_error(response, 404, type_="not_found_error", param="model")
    assert error["code"] == "model_not_found"


def test_transcription_of_a_zip_named_wav_is_415_and_free(
    client: TestClient, account: Account, context: AppContext, funded: int
) -> None:
    zipped = b"PK\x03\x04" + b"\0" * 2000
    response = transcribe(client, account, zipped, name="speech.wav")
    assert_openai_error(response, 415, type_="invalid_request_error")
    empty = transcribe(client, account, b"", name="speech.wav")
    assert_openai_error(empty, 400, type_="invalid_request_error", param="file")
    assert micros(context, account, client) == funded
    assert history(client, account) == []


def test_transcription_of_a_file_over_25_mb_is_413(client: TestClient, account: Account) -> None:
    big = b"RIFF" + b"\0" * (25 * 1024 * 1024 + 1)
    response = transcribe(client, account, big)
    assert_openai_error(response, 413, type_="invalid_request_error")


def test_transcription_auth_and_balance_errors(
    client: TestClient, account: Account, make_account, context: AppContext, funded: int
) -> None:
    files = {"file": ("a.wav", wav(1.0), "audio/wav")}
    missing = client.post(TRANSCRIPTIONS, data={"model": "whisper-1"}, files=files)
    assert_openai_error(missing, 401, type_="authentication_error")
    speaker = make_account(scopes=["tts"])
    assert_openai_error(transcribe(client, speaker), 403, type_="permission_error")
    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    with context.db.write() as session:
        ledger.adjust(session, user_id, -funded, note="drain for the test")
    error = assert_openai_error(transcribe(client, account), 403, type_="permission_error")
    assert error["code"] == "insufficient_balance"
    limited = make_account(rpm_limit=1)
    assert transcribe(client, limited).status_code == 200
    too_soon = transcribe(client, limited)
    assert_openai_error(too_soon, 429, type_="rate_limit_error")
    assert too_soon.headers["retry-after"]


def test_transcription_engine_failure_is_503_and_free(
    client: TestClient, account: Account, context: AppContext, funded: int, fakes: Fakes
) -> None:
    fakes.asr.fail = ServiceUnavailableError("Speech recognition failed")
    response = transcribe(client, account)
    assert_openai_error(response, 503, type_="server_error")
    assert micros(context, account, client) == funded
    [record] = history(client, account)
    assert record["status"] == "failed"


# --- POST /v1/audio/translations -------------------------------------------------------------


def test_translation_asks_the_engine_to_translate(
    client: TestClient, account: Account, context: AppContext, funded: int, fakes: Fakes
) -> None:
    response = transcribe(client, account, path=TRANSLATIONS)

    assert response.status_code == 200, response.text
    assert response.json() == {"text": HEARD, "usage": {"type": "duration", "seconds": 3}}
    assert_usage_headers(response, cost=asr_price(2500))
    assert [r.task for r in fakes.asr.requests] == ["translate"]
    assert micros(context, account, client) == funded - asr_price(2500)
    [record] = history(client, account)
    assert record["input"]["task"] == "translate"


def test_translation_formats(client: TestClient, account: Account) -> None:
    verbose = transcribe(
        client,
        account,
        path=TRANSLATIONS,
        fields=[("model", "whisper-1"), ("response_format", "verbose_json")],
    ).json()
    assert (verbose["task"], verbose["language"], verbose["duration"]) == (
        "translate",
        "english",
        2.5,
    )
    assert len(verbose["segments"]) == 2
    text = transcribe(
        client,
        account,
        path=TRANSLATIONS,
        fields=[("model", "whisper-1"), ("response_format", "text")],
    )
    assert text.text == HEARD + "\n"
    srt = transcribe(
        client,
        account,
        path=TRANSLATIONS,
        fields=[("model", "whisper-1"), ("response_format", "srt")],
    )
    assert srt.text.startswith("1\n00:00:00,000 --> ")


def test_translation_errors(client: TestClient, account: Account) -> None:
    unknown = transcribe(client, account, path=TRANSLATIONS, fields=[("model", "whisper-9")])
    assert_openai_error(unknown, 404, type_="not_found_error", param="model")
    english_only = transcribe(
        client, account, path=TRANSLATIONS, fields=[("model", "faster-whisper-tiny.en")]
    )
    assert english_only.status_code in (200, 400)  # the fake hears any language
    zipped = transcribe(client, account, b"PK\x03\x04" + b"\0" * 100, path=TRANSLATIONS)
    assert_openai_error(zipped, 415, type_="invalid_request_error")
    missing = client.post(TRANSLATIONS, data={"model": "whisper-1"})
    assert_openai_error(missing, 401, type_="authentication_error")


# --- GET /v1/models --------------------------------------------------------------------------


def test_models_list_every_catalog_model(client: TestClient, account: Account) -> None:
    response = client.get("/v1/models", headers=account.bearer)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "list"
    ids = [model["id"] for model in body["data"]]
    assert ids == [model.id for model in get_catalog().models()]
    for needed in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1"):
        assert needed in ids
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and model["created"] > 0
        assert model["owned_by"] == "amphion-offline"


def test_models_retrieve_one_and_404(client: TestClient, account: Account) -> None:
    found = client.get("/v1/models/whisper-1", headers=account.headers)
    assert found.status_code == 200
    assert found.json()["id"] == "whisper-1" and found.json()["object"] == "model"
    alias = client.get("/v1/models/v3-turbo", headers=account.headers)
    assert alias.json()["id"] == "fish-v3-turbo"
    missing = client.get("/v1/models/gpt-9", headers=account.headers)
    error = assert_openai_error(missing, 404, type_="not_found_error", param="model")
    assert error["code"] == "model_not_found"
    assert_openai_error(client.get("/v1/models"), 401, type_="authentication_error")


def test_models_name_the_hosted_provider(client: TestClient, account: Account, monkeypatch) -> None:
    from api.catalog.catalog import ModelSpec
    from api.http.routes import openai as routes

    spec = get_catalog().model("tts-1")
    hosted = ModelSpec(**{**spec.__dict__, "provider": "dashscope"})
    assert routes._model_object(hosted, 1).owned_by == "dashscope"


# --- OpenAPI and subtitles -------------------------------------------------------------------


def test_openapi_documents_the_routes_with_openai_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, method in [
        (SPEECH, "post"),
        (TRANSCRIPTIONS, "post"),
        (TRANSLATIONS, "post"),
        ("/v1/models", "get"),
        ("/v1/models/{model}", "get"),
    ]:
        operation = spec["paths"][path][method]
        assert operation["summary"] or operation["description"]
        assert "401" in operation["responses"]
        example = operation["responses"]["401"]["content"]["application/json"]["example"]
        assert {"message", "type", "code"} <= set(example["error"])
    speech = spec["paths"][SPEECH]["post"]["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/opus", "audio/pcm", "text/event-stream"} <= set(speech)


def test_subtitles_keep_cues_on_one_line() -> None:
    transcript = Transcript(
        "A --> B\n\nC",
        "en",
        3_723_456,
        (Segment(0, "A --> B\n\nC", 3_600_000, 3_723_456),),
    )
    assert to_srt(transcript) == "1\n01:00:00,000 --> 01:02:03,456\nA -> B C\n"
    assert to_vtt(transcript) == "WEBVTT\n\n01:00:00.000 --> 01:02:03.456\nA -> B C\n"
    bare = Transcript("Just text.", "en", 1500)
    assert to_srt(bare) == "1\n00:00:00,000 --> 00:00:01,500\nJust text.\n"
    assert to_vtt(Transcript("", "en", 0)) == "WEBVTT\n"


def test_decoded_pcm_is_mono_int16(client: TestClient, account: Account) -> None:
    response = speak(client, account, input="Hi.", response_format="pcm", stream=False)
    samples = np.frombuffer(response.content, dtype="<i2")
    assert len(samples) == pytest.approx(3 * 0.06 * 24_000, abs=50) and samples.any()
