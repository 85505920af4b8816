"""The prosody + lexicon emotion heuristic: well-formed scores, arousal and valence directions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.engines.base import EMOTION_LABELS, EmotionEngine, EmotionResult, Pcm
from api.engines.emotion import ProsodyEmotionEngine, chinese_lexicon_score, valence_from_text
from tests.engines import speech_samples as samples

SENTENCE = "I told you already, the package was supposed to arrive yesterday afternoon."
NEGATIVE_LABELS = ("sad", "angry", "fearful", "disgusted")


@pytest.fixture(scope="module")
def engine() -> ProsodyEmotionEngine:
    return ProsodyEmotionEngine(samples.engine_settings())


def assert_well_formed(result: EmotionResult) -> None:
    labels = [label for label, _ in result.scores]
    values = [score for _, score in result.scores]
    assert sorted(labels) == sorted(EMOTION_LABELS)
    assert sum(values) == pytest.approx(1.0, abs=1e-6)
    assert values == sorted(values, reverse=True)
    assert all(0.0 <= value <= 1.0 for value in values)
    assert result.heuristic is True and result.model == "prosody-heuristic"
    assert result.arousal is not None and -1.0 <= result.arousal <= 1.0


def scores_of(result: EmotionResult) -> dict[str, float]:
    return dict(result.scores)


def test_engine_meets_the_protocol(engine: ProsodyEmotionEngine) -> None:
    assert isinstance(engine, EmotionEngine) and engine.name == "prosody-heuristic"


def test_scores_are_well_formed_and_deterministic(engine: ProsodyEmotionEngine) -> None:
    speech = samples.espeak(SENTENCE)

    first = engine.analyze(speech, transcript=SENTENCE)
    second = engine.analyze(speech, transcript=SENTENCE)

    assert_well_formed(first)
    assert first == second


def test_excited_speech_has_more_arousal_than_calm_speech(engine: ProsodyEmotionEngine) -> None:
    calm = samples.espeak(SENTENCE, rate=120, pitch=30, pitch_range=20, volume=70)
    excited = samples.espeak(SENTENCE, rate=220, pitch=75, pitch_range=95, volume=150)

    calm_result = engine.analyze(calm)
    excited_result = engine.analyze(excited)

    assert calm_result.arousal is not None and excited_result.arousal is not None
    assert calm_result.arousal < 0 < excited_result.arousal
    assert excited_result.arousal - calm_result.arousal > 0.5
    assert calm_result.valence is None  # no transcript: valence unknown, not guessed
    # Calm speech leans to the low-arousal labels, excited speech away from them.
    assert scores_of(calm_result)["sad"] > scores_of(excited_result)["sad"]


def test_transcript_sentiment_sets_the_valence(engine: ProsodyEmotionEngine) -> None:
    happy_text = "Thank you so much, this is great!"
    negative_text = "This is terrible, I hate it"

    happy = engine.analyze(samples.espeak(happy_text), transcript=happy_text)
    negative = engine.analyze(samples.espeak(negative_text), transcript=negative_text)

    assert_well_formed(happy)
    assert_well_formed(negative)
    assert happy.top == "happy" and happy.valence is not None and happy.valence > 0.5
    assert negative.valence is not None and negative.valence < -0.5
    negative_scores = scores_of(negative)
    assert sum(negative_scores[label] for label in NEGATIVE_LABELS) > 0.5
    assert negative_scores["happy"] < scores_of(happy)["happy"]


def test_chinese_text_uses_the_chinese_lexicon(engine: ProsodyEmotionEngine) -> None:
    assert chinese_lexicon_score("太好了，谢谢")[0] > 0
    assert chinese_lexicon_score("我非常生气！")[0] < 0  # 非常 is "very", not a negation
    assert chinese_lexicon_score("这个不好")[0] < 0
    happy = engine.analyze(samples.espeak("太好了，谢谢", "cmn"), transcript="太好了，谢谢")
    assert happy.top == "happy" and happy.valence is not None and happy.valence > 0.5


def test_text_in_a_language_without_a_lexicon_leaves_valence_unknown() -> None:
    assert valence_from_text("Сегодня очень хорошая погода").value is None
    assert valence_from_text("   ").value is None


@pytest.mark.parametrize(
    "audio",
    [
        samples.silence(5.0),
        Pcm.empty(16000),
        samples.silence(0.01, 8000),
        Pcm(np.full(400, 1000, dtype=np.int16), 16000),
    ],
    ids=["silence", "empty", "10ms", "dc-offset"],
)
def test_silence_and_tiny_clips_are_neutral(engine: ProsodyEmotionEngine, audio: Pcm) -> None:
    result = engine.analyze(audio)

    assert_well_formed(result)
    assert result.top == "neutral" and result.scores[0][1] > 0.5
    assert result.arousal == 0.0


def test_a_short_word_is_analysed(engine: ProsodyEmotionEngine) -> None:
    result = engine.analyze(samples.espeak("Yes!"), transcript="Yes!")
    assert_well_formed(result)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seconds=st.floats(min_value=0.0, max_value=1.5),
    loudness=st.integers(min_value=0, max_value=20000),
    rate=st.sampled_from([8000, 16000, 22050, 44100]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_noise_gives_well_formed_scores(
    seconds: float, loudness: int, rate: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal(int(seconds * rate)) * loudness).clip(-32768, 32767)
    result = ProsodyEmotionEngine().analyze(Pcm(noise.astype(np.int16), rate))
    assert_well_formed(result)
