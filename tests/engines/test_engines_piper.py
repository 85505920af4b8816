"""Piper's joe voice: verified load, speed, sentence streaming, real-time factor, bad input."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from api.engines import piper as piper_module
from api.engines import weights
from api.engines.base import SynthesisRequest, TTSEngine
from api.engines.espeak import EspeakEngine
from api.engines.piper import SAMPLE_RATE, PiperEngine
from api.errors import InvalidInputError, ServiceUnavailableError

PARAGRAPH = (
    "Welcome to the voice platform. This message was generated entirely offline, on a small "
    "server, without any help from the internet. Please listen carefully to the following "
    "instructions."
)
assert 180 <= len(PARAGRAPH) <= 220


def request(text: str = PARAGRAPH, **options: object) -> SynthesisRequest:
    return SynthesisRequest(text=text, voice="joe", **options)  # type: ignore[arg-type]


def test_is_a_tts_engine_with_native_speed_only(piper: PiperEngine) -> None:
    assert isinstance(piper, TTSEngine)
    assert (piper.name, piper.sample_rate) == ("piper", 22050)
    assert piper.native_speed and not piper.native_pitch
    assert [(voice.id, voice.language) for voice in piper.voices()] == [("joe", "en-us")]


def test_paragraph_is_speech_well_under_real_time(piper: PiperEngine) -> None:
    started = time.perf_counter()
    pcm = piper.synthesize(request())
    elapsed = time.perf_counter() - started
    assert pcm.sample_rate == SAMPLE_RATE
    assert 8 < pcm.duration_seconds < 18
    assert np.sqrt(np.mean(pcm.samples.astype(np.float64) ** 2)) > 1000
    # 0.03-0.08 on a quiet 2-core box; a loose bound so a busy CI machine still passes.
    assert elapsed / pcm.duration_seconds < 0.5


def test_stream_yields_a_chunk_per_sentence_first_one_early(piper: PiperEngine) -> None:
    started = time.perf_counter()
    stream = piper.stream(request())
    first = next(stream)
    first_seconds = time.perf_counter() - started
    rest = list(stream)
    total_seconds = time.perf_counter() - started
    assert len(rest) == 2  # three sentences
    assert first_seconds < 0.7 * total_seconds
    assert first.duration_seconds < 0.5 * sum(chunk.duration_seconds for chunk in [first, *rest])


def test_speed_is_native(piper_deterministic: PiperEngine) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    normal = piper_deterministic.synthesize(request(text)).duration_seconds
    fast = piper_deterministic.synthesize(request(text, speed=2.0)).duration_seconds
    slow = piper_deterministic.synthesize(request(text, speed=0.5)).duration_seconds
    # length_scale scales phoneme durations; the silence Piper puts around a sentence does not
    # shrink with it, so a short sentence comes out at about 0.6x, not 0.5x.
    assert 0.45 < fast / normal < 0.7
    assert 1.6 < slow / normal < 2.3


def test_pitch_is_left_to_the_pipeline(piper_deterministic: PiperEngine) -> None:
    text = "Pitch is not mine to change."
    plain = piper_deterministic.synthesize(request(text))
    assert np.array_equal(
        piper_deterministic.synthesize(request(text, pitch=2.0)).samples, plain.samples
    )


def test_deterministic_mode_repeats_exactly(piper_deterministic: PiperEngine) -> None:
    first = piper_deterministic.synthesize(request("Same words, same samples."))
    second = piper_deterministic.synthesize(request("Same words, same samples."))
    assert np.array_equal(first.samples, second.samples)


def test_a_request_can_ask_for_the_same_audio_every_time(piper: PiperEngine) -> None:
    """The default engine samples noise, so a verdict (the clone listening test) asks per call."""
    text = "The weather was lovely this morning."
    loose = [piper.synthesize(request(text)).samples for _ in range(2)]
    steady = [piper.synthesize(request(text, deterministic=True)).samples for _ in range(2)]
    assert not np.array_equal(*loose)
    assert np.array_equal(*steady)


def test_weights_are_checked_before_loading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hashed: list[Path] = []
    real_sha256 = weights.sha256_of

    def spy(path: Path) -> str:
        hashed.append(path)
        return real_sha256(path)

    monkeypatch.setattr(weights, "_verified", {})  # forget earlier checks in this process
    monkeypatch.setattr(weights, "sha256_of", spy)
    PiperEngine(data_dir=tmp_path).warm_up()
    assert [path.name for path in hashed] == ["en_US-joe-medium.onnx"]

    tampered = dataclasses.replace(piper_module.PIPER_JOE, sha256="0" * 64)
    monkeypatch.setattr(weights, "_verified", {})
    monkeypatch.setattr(piper_module, "PIPER_JOE", tampered)
    with pytest.raises(ServiceUnavailableError, match="integrity"):
        PiperEngine(data_dir=tmp_path).synthesize(request("Hello."))


def test_a_model_that_fails_to_load_is_a_503_and_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import onnxruntime

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("onnxruntime said no")

    monkeypatch.setattr(piper_module, "_shared_voices", {})
    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    engine = PiperEngine(data_dir=tmp_path)
    with pytest.raises(ServiceUnavailableError):
        engine.synthesize(request("Hello."))
    monkeypatch.undo()
    assert engine.synthesize(request("Hello.")).duration_seconds > 0.2  # not remembered


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"text": "   "}, "text"),
        ({"text": ""}, "text"),
        ({"voice": "amy"}, "voice"),
        ({"language": "cmn"}, "language"),
        ({"speed": 10.0}, "speed"),
    ],
)
def test_bad_input_is_refused(piper: PiperEngine, options: dict[str, object], param: str) -> None:
    fields: dict[str, object] = {"text": "Hello.", "voice": "joe", **options}
    with pytest.raises(InvalidInputError) as caught:
        piper.stream(SynthesisRequest(**fields))  # type: ignore[arg-type]
    assert caught.value.param == param


def test_english_language_tags_and_odd_text_are_fine(piper: PiperEngine) -> None:
    for language in ("en", "en-US", "en-gb", None):
        assert piper.synthesize(request("Fine.", language=language)).duration_seconds > 0.2
    pcm = piper.synthesize(request("Ünïcödé café, 10 € — and 中文 😀. OK."))
    assert pcm.duration_seconds > 0.5
    assert len(piper.synthesize(request("...")).samples) >= 0  # nothing to say is not an error


def test_piper_and_espeak_run_side_by_side(piper: PiperEngine) -> None:
    """Piper links its own espeak-ng for phonemes; the two copies must not share state."""
    espeak = EspeakEngine()
    durations: dict[str, list[float]] = {"piper": [], "espeak": []}

    def run_piper() -> None:
        for _ in range(3):
            durations["piper"].append(piper.synthesize(request("Side by side.")).duration_seconds)

    def run_espeak() -> None:
        for _ in range(30):
            pcm = espeak.synthesize(SynthesisRequest(text="并排运行。", voice="cmn"))
            durations["espeak"].append(pcm.duration_seconds)

    threads = [threading.Thread(target=run_piper), threading.Thread(target=run_espeak)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations["piper"]) == 3 and min(durations["piper"]) > 0.5
    assert len(durations["espeak"]) == 30
    assert max(durations["espeak"]) - min(durations["espeak"]) < 0.05
