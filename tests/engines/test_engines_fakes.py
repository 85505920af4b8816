"""The fakes: they satisfy the protocols and answer exactly what their docstrings promise."""

from __future__ import annotations

import time

import numpy as np
import pytest

from api.engines.base import (
    EMOTION_LABELS,
    ASREngine,
    CloneEngine,
    EmotionEngine,
    Pcm,
    RecognitionRequest,
    SynthesisRequest,
    TTSEngine,
)
from api.engines.fakes import FakeASR, FakeClone, FakeEmotion, FakeTTS, frame_f0, tone
from api.errors import InvalidInputError, UpstreamError, UpstreamTimeoutError

TEXT = "Hello there. How are you today? Fine!"


def test_fakes_satisfy_the_protocols() -> None:
    assert isinstance(FakeTTS(), TTSEngine)
    assert isinstance(FakeASR(), ASREngine)
    assert isinstance(FakeEmotion(), EmotionEngine)
    assert isinstance(FakeClone(), CloneEngine)


def test_tts_duration_is_proportional_to_text() -> None:
    engine = FakeTTS(sample_rate=16000)
    pcm = engine.synthesize(SynthesisRequest(text=TEXT, voice="any"))
    assert pcm.sample_rate == 16000
    assert pcm.duration_ms == pytest.approx(len(TEXT) * 60, abs=2)
    assert engine.duration_ms(TEXT) == len(TEXT) * 60
    assert engine.requests[-1].text == TEXT


def test_tts_honours_native_speed_and_pitch() -> None:
    engine = FakeTTS()
    fast = engine.synthesize(SynthesisRequest(text=TEXT, voice="v", speed=2.0, pitch=1.5))
    assert fast.duration_ms == pytest.approx(len(TEXT) * 30, abs=2)
    assert np.median(frame_f0(fast)) == pytest.approx(330, rel=0.03)

    plain = FakeTTS(native_speed=False, native_pitch=False)
    same = plain.synthesize(SynthesisRequest(text=TEXT, voice="v", speed=2.0, pitch=1.5))
    assert same.duration_ms == pytest.approx(len(TEXT) * 60, abs=2)
    assert np.median(frame_f0(same)) == pytest.approx(220, rel=0.03)


def test_tts_streams_a_chunk_per_sentence_that_add_up() -> None:
    engine = FakeTTS()
    request = SynthesisRequest(text=TEXT + " 你好。世界！", voice="v")
    chunks = list(engine.stream(request))
    assert len(chunks) == 5
    total = np.concatenate([chunk.samples for chunk in chunks])
    assert np.array_equal(total, engine.synthesize(request).samples)


def test_tts_is_deterministic() -> None:
    request = SynthesisRequest(text=TEXT, voice="v")
    assert np.array_equal(
        FakeTTS().synthesize(request).samples, FakeTTS().synthesize(request).samples
    )


def test_tts_refuses_empty_text_and_optionally_unknown_voices() -> None:
    with pytest.raises(InvalidInputError):
        FakeTTS().synthesize(SynthesisRequest(text="  ", voice="v"))
    with pytest.raises(InvalidInputError):
        FakeTTS(strict_voices=True).stream(SynthesisRequest(text="Hi.", voice="nobody"))
    assert FakeTTS(strict_voices=True).synthesize(SynthesisRequest(text="Hi.", voice="fake-voice"))


def test_tts_can_fail_at_once_or_mid_stream() -> None:
    with pytest.raises(UpstreamTimeoutError):
        FakeTTS(fail=UpstreamTimeoutError("slow")).stream(SynthesisRequest(text=TEXT, voice="v"))
    stream = FakeTTS(fail_after_chunks=2).stream(SynthesisRequest(text=TEXT, voice="v"))
    assert next(stream).duration_ms > 0 and next(stream).duration_ms > 0
    with pytest.raises(UpstreamError):
        next(stream)


def test_tts_can_be_slow() -> None:
    engine = FakeTTS(delay_seconds=0.05)
    started = time.perf_counter()
    stream = engine.stream(SynthesisRequest(text=TEXT, voice="v"))
    next(stream)
    assert 0.04 < time.perf_counter() - started < 0.5


def test_asr_times_fit_the_audio() -> None:
    audio = Pcm(tone(16000 * 3, 16000, 200), 16000)
    engine = FakeASR("Good morning everyone. Let us begin.", language="en")
    transcript = engine.transcribe(RecognitionRequest(audio=audio, word_timestamps=True))
    assert transcript.text == "Good morning everyone. Let us begin."
    assert transcript.language == "en" and transcript.duration_ms == 3000
    assert [segment.text for segment in transcript.segments] == [
        "Good morning everyone.",
        "Let us begin.",
    ]
    words = [word for segment in transcript.segments for word in segment.words]
    assert [word.text for word in words] == ["Good", "morning", "everyone.", "Let", "us", "begin."]
    assert words[0].start_ms == 0 and words[-1].end_ms == 3000
    assert all(a.end_ms == b.start_ms for a, b in zip(words, words[1:], strict=False))
    assert transcript.segments[0].end_ms == transcript.segments[1].start_ms


def test_asr_language_words_and_failure() -> None:
    audio = Pcm(tone(8000, 16000, 200), 16000)
    chinese = FakeASR("你好。世界很大。", language="zh")
    transcript = chinese.transcribe(RecognitionRequest(audio=audio))
    assert transcript.language == "zh" and transcript.text == "你好。世界很大。"
    assert all(segment.words == () for segment in transcript.segments)  # not asked for
    assert chinese.transcribe(RecognitionRequest(audio=audio, language="ja")).language == "ja"
    timed = chinese.transcribe(RecognitionRequest(audio=audio, word_timestamps=True))
    assert [word.text for word in timed.segments[1].words] == ["世", "界", "很", "大"]
    assert FakeASR().transcribe(RecognitionRequest(audio=Pcm.empty(16000))).segments == ()
    with pytest.raises(UpstreamError):
        FakeASR(fail=UpstreamError("down")).transcribe(RecognitionRequest(audio=audio))


def test_emotion_scores_cover_every_label_and_sum_to_one() -> None:
    result = FakeEmotion().analyze(Pcm(tone(1000, 16000, 200), 16000), transcript="hi")
    assert {label for label, _ in result.scores} == set(EMOTION_LABELS)
    assert sum(score for _, score in result.scores) == pytest.approx(1.0)
    assert result.top == "neutral"
    custom = FakeEmotion({"angry": 3, "sad": 1}).analyze(Pcm.empty(16000))
    assert custom.scores[:2] == (("angry", 0.75), ("sad", 0.25))
    with pytest.raises(ValueError):
        FakeEmotion({"bored": 1.0})


def test_clone_profiles_f0_and_returns_speech_unchanged() -> None:
    engine = FakeClone(base_voice="en-us+f3")
    sample = Pcm(tone(22050 * 2, 22050, 180), 22050)
    result = engine.enroll(sample, language="en")
    assert result.base_voice == "en-us+f3"
    assert result.profile["f0_mean_hz"] == pytest.approx(180, rel=0.03)
    assert result.profile["duration_ms"] == 2000 and result.profile["language"] == "en"
    assert engine.apply(sample, result.profile) is sample
    silent = engine.enroll(Pcm(np.zeros(22050, dtype=np.int16), 22050))
    assert silent.profile["f0_mean_hz"] is None and silent.profile["voiced_ratio"] == 0
