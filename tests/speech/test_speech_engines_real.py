"""The use cases on the real offline engines: what a newcomer's first calls will actually do.

Piper speaks English that tiny.en understands; espeak-ng's Mandarin comes back as Chinese from
Whisper base; 10,000 mixed characters are spoken whole, in order, in bounded memory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.catalog.catalog import get_catalog
from api.db import Database
from api.engines.clone import word_error_rate
from api.engines.registry import get_registry
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.recognition import RecognitionOrder, recognize
from api.speech.runtime import use_speech_context
from api.speech.synthesis import SpeechOrder, synthesize
from api.storage import get_object_store
from tests.engines import speech_samples as samples

# 200 characters of plain English with a question in it, as a user would type. No numbers (a
# recogniser may write "nine" as "9") and no phrases that sound alike ("rooms open" / "room is
# open"): Piper adds random variation, so the text must not depend on a lucky reading.
PARAGRAPH = (
    "Good morning and welcome to the city library. The reading room is quiet and warm every "
    "weekday. Would you like to borrow a book today? Please bring your library card to the "
    "front desk and enjoy your visit."
)
CJK = re.compile(r"[\u4e00-\u9fff]")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def real(settings: Settings, db: Database) -> Iterator[SpeechContext]:
    # The engines of one shared settings object: Whisper base is joined into its data dir once.
    engines = get_registry(samples.engine_settings())
    context = SpeechContext(settings, db, get_catalog(), engines, get_object_store(settings))
    use_speech_context(context)
    yield context
    use_speech_context(None)


def test_the_paragraph_is_two_hundred_characters() -> None:
    assert 195 <= len(PARAGRAPH) <= 205


def test_piper_english_comes_back_from_tiny_en_almost_word_for_word(
    real: SpeechContext, caller: Callable[[], Caller]
) -> None:
    spoken = synthesize(real, caller(), SpeechOrder("piper-joe", PARAGRAPH, format="mp3"))
    heard = recognize(real, caller(), spoken.audio, RecognitionOrder("faster-whisper-tiny.en"))
    assert word_error_rate(PARAGRAPH, heard.transcript.text) <= 0.1, heard.transcript.text
    assert heard.duration_ms == pytest.approx(spoken.duration_ms, abs=60)


MANDARIN_VOICES = [
    voice.voice_id
    for voice in get_catalog().voices()
    if voice.engine_voices.get("zh", voice.engine_voices.get("*")).voice.startswith("cmn")
]


def test_most_system_voices_speak_mandarin() -> None:
    assert len(MANDARIN_VOICES) >= 10


@pytest.mark.parametrize("voice_id", MANDARIN_VOICES)
def test_espeak_mandarin_comes_back_from_whisper_base_as_chinese(
    real: SpeechContext, caller: Callable[[], Caller], voice_id: str
) -> None:
    """Every voice that speaks Chinese is understood as Chinese, with no language hint:
    a user who synthesizes and then transcribes gets back what they typed."""
    text = samples.MANDARIN_SENTENCE
    model = get_catalog().voice(voice_id).models[0]
    spoken = synthesize(real, caller(), SpeechOrder(model, text, voice=voice_id))
    heard = recognize(real, caller(), spoken.audio, RecognitionOrder("qwen3-asr-flash"))
    assert heard.transcript.language == "zh", heard.transcript.text
    assert len(CJK.findall(heard.transcript.text)) >= len(CJK.findall(text)) // 2


@pytest.mark.slow
def test_ten_thousand_mixed_characters_are_spoken_in_order_in_bounded_memory() -> None:
    probe = Path(__file__).with_name("long_text_probe.py")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(
        [sys.executable, str(probe), "10000"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=environment,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    text, spoken = report["text"], report["spoken"]
    assert len(text) == 10_000
    squeeze = re.compile(r"\s+")
    # Every piece the engines were given, joined, is the whole text: none lost, none twice.
    assert squeeze.sub("", "".join(spoken)) == squeeze.sub("", text)
    assert report["segments"] >= 5  # split at 2,000 characters, at sentence ends
    assert report["duration_ms"] > 15 * 60 * 1000  # about 20 minutes of speech
    assert report["peak_mb"] < 500, report["peak_mb"]
