"""WORLD voice styling: sample checks, enrolment, styling towards another speaker, verification.

The reference is a different speaker from the base voice: espeak-ng's female variant reading a
story (about 12 s), styled onto Piper's joe (male, neural). Intelligibility is checked with
Whisper tiny.en, as ``verify`` does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from api.engines.base import CloneEngine, Pcm, RecognitionRequest
from api.engines.clone import (
    ALPHA_MAX,
    ALPHA_MIN,
    ENVELOPE_GRID_HZ,
    WorldCloneEngine,
    base_timbre,
    character_error_rate,
    measure_timbre,
    word_error_rate,
)
from api.engines.prosody import prosody_features
from api.engines.whisper import WhisperEngine
from api.errors import InvalidInputError
from tests.engines import speech_samples as samples

TEST_SENTENCE = samples.ENGLISH_SENTENCE


@pytest.fixture(scope="module")
def tiny() -> WhisperEngine:
    engine = WhisperEngine("tiny.en", samples.engine_settings())
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def engine(tiny: WhisperEngine) -> WorldCloneEngine:
    return WorldCloneEngine(samples.engine_settings(), asr=tiny)


@pytest.fixture(scope="module")
def reference() -> Pcm:
    sample = samples.espeak(samples.REFERENCE_STORY, "en-us+f3", rate=140)
    assert 11.0 < sample.duration_seconds < 13.0
    return sample


@pytest.fixture(scope="module")
def profile(engine: WorldCloneEngine, reference: Pcm) -> dict[str, object]:
    return engine.enroll(reference, language="en").profile


def test_engine_meets_the_protocol(engine: WorldCloneEngine) -> None:
    assert isinstance(engine, CloneEngine) and engine.name == "world-styling"


def test_a_clear_sample_passes_the_checks(engine: WorldCloneEngine, reference: Pcm) -> None:
    assert engine.check_sample(reference, size_bytes=reference.samples.nbytes + 44) == []


def test_enrolment_makes_a_json_profile_for_the_english_base_voice(
    engine: WorldCloneEngine, reference: Pcm, profile: dict[str, object]
) -> None:
    result = engine.enroll(reference, language="en")

    assert result.base_voice == "piper:joe"
    assert result.profile == profile  # deterministic
    assert json.loads(json.dumps(profile)) == profile
    assert profile["gender"] == "female" and profile["language"] == "en"
    alpha = profile["formant_factor"]
    assert isinstance(alpha, float) and ALPHA_MIN <= alpha <= ALPHA_MAX
    assert alpha > 1.05  # a female reference over a male base: formants move up
    eq = profile["eq_db"]
    assert isinstance(eq, list) and len(eq) == len(ENVELOPE_GRID_HZ)
    assert all(abs(gain) <= 6.0 for gain in eq)


def test_styling_moves_pitch_to_the_reference_and_stays_intelligible(
    engine: WorldCloneEngine, tiny: WhisperEngine, reference: Pcm, profile: dict[str, object]
) -> None:
    speech = samples.piper(TEST_SENTENCE)

    styled = engine.apply(speech, profile)

    assert styled.sample_rate == speech.sample_rate
    assert len(styled.samples) == len(speech.samples)
    reference_f0 = prosody_features(reference).f0_mean_hz
    before = prosody_features(speech).f0_mean_hz
    after = prosody_features(styled).f0_mean_hz
    assert abs(before - reference_f0) / reference_f0 > 0.15  # a real change was needed
    assert abs(after - reference_f0) / reference_f0 <= 0.10
    transcript = tiny.transcribe(RecognitionRequest(styled))
    assert word_error_rate(TEST_SENTENCE, transcript.text) <= 0.15
    assert np.array_equal(engine.apply(speech, profile).samples, styled.samples)


def test_verify_accepts_an_intelligible_profile(
    engine: WorldCloneEngine, profile: dict[str, object]
) -> None:
    accepted, reason, wer = engine.verify(profile, samples.piper)

    assert accepted, reason
    assert reason == "" and wer <= 0.15


def test_verify_refuses_when_the_styled_speech_is_not_understood(
    engine: WorldCloneEngine, profile: dict[str, object]
) -> None:
    def mumble(_text: str) -> Pcm:
        return samples.espeak("Blah blah blah.", rate=120)

    accepted, reason, wer = engine.verify(profile, mumble)

    assert not accepted and wer > 0.15
    assert reason.startswith("styled speech is not intelligible (WER")


def test_verify_needs_a_recogniser(profile: dict[str, object]) -> None:
    accepted, reason, _ = WorldCloneEngine(samples.engine_settings()).verify(profile, samples.piper)
    assert not accepted and "recogniser" in reason


def test_a_three_second_sample_is_refused(engine: WorldCloneEngine) -> None:
    short = samples.espeak("Hello, this sample is far too short.")
    assert 1.5 < short.duration_seconds < 4.0

    reasons = engine.check_sample(short)

    assert len(reasons) == 1 and "10–60 s" in reasons[0]
    with pytest.raises(InvalidInputError, match="10–60 s"):
        engine.enroll(short)


def test_a_silent_sample_is_refused(engine: WorldCloneEngine) -> None:
    silent = samples.silence(12.0, 22050)

    reasons = engine.check_sample(silent)

    assert reasons and "silent" in reasons[0]
    with pytest.raises(InvalidInputError, match="silent"):
        engine.enroll(silent)


def test_noise_pauses_and_file_limits_are_refused(engine: WorldCloneEngine, reference: Pcm) -> None:
    rng = np.random.default_rng(7)
    hiss = Pcm((rng.standard_normal(22050 * 12) * 3000).astype(np.int16), 22050)
    words = [samples.espeak(word) for word in ("One.", "Two.", "Three.", "Four.", "Five.")]
    halting = samples.concatenate(words, gap_seconds=2.0)

    assert any("noise" in reason for reason in engine.check_sample(hiss))
    halting_reasons = " ".join(engine.check_sample(halting))
    assert "mostly silence" in halting_reasons and "5 s of continuous speech" in halting_reasons
    limits = " ".join(
        engine.check_sample(reference, size_bytes=11 * 1024 * 1024, source_sample_rate=8000)
    )
    assert "10 MB" in limits and "16 kHz" in limits
    too_long = samples.concatenate([reference] * 6)
    assert any("at most 60 s" in reason for reason in engine.check_sample(too_long))


def test_a_broken_profile_is_invalid_input(engine: WorldCloneEngine) -> None:
    speech = samples.espeak("Hello there.")
    for broken in ({}, {"kind": "world-styling", "version": 1}, {"kind": "other"}):
        with pytest.raises(InvalidInputError, match="profile"):
            engine.apply(speech, broken)


def test_silent_or_empty_speech_passes_through(
    engine: WorldCloneEngine, profile: dict[str, object]
) -> None:
    assert engine.apply(Pcm.empty(22050), profile).samples.size == 0
    silent = samples.silence(1.0, 22050)
    assert np.array_equal(engine.apply(silent, profile).samples, silent.samples)


def test_mandarin_profile_uses_espeak_and_is_verified_against_the_base_voice() -> None:
    base_asr = WhisperEngine("base", samples.engine_settings())
    engine = WorldCloneEngine(samples.engine_settings(), asr=base_asr)
    sample = samples.espeak(samples.MANDARIN_PARAGRAPH, "cmn+f3", pitch=65)

    result = engine.enroll(sample, language="zh-CN")
    voice = result.base_voice.removeprefix("espeak-ng:")
    accepted, reason, cer = engine.verify(result.profile, lambda text: samples.espeak(text, voice))

    assert result.base_voice == "espeak-ng:cmn+f3" and result.profile["language"] == "zh"
    assert accepted, reason
    assert cer <= 0.5


def test_error_rates() -> None:
    assert word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert word_error_rate("the cat sat", "the dog sat down") == pytest.approx(2 / 3)
    assert character_error_rate("今天天气很好。", "今天天汽很好") == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("voice_id", "make"),
    [
        ("piper:joe", lambda: samples.piper(samples.ENGLISH_PARAGRAPH)),
        ("espeak-ng:en-us", lambda: samples.espeak(samples.ENGLISH_PARAGRAPH, "en-us")),
        ("espeak-ng:en-us+f3", lambda: samples.espeak(samples.ENGLISH_PARAGRAPH, "en-us+f3")),
        ("espeak-ng:cmn", lambda: samples.espeak(samples.MANDARIN_PARAGRAPH, "cmn")),
        ("espeak-ng:cmn+f3", lambda: samples.espeak(samples.MANDARIN_PARAGRAPH, "cmn+f3")),
        ("espeak-ng:cmn+m7", lambda: samples.espeak(samples.MANDARIN_PARAGRAPH, "cmn+m7")),
    ],
)
def test_base_timbres_match_the_voices(voice_id: str, make: object) -> None:
    """The built-in base-voice table still describes the voices the engines produce."""
    assert callable(make)
    measured = measure_timbre(make())
    stored = base_timbre(voice_id)

    assert measured.f0_mean_hz == pytest.approx(stored.f0_mean_hz, rel=0.03)
    difference = np.asarray(measured.envelope_db) - np.asarray(stored.envelope_db)
    assert float(np.sqrt(np.mean(difference**2))) < 1.0
