"""Speed of every offline engine, per language: real-time factor and time to first audio.

    .venv/bin/python -m bench.engines [--repeat 3]

For each engine and language the table shows:

* first — seconds of the first call: building the engine, loading and checking its model
  (once per process), and one run;
* RTF — processing time ÷ audio duration, median of ``--repeat`` runs (below 1: faster than
  real time; the goal for the platform's default voices is ≤ 0.1 on this 2-core machine);
* TTFA — time to first audio: from the call to the first PCM chunk of ``stream`` (TTS only;
  what a streaming listener waits before hearing anything);
* audio — seconds of audio in one run.

Speech recognisers, the emotion heuristic and the clone styling are timed on speech that the
TTS engines made in the same run, so the bench needs nothing but the installed packages.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from api.engines.base import Pcm, RecognitionRequest, SynthesisRequest
from api.engines.registry import EngineRegistry, default_registry
from api.settings import Settings

TEXTS = {
    "en": (
        "Welcome to the voice platform. This message was generated entirely offline, on a small "
        "server. Please listen carefully to the following instructions."
    ),
    "zh": "欢迎使用语音合成服务。今天天气很好，我们一起去公园散步吧。请在提示音后说出您的姓名。",
    "yue": "歡迎使用語音合成服務。今日天氣好好，我哋一齊去公園散步啦。",
}
TTS_CASES = [  # (engine, engine voice, language)
    ("espeak-ng", "en-us", "en"),
    ("espeak-ng", "cmn+f3", "zh"),
    ("espeak-ng", "yue+f3", "yue"),
    ("piper", "joe", "en"),
]
ASR_CASES = [  # (engine, language of the speech, the TTS case that makes it)
    ("faster-whisper-tiny.en", "en", ("piper", "joe")),
    ("faster-whisper-base", "en", ("piper", "joe")),
    ("faster-whisper-base", "zh", ("espeak-ng", "cmn+f3")),
]


@dataclass
class Row:
    engine: str
    language: str
    first_s: float
    rtf: float
    ttfa_ms: float | None
    audio_s: float


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _first_call(
    engines: EngineRegistry,
    kind: str,
    name: str,
    call: Callable[[object], object],
    first: dict[str, float],
) -> object:
    """The engine, after one call; the first call for a name is timed (model load included)."""
    started = time.perf_counter()
    engine = engines.get(kind, name)  # type: ignore[arg-type]
    call(engine)
    first.setdefault(name, time.perf_counter() - started)
    return engine


def bench_tts(engines: EngineRegistry, repeat: int, loaded: dict[str, float]) -> list[Row]:
    rows = []
    for name, voice, language in TTS_CASES:
        request = SynthesisRequest(text=TEXTS[language], voice=voice)
        engine = _first_call(engines, "tts", name, lambda e: e.synthesize(request), loaded)  # type: ignore[attr-defined]  # noqa: B023
        times, firsts = [], []
        pcm: Pcm | None = None
        for _ in range(repeat):
            started = time.perf_counter()
            stream = engine.stream(request)  # type: ignore[attr-defined]
            first = next(iter(stream))
            firsts.append(time.perf_counter() - started)
            for _chunk in stream:
                pass
            started = time.perf_counter()
            pcm = engine.synthesize(request)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - started)
            del first
        assert pcm is not None
        rows.append(
            Row(
                name,
                language,
                loaded[name],
                statistics.median(times) / pcm.duration_seconds,
                statistics.median(firsts) * 1000,
                pcm.duration_seconds,
            )
        )
    return rows


def _speech(engines: EngineRegistry, engine: str, voice: str, language: str) -> Pcm:
    from api import audio

    tts = engines.tts(engine)
    pcm = tts.synthesize(SynthesisRequest(text=TEXTS[language], voice=voice))
    return audio.resample(pcm, 16000)


def bench_asr(engines: EngineRegistry, repeat: int, loaded: dict[str, float]) -> list[Row]:
    rows = []
    for name, language, (tts, voice) in ASR_CASES:
        speech = _speech(engines, tts, voice, language)
        request = RecognitionRequest(audio=speech, language=language)
        engine = _first_call(engines, "asr", name, lambda e: e.transcribe(request), loaded)  # type: ignore[attr-defined]  # noqa: B023
        transcribe = engine.transcribe  # type: ignore[attr-defined]
        times = [_timed(lambda: transcribe(request)) for _ in range(repeat)]  # noqa: B023
        rows.append(
            Row(
                name,
                language,
                loaded[name],
                statistics.median(times) / speech.duration_seconds,
                None,
                speech.duration_seconds,
            )
        )
    return rows


def bench_emotion_and_clone(
    engines: EngineRegistry, repeat: int, loaded: dict[str, float]
) -> list[Row]:
    speech = _speech(engines, "piper", "joe", "en")
    emotion = _first_call(
        engines,
        "emotion",
        "prosody-heuristic",
        lambda e: e.analyze(speech),  # type: ignore[attr-defined]
        loaded,
    )
    analyze = emotion.analyze  # type: ignore[attr-defined]
    times = [_timed(lambda: analyze(speech, transcript=TEXTS["en"])) for _ in range(repeat)]
    rows = [
        Row(
            "prosody-heuristic",
            "en",
            loaded["prosody-heuristic"],
            statistics.median(times) / speech.duration_seconds,
            None,
            speech.duration_seconds,
        )
    ]
    # A 12 s reference of another speaker, the way a user's sample would come in.
    reference = _speech(engines, "espeak-ng", "en-us+f3", "en")
    while reference.duration_seconds < 12:
        reference = Pcm(np.concatenate([reference.samples, reference.samples]), 16000)
    clone = _first_call(
        engines,
        "clone",
        "world-styling",
        lambda e: e.enroll(reference, language="en"),  # type: ignore[attr-defined]
        loaded,
    )
    enroll_s = statistics.median(
        _timed(lambda: clone.enroll(reference, language="en"))  # type: ignore[attr-defined]
        for _ in range(repeat)
    )
    profile = clone.enroll(reference, language="en").profile  # type: ignore[attr-defined]
    base = engines.tts("piper").synthesize(SynthesisRequest(text=TEXTS["en"], voice="joe"))
    apply_s = statistics.median(
        _timed(lambda: clone.apply(base, profile))  # type: ignore[attr-defined]
        for _ in range(repeat)
    )
    rows.append(
        Row("world-styling enrol", "en", loaded["world-styling"], enroll_s / 12, None, 12.0)
    )
    rows.append(
        Row(
            "world-styling apply",
            "en",
            0.0,
            apply_s / base.duration_seconds,
            None,
            base.duration_seconds,
        )
    )
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"{'engine':<24}{'lang':<6}{'first s':>8}{'RTF':>9}{'TTFA ms':>10}{'audio s':>9}")
    for row in rows:
        ttfa = f"{row.ttfa_ms:.1f}" if row.ttfa_ms is not None else "—"
        print(
            f"{row.engine:<24}{row.language:<6}{row.first_s:>8.2f}{row.rtf:>9.4f}"
            f"{ttfa:>10}{row.audio_s:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    settings = Settings(
        environment="development", data_dir=Path(tempfile.mkdtemp(prefix="amphion-bench-"))
    )
    engines = default_registry(settings)
    loaded: dict[str, float] = {}
    rows = bench_tts(engines, options.repeat, loaded)
    rows += bench_asr(engines, options.repeat, loaded)
    rows += bench_emotion_and_clone(engines, options.repeat, loaded)
    print_table(rows)


if __name__ == "__main__":
    main()
