"""Deterministic stand-ins for the engines, for tests of the layers above them.

Each fake satisfies its protocol (``isinstance(FakeTTS(), TTSEngine)`` holds), records what it
was asked, gives the same answer every time, and can be told to fail or to be slow, so billing,
streaming, jobs and the doors can be tested quickly and exactly:

- ``FakeTTS`` speaks a sine tone ``ms_per_char`` long per character of text (60 ms by default),
  at ``base_hz × pitch`` when pitch is native and ``1/speed`` as long when speed is native, one
  chunk per sentence from ``stream``. ``duration_ms(text, speed)`` says how long the audio is.
- ``FakeASR`` returns a configured text as a transcript whose segments (one per sentence) and
  words are spread over the audio in proportion to their length, so they always fit.
- ``FakeEmotion`` returns fixed scores over ``EMOTION_LABELS`` that sum to 1.
- ``FakeClone`` profiles a sample with rough F0 and level statistics; ``apply`` returns its
  input unchanged.

Failure: ``fail`` is raised by the call itself; with ``FakeTTS(fail_after_chunks=n)`` the stream
yields ``n`` chunks first and then raises (an ``UpstreamError`` unless ``fail`` is given), like a
provider dropping mid-stream. Slowness: ``delay_seconds`` is slept before every result or chunk.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from api.engines.base import (
    EMOTION_LABELS,
    CloneResult,
    EmotionResult,
    EngineVoice,
    Int16Array,
    Pcm,
    RecognitionRequest,
    Segment,
    SynthesisRequest,
    Transcript,
    Word,
)
from api.errors import InvalidInputError, UpstreamError

# A sentence and the whitespace after it, so the pieces add back up to the whole text.
_SENTENCE = re.compile(
    r".+?(?:[.!?;\u2026]+[\"'\u201d\u2019)\]]*(?:\s+|$)|[\u3002\uff01\uff1f\uff1b]+[\u201d\u300d\u300f]*\s*|$)",
    re.DOTALL,
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def _sentences(text: str) -> list[str]:
    return [match.group() for match in _SENTENCE.finditer(text) if match.group()]


def _words(sentence: str) -> list[str]:
    """Whitespace-separated words; CJK text (no spaces) counts each character as a word."""
    words: list[str] = []
    for token in sentence.split():
        if _CJK.search(token):
            words.extend(char for char in token if not unicodedata.category(char).startswith("P"))
        else:
            words.append(token)
    return words


class FakeTTS:
    """A ``TTSEngine`` that speaks tones: exact, instant (unless told otherwise) durations."""

    def __init__(
        self,
        *,
        name: str = "fake-tts",
        sample_rate: int = 22050,
        ms_per_char: float = 60.0,
        base_hz: float = 220.0,
        native_speed: bool = True,
        native_pitch: bool = True,
        voices: list[EngineVoice] | None = None,
        strict_voices: bool = False,
        fail: BaseException | None = None,
        fail_after_chunks: int | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.native_speed = native_speed
        self.native_pitch = native_pitch
        self.ms_per_char = ms_per_char
        self.base_hz = base_hz
        self._voices = voices or [
            EngineVoice("fake-voice", "en-us", "female", "A test tone"),
            EngineVoice("fake-voice-zh", "cmn", "male", "A test tone"),
        ]
        self.strict_voices = strict_voices  # False: any voice id is accepted
        self.fail = fail
        self.fail_after_chunks = fail_after_chunks
        self.delay_seconds = delay_seconds
        self.requests: list[SynthesisRequest] = []

    def voices(self) -> list[EngineVoice]:
        return list(self._voices)

    def duration_ms(self, text: str, speed: float = 1.0) -> float:
        """How long ``text`` sounds (before rounding to samples)."""
        return len(text) * self.ms_per_char / (speed if self.native_speed else 1.0)

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        chunks = [pcm.samples for pcm in self.stream(request)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Pcm(samples, self.sample_rate)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        self.requests.append(request)
        if not request.text.strip():
            raise InvalidInputError("Text is empty", param="text")
        known = {voice.id for voice in self._voices}
        if self.strict_voices and request.voice not in known:
            raise InvalidInputError(f"No voice '{request.voice}'", param="voice")
        if self.fail is not None and self.fail_after_chunks is None:
            raise self.fail
        return self._chunks(request)

    def _chunks(self, request: SynthesisRequest) -> Iterator[Pcm]:
        frequency = self.base_hz * (request.pitch if self.native_pitch else 1.0)
        for index, sentence in enumerate(_sentences(request.text)):
            if self.fail_after_chunks is not None and index >= self.fail_after_chunks:
                raise self.fail or UpstreamError("Fake TTS failed mid-stream")
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            count = round(self.duration_ms(sentence, request.speed) * self.sample_rate / 1000)
            yield Pcm(tone(count, self.sample_rate, frequency), self.sample_rate)
        if self.fail_after_chunks is not None:
            raise self.fail or UpstreamError("Fake TTS failed mid-stream")


def tone(count: int, sample_rate: int, frequency: float, amplitude: float = 0.3) -> Int16Array:
    """``count`` samples of a sine at ``frequency`` Hz."""
    times = np.arange(count, dtype=np.float64) / sample_rate
    wave = amplitude * 32767 * np.sin(2 * math.pi * frequency * times)
    return wave.astype(np.int16)


class FakeASR:
    """An ``ASREngine`` that hears the configured ``text``, timed to fit the audio it is given."""

    def __init__(
        self,
        text: str = "Hello world. This is a test.",
        *,
        name: str = "fake-asr",
        language: str = "en",
        languages: tuple[str, ...] = (),
        language_probability: float = 0.99,
        fail: BaseException | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.languages = languages
        self.text = text
        self.language = language
        self.language_probability = language_probability
        self.fail = fail
        self.delay_seconds = delay_seconds
        self.requests: list[RecognitionRequest] = []

    def transcribe(self, request: RecognitionRequest) -> Transcript:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        duration_ms = request.audio.duration_ms
        language = request.language or self.language
        sentences = [sentence.strip() for sentence in _sentences(self.text) if sentence.strip()]
        if duration_ms <= 0 or not sentences:
            return Transcript("", language, duration_ms, (), self.language_probability)
        # Every word gets time in proportion to its length; the words fill the audio exactly.
        weights = [[len(word) for word in _words(sentence)] for sentence in sentences]
        total = sum(sum(each) for each in weights) or 1
        segments: list[Segment] = []
        elapsed = 0
        for index, (sentence, sentence_weights) in enumerate(zip(sentences, weights, strict=True)):
            words: list[Word] = []
            start_ms = round(elapsed * duration_ms / total)
            for word, weight in zip(_words(sentence), sentence_weights, strict=True):
                word_start = round(elapsed * duration_ms / total)
                elapsed += weight
                words.append(Word(word, word_start, round(elapsed * duration_ms / total), 0.9))
            end_ms = round(elapsed * duration_ms / total)
            segments.append(
                Segment(
                    id=index,
                    text=sentence,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    words=tuple(words) if request.word_timestamps else (),
                    avg_logprob=-0.1,
                    no_speech_prob=0.01,
                )
            )
        text = " ".join(sentences) if " " in self.text else "".join(sentences)
        return Transcript(text, language, duration_ms, tuple(segments), self.language_probability)


DEFAULT_EMOTION_SCORES: dict[str, float] = {
    "neutral": 0.55,
    "happy": 0.2,
    "sad": 0.1,
    "angry": 0.05,
    "fearful": 0.04,
    "surprised": 0.04,
    "disgusted": 0.02,
}


class FakeEmotion:
    """An ``EmotionEngine`` with fixed scores (normalised to sum to 1, sorted high to low)."""

    def __init__(
        self,
        scores: Mapping[str, float] | None = None,
        *,
        name: str = "fake-emotion",
        arousal: float | None = 0.0,
        valence: float | None = 0.0,
        fail: BaseException | None = None,
    ) -> None:
        raw = dict(scores if scores is not None else DEFAULT_EMOTION_SCORES)
        unknown = set(raw) - set(EMOTION_LABELS)
        if unknown:
            raise ValueError(f"Unknown emotion labels: {sorted(unknown)}")
        total = sum(raw.values())
        if total <= 0:
            raise ValueError("Scores must add up to more than 0")
        order = {label: index for index, label in enumerate(EMOTION_LABELS)}
        normalised = [(label, raw.get(label, 0.0) / total) for label in EMOTION_LABELS]
        self.scores = tuple(sorted(normalised, key=lambda item: (-item[1], order[item[0]])))
        self.name = name
        self.arousal = arousal
        self.valence = valence
        self.fail = fail
        self.calls: list[tuple[Pcm, str | None, str | None]] = []

    def analyze(
        self, audio: Pcm, *, transcript: str | None = None, language: str | None = None
    ) -> EmotionResult:
        self.calls.append((audio, transcript, language))
        if self.fail is not None:
            raise self.fail
        return EmotionResult(
            scores=self.scores, model=self.name, arousal=self.arousal, valence=self.valence
        )


class FakeClone:
    """A ``CloneEngine`` whose profile holds rough F0 and level statistics of the sample."""

    def __init__(
        self,
        base_voice: str = "fake-voice",
        *,
        name: str = "fake-clone",
        fail: BaseException | None = None,
    ) -> None:
        self.name = name
        self.base_voice = base_voice
        self.fail = fail
        self.enrolled: list[Pcm] = []
        self.applied: list[dict[str, Any]] = []

    def enroll(self, sample: Pcm, *, language: str | None = None) -> CloneResult:
        self.enrolled.append(sample)
        if self.fail is not None:
            raise self.fail
        pitches = frame_f0(sample)
        level = (
            float(np.sqrt(np.mean(sample.samples.astype(np.float64) ** 2)))
            if len(sample.samples)
            else 0.0
        )
        profile: dict[str, Any] = {
            "f0_mean_hz": round(float(np.mean(pitches)), 1) if len(pitches) else None,
            "f0_std_hz": round(float(np.std(pitches)), 1) if len(pitches) else None,
            "voiced_ratio": round(len(pitches) / max(1, _frame_count(sample)), 3),
            "rms_dbfs": round(20 * math.log10(level / 32768), 1) if level > 0 else None,
            "duration_ms": sample.duration_ms,
            "language": language,
        }
        return CloneResult(base_voice=self.base_voice, profile=profile)

    def apply(self, speech: Pcm, profile: dict[str, Any]) -> Pcm:
        self.applied.append(profile)
        return speech


_FRAME_SECONDS, _HOP_SECONDS = 0.04, 0.02
_MIN_HZ, _MAX_HZ = 60.0, 500.0


def _frame_count(pcm: Pcm) -> int:
    frame = int(_FRAME_SECONDS * pcm.sample_rate)
    hop = int(_HOP_SECONDS * pcm.sample_rate)
    return 0 if len(pcm.samples) < frame else 1 + (len(pcm.samples) - frame) // hop


def frame_f0(pcm: Pcm) -> list[float]:
    """F0 of each voiced 40 ms frame by autocorrelation: rough, deterministic, numpy only."""
    rate = pcm.sample_rate
    frame = int(_FRAME_SECONDS * rate)
    hop = int(_HOP_SECONDS * rate)
    samples = pcm.samples.astype(np.float64) / 32768
    shortest, longest = int(rate / _MAX_HZ), min(int(rate / _MIN_HZ), frame - 1)
    pitches: list[float] = []
    for index in range(_frame_count(pcm)):
        chunk = samples[index * hop : index * hop + frame]
        chunk = chunk - chunk.mean()
        if np.sqrt(np.mean(chunk**2)) < 0.01:  # about -40 dBFS: silence
            continue
        spectrum = np.fft.rfft(chunk, 2 * frame)
        correlation = np.fft.irfft(spectrum * np.conj(spectrum))[:frame]
        if correlation[0] <= 0:
            continue
        lag = shortest + int(np.argmax(correlation[shortest : longest + 1]))
        if correlation[lag] / correlation[0] > 0.5:  # clearly periodic: voiced
            pitches.append(rate / lag)
    return pitches
