"""faster-whisper ASR: English with tiny.en, Mandarin and translation with base, long audio.

Speech comes from Piper and espeak-ng (``speech_samples``); each model is loaded once for the
session (the engine shares loaded models between instances).
"""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import api.engines.whisper as whisper_module
from api.catalog.catalog import WHISPER_LANGUAGES
from api.engines.base import ASREngine, Pcm, RecognitionRequest, Transcript
from api.engines.clone import word_error_rate
from api.engines.prosody import float_to_pcm, pcm_to_float, resample
from api.engines.whisper import CHUNK_SECONDS, WhisperEngine, normalize_language
from api.errors import InvalidInputError, ServiceUnavailableError
from tests.engines import speech_samples as samples

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def tiny() -> WhisperEngine:
    engine = WhisperEngine("tiny.en", samples.engine_settings())
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def base() -> WhisperEngine:
    engine = WhisperEngine("base", samples.engine_settings())
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def english() -> Pcm:
    return samples.piper(samples.ENGLISH_SENTENCE)


def assert_times_inside(transcript: Transcript, duration_ms: int) -> None:
    previous_start = 0
    for segment in transcript.segments:
        assert 0 <= segment.start_ms <= segment.end_ms <= duration_ms
        assert segment.start_ms >= previous_start
        previous_start = segment.start_ms
        for word in segment.words:
            assert segment.start_ms - 50 <= word.start_ms <= word.end_ms <= duration_ms


def test_engine_meets_the_protocol(tiny: WhisperEngine, base: WhisperEngine) -> None:
    assert isinstance(tiny, ASREngine) and isinstance(base, ASREngine)
    assert tiny.name == "faster-whisper-tiny.en" and tiny.languages == ("en",)
    assert base.name == "faster-whisper-base" and base.languages == ()


def test_tiny_en_transcribes_piper_with_word_timestamps(tiny: WhisperEngine, english: Pcm) -> None:
    transcript = tiny.transcribe(RecognitionRequest(english, word_timestamps=True))

    assert word_error_rate(samples.ENGLISH_SENTENCE, transcript.text) <= 0.15
    assert transcript.language == "en"
    assert transcript.duration_ms == english.duration_ms
    words = [word for segment in transcript.segments for word in segment.words]
    assert len(words) >= 10
    assert_times_inside(transcript, english.duration_ms)
    starts = [word.start_ms for word in words]
    assert starts == sorted(starts)


def test_tiny_en_reads_44khz_audio(tiny: WhisperEngine, english: Pcm) -> None:
    upsampled = resample(pcm_to_float(english), english.sample_rate, 44100)
    speech = float_to_pcm(upsampled, 44100)

    transcript = tiny.transcribe(RecognitionRequest(speech, language="en-US"))

    assert word_error_rate(samples.ENGLISH_SENTENCE, transcript.text) <= 0.15
    assert transcript.duration_ms == pytest.approx(english.duration_ms, abs=1)
    assert transcript.segments and not transcript.segments[0].words  # words only when asked


def test_tiny_en_refuses_other_languages_and_translation(tiny: WhisperEngine, english: Pcm) -> None:
    with pytest.raises(InvalidInputError, match="English only"):
        tiny.transcribe(RecognitionRequest(english, language="zh"))
    with pytest.raises(InvalidInputError, match="cannot translate"):
        tiny.transcribe(RecognitionRequest(english, task="translate"))


def test_base_detects_mandarin_and_answers_in_chinese(base: WhisperEngine) -> None:
    # espeak's default (male) Mandarin voice is detected as Thai by Whisper base, and even with
    # a hint it sends the decoder into slow repetition loops; the female variant is read well.
    speech = samples.espeak(samples.MANDARIN_SENTENCE, "cmn+f3")

    detected = base.transcribe(RecognitionRequest(speech, word_timestamps=True))
    hinted = base.transcribe(RecognitionRequest(speech, language="zh-CN"))

    assert detected.language == "zh" and detected.language_probability > 0.5
    assert_times_inside(detected, speech.duration_ms)
    for transcript in (detected, hinted):
        assert transcript.language == "zh"
        assert len(CJK.findall(transcript.text)) >= 15


def test_base_translates_into_english(base: WhisperEngine) -> None:
    speech = samples.espeak("今天天气很好，我们一起去公园散步吧。", "cmn+f3")

    transcript = base.transcribe(RecognitionRequest(speech, task="translate"))

    letters = re.findall(r"[A-Za-z]", transcript.text)
    assert len(letters) >= 10 and not CJK.search(transcript.text)
    assert transcript.language == "zh"  # the spoken language, not the output's


def test_base_refuses_an_unknown_language(base: WhisperEngine, english: Pcm) -> None:
    with pytest.raises(InvalidInputError, match="not supported"):
        base.transcribe(RecognitionRequest(english, language="klingon"))


