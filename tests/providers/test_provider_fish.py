"""Fish Audio adapters against the fake Fish API: MessagePack/JSON TTS streamed, ASR, cloning a
voice and speaking with it, and every fault mapped without a secret in it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from api.engines.base import Pcm, RecognitionRequest, SynthesisRequest
from api.engines.providers import FishASR, FishClone, FishTTS, ProviderKeyRejectedError
from api.errors import InvalidInputError, UpstreamError, UpstreamTimeoutError
from tests.providers.fake_fish import PIECE_SECONDS, PIECES
from tests.providers.fake_upstream import FakeState
from tests.providers.support import (
    FISH_KEY,
    TEST_TIMEOUT,
    WRONG_USER_KEY,
    assert_safe,
    config_for,
    speech,
)

HELLO = SynthesisRequest(text="你好，世界。", voice="builtin-voice", speed=1.5)


def tts(fake: FakeState, **kwargs: Any) -> FishTTS:
    return FishTTS(config_for(fake.base_url, FISH_KEY), **kwargs)


# --- TTS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_tts_bodies_and_headers(fake_fish: FakeState, encoding: str) -> None:
    engine = FishTTS(
        config_for(fake_fish.base_url, FISH_KEY, models={"v3-hd": "s2-pro"}),
        model="v3-hd",
        sample_rate=24000,
        encoding=encoding,  # type: ignore[arg-type]
    )
    pcm = engine.synthesize(HELLO)

    assert pcm.sample_rate == 24000
    assert len(pcm.samples) == PIECES * round(24000 * PIECE_SECONDS)
    sent = fake_fish.last("/v1/tts")
    assert sent.headers["authorization"] == f"Bearer {FISH_KEY}"
    assert sent.headers["model"] == "s2-pro"
    assert sent.headers["content-type"] == f"application/{encoding}"
    assert sent.body == {
        "text": "你好，世界。",
        "format": "pcm",
        "sample_rate": 24000,
        "latency": "balanced",
        "normalize": True,
        "chunk_length": 200,
        "prosody": {"speed": 1.5, "volume": 0},
        "reference_id": "builtin-voice",
    }


def test_tts_default_voice_sends_no_reference(fake_fish: FakeState) -> None:
    tts(fake_fish).synthesize(SynthesisRequest(text="hi", voice="default"))
    assert "reference_id" not in fake_fish.last("/v1/tts").body


def test_tts_wav_is_decoded(fake_fish: FakeState) -> None:
    pcm = tts(fake_fish, audio_format="wav").synthesize(HELLO)
    assert pcm.sample_rate == 44100
    assert len(pcm.samples) == PIECES * round(44100 * PIECE_SECONDS)


def test_tts_streams_before_the_upstream_finishes(fake_fish: FakeState) -> None:
    fake_fish.hold = threading.Event()
    chunks = tts(fake_fish).stream(HELLO)
    piece = round(44100 * PIECE_SECONDS)
    early: list[Pcm] = []
    while sum(len(chunk.samples) for chunk in early) < 2 * piece:
        early.append(next(chunks))
    assert len(early) >= 2
    assert not fake_fish.finished
    fake_fish.hold.set()
    rest = list(chunks)
    assert fake_fish.finished
    assert sum(len(chunk.samples) for chunk in early + rest) == PIECES * piece


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("500", UpstreamError, "failed (HTTP 500)"),
        ("401", UpstreamError, "rejected the platform's credentials"),
        ("hang", UpstreamTimeoutError, "did not answer in time"),
        ("empty", UpstreamError, "no audio"),
        ("truncated", UpstreamError, "broke off"),
        ("invalid_json", UpstreamError, "text, not audio"),
    ],
)
def test_tts_faults(
    fake_fish: FakeState, fault: str, error_type: type[Exception], words: str
) -> None:
    fake_fish.fault = fault
    started = time.monotonic()
    with pytest.raises(error_type) as failed:
        tts(fake_fish).synthesize(HELLO)
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert words in str(failed.value)
    assert_safe(failed.value)


def test_tts_unknown_voice_is_a_502_not_a_leak(fake_fish: FakeState) -> None:
    with pytest.raises(UpstreamError) as missing:
        tts(fake_fish).synthesize(SynthesisRequest(text="hi", voice="nosuchvoice"))
    assert missing.value.upstream_status == 404  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError):
        tts(fake_fish).stream(SynthesisRequest(text="hi", voice="../model"))


def test_tts_rejected_user_key(fake_fish: FakeState) -> None:
    config = config_for(fake_fish.base_url, FISH_KEY).with_user_key(WRONG_USER_KEY)
    with pytest.raises(ProviderKeyRejectedError) as rejected:
        FishTTS(config).synthesize(HELLO)
    assert_safe(rejected.value)


# --- ASR ---------------------------------------------------------------------------------------


def test_asr_sends_msgpack_and_reads_segments(fake_fish: FakeState) -> None:
    transcript = FishASR(config_for(fake_fish.base_url, FISH_KEY)).transcribe(
        RecognitionRequest(audio=speech(2.0), language="cmn")
    )
    assert transcript.text == "你好，世界。"
    assert transcript.language == "zh"
    assert transcript.duration_ms == 2000
    assert [(s.text, s.start_ms, s.end_ms) for s in transcript.segments] == [
        ("你好，", 0, 1000),
        ("世界。", 1000, 2000),
    ]
    sent = fake_fish.last("/v1/asr")
    assert sent.headers["content-type"] == "application/msgpack"
    assert sent.body == {"ignore_timestamps": False, "language": "zh"}


def test_asr_cannot_translate(fake_fish: FakeState) -> None:
    with pytest.raises(InvalidInputError):
        FishASR(config_for(fake_fish.base_url, FISH_KEY)).transcribe(
            RecognitionRequest(audio=speech(), task="translate")
        )


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("500", UpstreamError, "HTTP 500"),
        ("401", UpstreamError, "HTTP 401"),
        ("hang", UpstreamTimeoutError, "did not answer in time"),
        ("invalid_json", UpstreamError, "invalid JSON"),
        ("negative_usage", UpstreamError, "nonsense usage"),
    ],
)
def test_asr_faults(
    fake_fish: FakeState, fault: str, error_type: type[Exception], words: str
) -> None:
    fake_fish.fault = fault
    started = time.monotonic()
    with pytest.raises(error_type) as failed:
        FishASR(config_for(fake_fish.base_url, FISH_KEY)).transcribe(
            RecognitionRequest(audio=speech())
        )
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert words in str(failed.value)
    assert_safe(failed.value)


# --- cloning -----------------------------------------------------------------------------------


def test_clone_creates_a_model_and_tts_speaks_with_it(fake_fish: FakeState) -> None:
    config = config_for(fake_fish.base_url, FISH_KEY)
    cloner = FishClone(config)
    result = cloner.enroll(speech(3.0), language="en-us")

    model_id = result.base_voice
    assert len(model_id) == 32
    assert result.profile["reference_id"] == model_id
    assert result.profile["provider"] == "fish"
    assert result.profile["state"] == "trained"
    sent = fake_fish.last("/model").body
    assert sent["type"] == ["tts"] and sent["train_mode"] == ["fast"]
    assert sent["visibility"] == ["private"]
    assert sent["title"][0].startswith("amphion-")

    request = SynthesisRequest(text="hi", voice="ignored", profile=result.profile)
    FishTTS(config).synthesize(request)
    assert fake_fish.last("/v1/tts").body["reference_id"] == model_id
    same = Pcm(speech().samples, 16000)
    assert cloner.apply(same, result.profile) is same

    cloner.delete(model_id)
    with pytest.raises(UpstreamError):
        cloner.delete(model_id)  # gone: Fish answers 404


def test_clone_refuses_an_empty_sample(fake_fish: FakeState) -> None:
    with pytest.raises(InvalidInputError):
        FishClone(config_for(fake_fish.base_url, FISH_KEY)).enroll(Pcm.empty(16000))
    assert fake_fish.requests == []


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("500", UpstreamError),
        ("401", UpstreamError),
        ("hang", UpstreamTimeoutError),
        ("invalid_json", UpstreamError),
    ],
)
def test_clone_faults(fake_fish: FakeState, fault: str, error_type: type[Exception]) -> None:
    fake_fish.fault = fault
    with pytest.raises(error_type) as failed:
        FishClone(config_for(fake_fish.base_url, FISH_KEY)).enroll(speech())
    assert_safe(failed.value)
