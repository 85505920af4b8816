"""OpenAI-compatible adapters against the fake server: chunked PCM/WAV and SSE speech, verbose_json
transcription and translation, and every fault mapped without a secret in it."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from api.engines.base import Pcm, RecognitionRequest, SynthesisRequest
from api.engines.providers import (
    OpenAICompatibleASR,
    OpenAICompatibleTTS,
    ProviderKeyRejectedError,
)
from api.errors import InvalidInputError, UpstreamError, UpstreamTimeoutError
from tests.providers.fake_openai import PIECE_SECONDS, PIECES, RATE, TRANSCRIPT
from tests.providers.fake_upstream import FakeState
from tests.providers.support import (
    OPERATOR_KEY,
    TEST_TIMEOUT,
    USER_KEY,
    WRONG_USER_KEY,
    assert_safe,
    config_for,
    speech,
)

HELLO = SynthesisRequest(text="Hello there.", voice="alloy")
EXPECTED_SAMPLES = PIECES * round(RATE * PIECE_SECONDS)


def tts(fake: FakeState, **kwargs: Any) -> OpenAICompatibleTTS:
    return OpenAICompatibleTTS(config_for(fake.base_url + "/v1"), **kwargs)


def asr(fake: FakeState, **kwargs: Any) -> OpenAICompatibleASR:
    return OpenAICompatibleASR(config_for(fake.base_url + "/v1"), **kwargs)


# --- speech ------------------------------------------------------------------------------------


def test_speech_pcm_decodes_across_split_samples(fake_openai: FakeState) -> None:
    engine = OpenAICompatibleTTS(
        config_for(fake_openai.base_url + "/v1", models={"tts-1": "gpt-4o-mini-tts"}),
        model="tts-1",
    )
    request = SynthesisRequest(text="Hello there.", voice="alloy", speed=9.0, instruction="calm")
    pcm = engine.synthesize(request)

    assert pcm.sample_rate == 24000
    assert len(pcm.samples) == EXPECTED_SAMPLES  # the odd chunk boundaries lost nothing
    sent = fake_openai.last("/v1/audio/speech")
    assert sent.headers["authorization"] == f"Bearer {OPERATOR_KEY}"
    assert sent.body == {
        "model": "gpt-4o-mini-tts",
        "input": "Hello there.",
        "voice": "alloy",
        "response_format": "pcm",
        "speed": 4.0,
        "instructions": "calm",
    }


def test_speech_tts1_gets_no_instructions(fake_openai: FakeState) -> None:
    tts(fake_openai).synthesize(SynthesisRequest(text="Hi", voice="nova", instruction="calm"))
    assert "instructions" not in fake_openai.last("/speech").body


def test_speech_wav_is_decoded(fake_openai: FakeState) -> None:
    pcm = tts(fake_openai, response_format="wav").synthesize(HELLO)
    assert pcm.sample_rate == 24000 and len(pcm.samples) == EXPECTED_SAMPLES
    assert fake_openai.last("/speech").body["response_format"] == "wav"


@pytest.mark.parametrize("response_format", ["pcm", "wav"])
def test_speech_in_one_piece_is_the_stream_joined(
    fake_openai: FakeState, response_format: str
) -> None:
    """``synthesize`` reads the answer whole and decodes it once (``SpeechAnswer.whole``); the
    samples are those of the same answer streamed chunk by chunk."""
    engine = tts(fake_openai, response_format=response_format)
    whole = engine.synthesize(HELLO)
    streamed = np.concatenate([chunk.samples for chunk in engine.stream(HELLO)])
    assert whole.sample_rate == RATE
    assert np.array_equal(whole.samples, streamed)


def test_speech_cloned_voice_goes_by_id(fake_openai: FakeState) -> None:
    profile = {"voice_id": "voice_123"}
    tts(fake_openai).synthesize(SynthesisRequest(text="Hi", voice="alloy", profile=profile))
    assert fake_openai.last("/speech").body["voice"] == {"id": "voice_123"}


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_speech_streams_before_the_upstream_finishes(
    fake_openai: FakeState, stream_format: str
) -> None:
    fake_openai.hold = threading.Event()
    fake_openai.hold_after = 3
    chunks = tts(fake_openai, stream_format=stream_format).stream(HELLO)
    early: list[Pcm] = []
    while sum(len(chunk.samples) for chunk in early) < 2 * round(RATE * PIECE_SECONDS):
        early.append(next(chunks))
    assert len(early) >= 2
    assert not fake_openai.finished
    fake_openai.hold.set()
    rest = list(chunks)
    assert fake_openai.finished
    assert sum(len(chunk.samples) for chunk in early + rest) == EXPECTED_SAMPLES


def test_speech_sse_reads_deltas_and_checks_usage(fake_openai: FakeState) -> None:
    pcm = tts(fake_openai, model="gpt-4o-mini-tts", stream_format="sse").synthesize(HELLO)
    assert len(pcm.samples) == EXPECTED_SAMPLES
    sent = fake_openai.last("/speech").body
    assert (sent["stream_format"], sent["response_format"]) == ("sse", "pcm")

    fake_openai.fault = "negative_usage"
    with pytest.raises(UpstreamError) as bad:
        tts(fake_openai, stream_format="sse").synthesize(HELLO)
    assert "nonsense usage" in bad.value.message

    fake_openai.fault = "truncated"
    with pytest.raises(UpstreamError) as cut:
        tts(fake_openai, stream_format="sse").synthesize(HELLO)
    assert "ended before it was done" in cut.value.message


def test_speech_refuses_bad_input_before_sending(fake_openai: FakeState) -> None:
    engine = tts(fake_openai)
    with pytest.raises(InvalidInputError) as too_long:
        engine.stream(SynthesisRequest(text="x" * 4097, voice="alloy"))
    assert too_long.value.code == "TEXT_TOO_LONG"
    with pytest.raises(InvalidInputError):
        engine.stream(SynthesisRequest(text="hi", voice=""))
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("500", UpstreamError, "failed (HTTP 500, server_error)"),
        ("401", UpstreamError, "rejected the platform's credentials"),
        ("hang", UpstreamTimeoutError, "did not answer in time"),
        ("empty", UpstreamError, "no audio"),
        ("truncated", UpstreamError, "broke off"),
        ("invalid_json", UpstreamError, "text, not audio"),
    ],
)
def test_speech_faults(
    fake_openai: FakeState, fault: str, error_type: type[Exception], words: str
) -> None:
    fake_openai.fault = fault
    started = time.monotonic()
    with pytest.raises(error_type) as failed:
        tts(fake_openai).synthesize(HELLO)
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert words in str(failed.value)
    assert_safe(failed.value)


def test_speech_fault_mid_stream_reaches_the_consumer(fake_openai: FakeState) -> None:
    fake_openai.fault = "truncated"
    chunks = tts(fake_openai).stream(HELLO)
    received = []
    with pytest.raises(UpstreamError) as cut:
        for chunk in chunks:
            received.append(chunk)
    assert received  # audio arrived, then the break was reported (the use case releases the hold)
    assert_safe(cut.value)


def test_speech_user_keys(fake_openai: FakeState) -> None:
    base = config_for(fake_openai.base_url + "/v1")
    with pytest.raises(ProviderKeyRejectedError) as rejected:
        OpenAICompatibleTTS(base.with_user_key(WRONG_USER_KEY)).synthesize(HELLO)
    assert rejected.value.code == "PROVIDER_KEY_REJECTED"
    assert rejected.value.upstream_code == "invalid_api_key"
    assert_safe(rejected.value)
    assert OpenAICompatibleTTS(base.with_user_key(USER_KEY)).synthesize(HELLO).samples.any()


# --- transcription and translation -------------------------------------------------------------


def test_transcription_reads_segments_and_words(fake_openai: FakeState) -> None:
    audio = speech(2.0)
    request = RecognitionRequest(
        audio=audio, language="en-us", prompt="Star Wars", word_timestamps=True
    )
    transcript = asr(fake_openai).transcribe(request)

    assert transcript.text == TRANSCRIPT
    assert transcript.language == "en"
    assert transcript.duration_ms == 2000
    first, second = transcript.segments
    assert (first.text, first.start_ms, first.end_ms) == ("Hello there.", 0, 1000)
    assert (second.text, second.start_ms, second.end_ms) == ("General Kenobi.", 1000, 2000)
    assert [word.text for word in first.words] == ["Hello", "there"]
    assert [word.text for word in second.words] == ["General", "Kenobi"]
    assert first.avg_logprob == -0.2
    assert transcript.usage == {"seconds": 2.0}
    sent = fake_openai.last("/transcriptions").body
    assert sent["model"] == ["whisper-1"]
    assert sent["response_format"] == ["verbose_json"]
    assert sent["timestamp_granularities[]"] == ["segment", "word"]
    assert sent["language"] == ["en"]
    assert sent["prompt"] == ["Star Wars"]


def test_translation_uses_its_own_endpoint(fake_openai: FakeState) -> None:
    request = RecognitionRequest(audio=speech(), language="zh", task="translate")
    transcript = asr(fake_openai).transcribe(request)
    assert transcript.language == "en"
    sent = fake_openai.last("/v1/audio/translations").body
    assert "language" not in sent and "timestamp_granularities[]" not in sent


def test_json_only_models_get_one_segment(fake_openai: FakeState) -> None:
    engine = asr(fake_openai, model="gpt-4o-transcribe", response_format="json")
    transcript = engine.transcribe(RecognitionRequest(audio=speech()))
    assert "timestamp_granularities[]" not in fake_openai.last("/transcriptions").body
    # The fake answers verbose anyway; a json-only server's text would still make one segment.
    assert transcript.segments


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("500", UpstreamError, "HTTP 500"),
        ("401", UpstreamError, "HTTP 401"),
        ("hang", UpstreamTimeoutError, "did not answer in time"),
        ("invalid_json", UpstreamError, "invalid JSON"),
        ("negative_usage", UpstreamError, "nonsense usage"),
        ("nonsense_timestamps", UpstreamError, "negative segment end"),
    ],
)
def test_transcription_faults(
    fake_openai: FakeState, fault: str, error_type: type[Exception], words: str
) -> None:
    fake_openai.fault = fault
    started = time.monotonic()
    with pytest.raises(error_type) as failed:
        asr(fake_openai).transcribe(RecognitionRequest(audio=speech()))
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert words in str(failed.value)
    assert_safe(failed.value)