def test_long_audio_is_transcribed_in_bounded_windows(
    tiny: WhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    paragraph = samples.piper(samples.ENGLISH_PARAGRAPH)
    long_audio = samples.concatenate([paragraph] * 11, gap_seconds=0.6)
    assert long_audio.duration_seconds > 180
    model = whisper_module._loaded["tiny.en"].model
    window_lengths: list[int] = []
    original = model.transcribe

    def spy(audio: np.ndarray, **options: object) -> object:
        window_lengths.append(len(audio))
        return original(audio, **options)

    monkeypatch.setattr(model, "transcribe", spy)

    transcript = tiny.transcribe(RecognitionRequest(long_audio))

    assert len(window_lengths) >= 4
    assert max(window_lengths) <= CHUNK_SECONDS * 16000
    assert sum(window_lengths) == pytest.approx(long_audio.duration_seconds * 16000, abs=16)
    assert_times_inside(transcript, long_audio.duration_ms)
    ends = [segment.end_ms for segment in transcript.segments]
    assert ends == sorted(ends)
    assert transcript.segments[0].start_ms < 2000
    assert transcript.segments[-1].end_ms > long_audio.duration_ms - 15000
    assert [segment.id for segment in transcript.segments] == list(range(len(ends)))
    assert transcript.text.lower().count("pound key") >= 9  # no window lost


def test_segments_come_out_as_they_are_decoded_and_closing_stops_the_work(
    tiny: WhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    paragraph = samples.piper(samples.ENGLISH_PARAGRAPH)
    long_audio = samples.concatenate([paragraph] * 5, gap_seconds=0.6)
    model = whisper_module._loaded["tiny.en"].model
    windows: list[int] = []
    original = model.transcribe

    def spy(audio: np.ndarray, **options: object) -> object:
        windows.append(len(audio))
        return original(audio, **options)

    monkeypatch.setattr(model, "transcribe", spy)

    whole = tiny.transcribe(RecognitionRequest(long_audio))
    assert len(windows) >= 2 and len(whole.segments) >= 4
    windows.clear()

    segments = tiny.transcribe_segments(RecognitionRequest(long_audio))
    first = next(segments)
    assert first == whole.segments[0]
    assert len(windows) == 1  # the first segment came before the later windows were decoded
    segments.close()
    assert len(windows) == 1  # closing stopped it
    # and the model is free again for the next caller
    assert tiny.transcribe(RecognitionRequest(samples.silence(0.2))).text == ""


def test_silence_and_empty_audio_give_empty_transcripts(tiny: WhisperEngine) -> None:
    assert tiny.transcribe(RecognitionRequest(Pcm.empty(16000))).text == ""
    silent = tiny.transcribe(RecognitionRequest(samples.silence(3.0), vad=True))
    assert silent.text == "" and silent.segments == () and silent.duration_ms == 3000


def test_concurrent_requests_share_one_model(tiny: WhisperEngine, english: Pcm) -> None:
    second_engine = WhisperEngine("tiny.en", samples.engine_settings())
    results: list[str] = []

    def run(engine: WhisperEngine) -> None:
        results.append(engine.transcribe(RecognitionRequest(english)).text)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in (tiny, second_engine)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2 and results[0] == results[1]
    assert whisper_module.loaded_models().count("tiny.en") == 1


def test_a_model_that_cannot_load_is_a_503(monkeypatch: pytest.MonkeyPatch, english: Pcm) -> None:
    import faster_whisper

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("corrupt model")

    monkeypatch.setattr(whisper_module, "_loaded", {})
    monkeypatch.setattr(faster_whisper, "WhisperModel", broken)

    with pytest.raises(ServiceUnavailableError, match="could not be loaded"):
        WhisperEngine("tiny.en", samples.engine_settings()).transcribe(RecognitionRequest(english))


@pytest.mark.parametrize(
    ("tag", "code"),
    [("en-US", "en"), ("zh_CN", "zh"), ("cmn", "zh"), ("yue", "zh"), ("Chinese", "zh"), ("", None)],
)
def test_language_tags_are_normalized(tag: str, code: str | None) -> None:
    assert normalize_language(tag) == code


def test_loading_and_recognising_never_touch_the_network(
    monkeypatch: pytest.MonkeyPatch, english: Pcm
) -> None:
    import socket

    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the engine tried to open a network connection")

    monkeypatch.setattr(whisper_module, "_loaded", {})  # force a fresh load
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)

    engine = WhisperEngine("tiny.en", samples.engine_settings())
    transcript = engine.transcribe(RecognitionRequest(english, word_timestamps=True))

    assert word_error_rate(samples.ENGLISH_SENTENCE, transcript.text) <= 0.15


def test_a_deterministic_request_never_samples(
    tiny: WhisperEngine, english: Pcm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whisper re-decodes a doubtful window by sampling unless the request asks for the same
    words every time (a clone's listening test does): then only greedy temperature 0 runs."""
    loaded = tiny._load()
    real = loaded.model.transcribe
    temperatures: list[object] = []

    def spy(*args: object, **kwargs: object) -> object:
        temperatures.append(kwargs.get("temperature", "fallback"))
        return real(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "transcribe", spy)
    first = tiny.transcribe(RecognitionRequest(english, deterministic=True))
    again = tiny.transcribe(RecognitionRequest(english, deterministic=True))
    tiny.transcribe(RecognitionRequest(english))
    assert temperatures == [0.0, 0.0, "fallback"]
    assert first.text == again.text
    assert word_error_rate(samples.ENGLISH_SENTENCE, first.text) <= 0.15


class FakeWhisperModel:
    """faster-whisper's ``WhisperModel.transcribe`` as far as the engine uses it: detection
    answers ``probabilities`` (sorted, high first) and each window says which language it was
    decoded in."""

    def __init__(self, probabilities: list[tuple[str, float]]) -> None:
        self.probabilities = probabilities
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Any, Any]:
        self.calls.append(options)
        language = options["language"]
        if language is None:
            language, probability = self.probabilities[0]
            info = SimpleNamespace(
                language=language,
                language_probability=probability,
                all_language_probs=self.probabilities,
            )
        else:
            info = SimpleNamespace(
                language=language, language_probability=1.0, all_language_probs=None
            )
        segment = SimpleNamespace(
            text=f" spoken in {language}",
            start=0.0,
            end=1.0,
            words=[],
            avg_logprob=-0.2,
            no_speech_prob=0.01,
        )
        return iter([segment]), info


# Whisper base on espeak's Mandarin in the failing run: Thai first, Chinese second.
ESPEAK_MANDARIN_DETECTION = [("th", 0.64), ("zh", 0.30), ("en", 0.01), ("lo", 0.01)]
QWEN3_ASR_LANGUAGES = ("zh", "en", "ja", "ko", "de", "fr", "es", "it", "pt", "ru", "ar")


def with_fake_model(
    monkeypatch: pytest.MonkeyPatch, probabilities: list[tuple[str, float]]
) -> tuple[WhisperEngine, FakeWhisperModel]:
    fake = FakeWhisperModel(probabilities)
    loaded = whisper_module._LoadedModel(model=fake, lock=threading.Lock())
    monkeypatch.setitem(whisper_module._loaded, "base", loaded)
    return WhisperEngine("base", samples.engine_settings()), fake


def test_detection_chooses_only_among_the_allowed_languages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, fake = with_fake_model(monkeypatch, ESPEAK_MANDARIN_DETECTION)
    audio = samples.silence(150.0)  # three windows

    transcript = engine.transcribe(
        RecognitionRequest(audio, languages=QWEN3_ASR_LANGUAGES, word_timestamps=True)
    )

    assert transcript.language == "zh"
    # Renormalised over the allowed languages present: zh 0.30 of zh + en = 0.31.
    assert transcript.language_probability == pytest.approx(0.30 / 0.31, abs=1e-4)
    # The first window was detected, then decoded again in Chinese, and so was every later one.
    languages = [call["language"] for call in fake.calls]
    assert languages == [None, "zh", "zh", "zh"]
    assert transcript.text == "spoken in zh" * 3  # Chinese segments join without spaces
    # The re-decoding asks for everything the first attempt asked for.
    first, again = fake.calls[0], fake.calls[1]
    assert {**first, "language": "zh"} == again
    assert again["vad_filter"] is True and again["word_timestamps"] is True


def test_an_allowed_detection_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, fake = with_fake_model(monkeypatch, [("zh", 0.90), ("en", 0.06), ("th", 0.04)])

    transcript = engine.transcribe(RecognitionRequest(samples.silence(2.0), languages=("zh", "en")))

    assert [call["language"] for call in fake.calls] == [None]
    assert transcript.language == "zh"
    assert transcript.language_probability == pytest.approx(0.90 / 0.96, abs=1e-4)


def test_without_a_language_list_whisper_may_answer_any_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, fake = with_fake_model(monkeypatch, ESPEAK_MANDARIN_DETECTION)

    transcript = engine.transcribe(RecognitionRequest(samples.silence(150.0)))

    assert transcript.language == "th" and transcript.language_probability == 0.64
    # Detected once in the first window and kept for the rest, as before.
    assert [call["language"] for call in fake.calls] == [None, "th", "th"]


def test_a_language_hint_is_not_second_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, fake = with_fake_model(monkeypatch, ESPEAK_MANDARIN_DETECTION)

    transcript = engine.transcribe(
        RecognitionRequest(samples.silence(2.0), language="en", languages=("zh",))
    )

    assert [call["language"] for call in fake.calls] == ["en"]
    assert transcript.language == "en"


def test_the_catalog_knows_the_languages_whisper_knows() -> None:
    """The catalog keeps a copy (it must not import faster-whisper); this keeps it true."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(_LANGUAGE_CODES) == WHISPER_LANGUAGES
