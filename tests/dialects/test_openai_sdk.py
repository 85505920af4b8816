"""The official ``openai`` Python SDK as a real client of a live server (seeds 002, 003).

The API app runs under uvicorn on a free loopback port in a background thread, and the SDK is
pointed at it with ``base_url=http://127.0.0.1:<port>/v1``. Most tests run on the fake engines;
one round trip runs the real offline engines (Piper speaks, Whisper base listens). Streaming is
checked on the wire: the first audio arrives long before the whole text is spoken, and a client
that hangs up early is charged nothing while the engine stops.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest
import soundfile
import uvicorn
from fastapi.testclient import TestClient
from openai import OpenAI
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    TranslationVerbose,
)

from api.billing import ledger
from api.billing.pricing import Usage
from api.catalog.catalog import get_catalog
from api.db import Database
from api.http.app import create_api
from api.http.context import AppContext
from api.speech.context import SpeechContext
from api.speech.runtime import use_speech_context
from api.storage import get_object_store
from tests.dialects.conftest import Account
from tests.dialects.test_audio_tts import Gate, within
from tests.dialects.test_openai_dialect import HEARD, wav
from tests.speech.conftest import Fakes

SENTENCE = "One two three four five six."
SENTENCES = f"{SENTENCE} " * 8  # 8 sentences, one engine call each


@contextmanager
def serve(context: AppContext) -> Iterator[str]:
    """The API app under uvicorn on a free loopback port, in a background thread."""
    config = uvicorn.Config(
        create_api(context), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="openai-sdk-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live(context: AppContext, speech: SpeechContext) -> Iterator[str]:
    """The live server on the fake engines."""
    with serve(context) as url:
        yield url


@pytest.fixture
def sdk(live: str) -> Iterator[Callable[..., OpenAI]]:
    """SDK clients of the live server (closed after the test): ``sdk(account, key=None)``."""
    made: list[OpenAI] = []

    def make(account: Account, key: str | None = None) -> OpenAI:
        client = OpenAI(
            base_url=f"{live}/v1", api_key=key or account.key, max_retries=0, timeout=60
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def balance_micros(client: TestClient, context: AppContext, account: Account) -> int:
    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    with context.db.read() as session:
        return ledger.balance_of(session, user_id)


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(block[len("data: ") :]) for block in text.split("\n\n") if block.strip()]


def audio_file(seconds: float = 2.5) -> tuple[str, bytes, str]:
    return ("speech.wav", wav(seconds), "audio/wav")


# --- speech ----------------------------------------------------------------------------------


def test_sdk_speech_create_gives_a_decodable_file(
    sdk: Callable[..., OpenAI], account: Account, client: TestClient, context: AppContext
) -> None:
    before = balance_micros(client, context, account)
    answer = sdk(account).audio.speech.create(
        model="tts-1", voice="alloy", input="Hello from the SDK. It works."
    )

    samples, rate = soundfile.read(io.BytesIO(answer.content))
    assert rate == 22050 and len(samples) / rate == pytest.approx(29 * 0.06, abs=0.15)
    assert answer.response.headers["content-type"] == "audio/mpeg"
    cost = get_catalog().model("tts-1").price.cost(Usage(characters=29))
    assert balance_micros(client, context, account) == before - cost
    assert answer.response.headers["x-billed-characters"] == "29"


def test_sdk_speech_with_streaming_response(sdk: Callable[..., OpenAI], account: Account) -> None:
    speech = sdk(account).audio.speech
    with speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input=SENTENCES,
        response_format="wav",
        instructions="Calm and slow.",
        speed=1.5,
    ) as response:
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = list(response.iter_bytes())

    samples, rate = soundfile.read(io.BytesIO(b"".join(chunks)))
    assert len(samples) / rate == pytest.approx(8 * len(SENTENCE) * 0.06 / 1.5, abs=0.1)


def test_sdk_speech_sse_stream_format(sdk: Callable[..., OpenAI], account: Account) -> None:
    answer = sdk(account).audio.speech.create(
        model="gpt-4o-mini-tts", voice="verse", input="Hi there.", stream_format="sse"
    )

    assert answer.response.headers["content-type"].startswith("text/event-stream")
    *deltas, done = sse_events(answer.text)
    assert deltas and all(event["type"] == "speech.audio.delta" for event in deltas)
    assert done["type"] == "speech.audio.done" and done["usage"]["input_tokens"] == 9


def test_sdk_pcm_is_24_khz(sdk: Callable[..., OpenAI], account: Account) -> None:
    answer = sdk(account).audio.speech.create(
        model="tts-1-hd", voice="onyx", input="Hi.", response_format="pcm"
    )
    assert answer.response.headers["content-type"] == "audio/pcm"
    assert len(answer.content) == pytest.approx(3 * 0.06 * 24_000 * 2, abs=100)


# --- streaming on the wire -------------------------------------------------------------------


def test_first_audio_arrives_before_the_whole_text_is_spoken(
    live: str, account: Account, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    # Causal, not timed: every sentence after the first is held back until the first audio has
    # reached the client, so the request can only succeed if that audio was really streamed.
    gate = Gate(fakes.piper, monkeypatch)
    body = {"model": "tts-1", "voice": "alloy", "input": SENTENCES, "response_format": "pcm"}
    with httpx.stream(
        "POST", f"{live}/v1/audio/speech", json=body, headers=account.bearer, timeout=30
    ) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        first = within(20, lambda: next(chunks))
        # The first audio is here while the next sentence waits at the closed gate.
        assert gate.waiting.wait(10) and not gate.opened.is_set()
        gate.open()
        rest = b"".join(chunks)

    assert first and rest


def test_an_engine_failing_midstream_cuts_the_body_and_charges_nothing(
    live: str, account: Account, client: TestClient, context: AppContext, fakes: Fakes
) -> None:
    import httpx

    fakes.piper.fail_after_chunks = 2
    before = balance_micros(client, context, account)
    body = {"model": "tts-1", "voice": "alloy", "input": SENTENCES, "response_format": "pcm"}
    with (
        pytest.raises(httpx.RemoteProtocolError),  # no clean end: the client knows it is cut
        httpx.stream(
            "POST", f"{live}/v1/audio/speech", json=body, headers=account.bearer, timeout=30
        ) as response,
    ):
        assert response.status_code == 200
        b"".join(response.iter_raw())

    [record] = client.get("/api/history", headers=account.session).json()["data"]["items"]
    assert record["status"] == "failed" and record["bill"] == "0.0000"
    assert balance_micros(client, context, account) == before


def test_a_client_that_hangs_up_is_not_charged_and_the_engine_stops(
    sdk: Callable[..., OpenAI],
    account: Account,
    client: TestClient,
    context: AppContext,
    fakes: Fakes,
) -> None:
    fakes.piper.delay_seconds = 0.2
    before = balance_micros(client, context, account)
    with sdk(account).audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SENTENCES, response_format="pcm"
    ) as response:
        assert next(response.iter_bytes())  # the first audio, then hang up

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = client.get("/api/history", headers=account.session).json()["data"]["items"]
        if records and records[0]["status"] != "pending":
            break
        time.sleep(0.05)
    [record] = records
    assert record["status"] == "cancelled" and record["bill"] == "0.0000"
    assert balance_micros(client, context, account) == before
    time.sleep(0.5)  # nothing more is made after the hang-up was noticed
    assert len(fakes.piper.requests) < 8


# --- transcriptions and translations ---------------------------------------------------------


def test_sdk_transcription_json(sdk: Callable[..., OpenAI], account: Account) -> None:
    result = sdk(account).audio.transcriptions.create(model="whisper-1", file=audio_file())

    assert isinstance(result, Transcription)
    assert result.text == HEARD
    assert result.usage is not None and result.usage.type == "duration"
    assert result.usage.seconds == 3


def test_sdk_transcription_verbose_json(sdk: Callable[..., OpenAI], account: Account) -> None:
    result = sdk(account).audio.transcriptions.create(
        model="whisper-1",
        file=audio_file(),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
        temperature=0.0,
        prompt="Greetings.",
    )

    assert isinstance(result, TranscriptionVerbose)
    assert (result.text, result.language, result.duration) == (HEARD, "english", 2.5)
    assert result.segments is not None and result.words is not None
    assert [s.text for s in result.segments] == ["Hello world.", "This is a test."]
    assert result.segments[1].end == 2.5 and result.segments[0].tokens == []
    assert [w.word for w in result.words][:2] == ["Hello", "world."]
    assert result.words[0].start == 0.0 and result.words[-1].end == 2.5


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_sdk_transcription_text_formats_are_strings(
    sdk: Callable[..., OpenAI], account: Account, fmt: str
) -> None:
    result = sdk(account).audio.transcriptions.create(
        model="whisper-1", file=audio_file(), response_format=fmt
    )

    assert isinstance(result, str)
    expected = {
        "text": HEARD + "\n",
        "srt": "1\n00:00:00,000 --> ",
        "vtt": "WEBVTT\n\n00:00:00.000 --> ",
    }[fmt]
    assert result.startswith(expected)
    if fmt != "text":
        assert "This is a test." in result


def test_sdk_transcription_stream(sdk: Callable[..., OpenAI], account: Account) -> None:
    events = list(
        sdk(account).audio.transcriptions.create(model="whisper-1", file=audio_file(), stream=True)
    )

    *deltas, done = events
    assert all(isinstance(event, TranscriptionTextDeltaEvent) for event in deltas)
    assert "".join(event.delta for event in deltas) == HEARD and len(deltas) == 2
    assert isinstance(done, TranscriptionTextDoneEvent) and done.text == HEARD


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks it so
def test_sdk_translations(sdk: Callable[..., OpenAI], account: Account, fakes: Fakes) -> None:
    translations = sdk(account).audio.translations
    plain = translations.create(model="whisper-1", file=audio_file())
    assert plain.text == HEARD
    verbose = translations.create(
        model="whisper-1", file=audio_file(), response_format="verbose_json"
    )
    assert isinstance(verbose, TranslationVerbose)
    assert verbose.language == "english" and verbose.segments and verbose.duration == 2.5
    text = translations.create(model="whisper-1", file=audio_file(), response_format="text")
    assert text == HEARD + "\n"
    assert {request.task for request in fakes.asr.requests} == {"translate"}


# --- models ----------------------------------------------------------------------------------


def test_sdk_models(sdk: Callable[..., OpenAI], account: Account) -> None:
    client = sdk(account)
    models = list(client.models.list())
    ids = {model.id for model in models}
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1"} <= ids
    assert all(model.object == "model" and model.owned_by == "amphion-offline" for model in models)
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


# --- errors ----------------------------------------------------------------------------------


def test_sdk_errors(
    sdk: Callable[..., OpenAI],
    account: Account,
    make_account: Callable[..., Account],
    client: TestClient,
    context: AppContext,
) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(account, "sk-this-is-not-a-key").audio.speech.create(
            model="tts-1", voice="alloy", input="Hi."
        )
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk(account).audio.speech.create(model="tts-1", voice="alloy", input="a" * 4097)
    assert too_long.value.param == "input"
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk(account).audio.speech.create(model="tts-2", voice="alloy", input="Hi.")
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk(account).audio.transcriptions.create(model="gpt-4o-transcribe", file=audio_file())
    with pytest.raises(openai.BadRequestError) as bad_voice:
        sdk(account).audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert bad_voice.value.param == "voice"
    with pytest.raises(openai.APIStatusError) as zip_:
        sdk(account).audio.transcriptions.create(
            model="whisper-1", file=("a.wav", b"PK\x03\x04" + b"\0" * 100, "audio/wav")
        )
    assert zip_.value.status_code == 415

    limited = make_account(rpm_limit=1)
    sdk(limited).audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
    with pytest.raises(openai.RateLimitError):
        sdk(limited).audio.speech.create(model="tts-1", voice="alloy", input="Hi.")

    user_id = client.get("/api/account", headers=account.session).json()["data"]["id"]
    with context.db.write() as session:
        left = ledger.balance_of(session, user_id)
        ledger.adjust(session, user_id, -left, note="drain for the test")
    with pytest.raises(openai.PermissionDeniedError) as broke:
        sdk(account).audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
    assert broke.value.code == "insufficient_balance"
    with pytest.raises(openai.PermissionDeniedError):
        sdk(account).audio.transcriptions.create(model="whisper-1", file=audio_file())


# --- the real offline engines ----------------------------------------------------------------


@pytest.fixture
def real_live(context: AppContext, account: Account, db: Database) -> Iterator[str]:
    """The live server on the real engines (Piper, espeak-ng, faster-whisper)."""
    from api.engines.registry import get_registry
    from tests.engines import speech_samples as samples

    engines = get_registry(samples.engine_settings())  # Whisper base joined once per session
    real = SpeechContext(
        context.settings, db, get_catalog(), engines, get_object_store(context.settings)
    )
    use_speech_context(real)
    fresh = AppContext(settings=context.settings, db=db, limiter=context.limiter)
    try:
        with serve(fresh) as url:
            yield url
    finally:
        use_speech_context(None)


def test_sdk_round_trip_on_the_real_engines(real_live: str, account: Account) -> None:
    client = OpenAI(base_url=f"{real_live}/v1", api_key=account.key, max_retries=0, timeout=120)
    with client:
        _round_trip(client)


def _round_trip(client: OpenAI) -> None:
    sentence = "The weather was lovely this morning, so we walked to the market."

    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=sentence, response_format="wav"
    ) as response:
        spoken = b"".join(response.iter_bytes())
    samples, rate = soundfile.read(io.BytesIO(spoken))
    assert len(samples) / rate > 2.0

    heard = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", spoken, "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
        language="en",
    )
    assert isinstance(heard, TranscriptionVerbose)
    words = heard.text.lower()
    for word in ("weather", "morning", "market"):
        assert word in words, heard.text
    assert heard.language == "english" and heard.words
    assert heard.words[0].start < heard.words[-1].end <= heard.duration + 0.05
