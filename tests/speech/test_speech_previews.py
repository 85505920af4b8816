"""System voice previews: made at first request, kept, remade only when the voice changes."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from api import audio
from api.catalog.catalog import Catalog
from api.errors import InvalidInputError
from api.speech.context import SpeechContext
from api.speech.previews import voice_preview
from tests.speech.conftest import Fakes


def test_a_preview_is_made_once_and_then_served_from_the_store(
    speech: SpeechContext, fakes: Fakes
) -> None:
    with ThreadPoolExecutor(4) as pool:
        previews = list(pool.map(lambda _: voice_preview(speech, "longanyang"), range(4)))
    assert len({p.key for p in previews}) == 1
    preview = previews[0]
    assert preview.content_type == "audio/mpeg" and "龙安洋" in preview.text
    assert fakes.piper.requests[0].text == "Hello, it is a pleasure to read for you today."
    # Chinese with espeak-ng's Mandarin, then English with Piper, each exactly once.
    assert [r.voice for r in fakes.espeak.requests] == ["cmn+m7"]
    assert [r.voice for r in fakes.piper.requests] == ["joe"]
    assert audio.decode(speech.store.get(preview.key)).pcm.duration_ms > 1000
    voice_preview(speech, "longanyang")
    assert len(fakes.espeak.requests) == 1  # cached


def test_every_system_voice_has_a_preview(speech: SpeechContext) -> None:
    for voice in speech.catalog.voices():
        preview = voice_preview(speech, voice.voice_id)
        assert speech.store.exists(preview.key), voice.voice_id


def test_cantonese_voices_greet_in_cantonese(speech: SpeechContext, fakes: Fakes) -> None:
    preview = voice_preview(speech, "cantonese-ling")
    assert "係" in preview.text and [r.voice for r in fakes.espeak.requests] == ["yue+f3"]


def test_editing_a_voice_in_the_catalog_makes_a_new_preview(speech: SpeechContext) -> None:
    before = voice_preview(speech, "longanhuan")
    edited = [
        dataclasses.replace(v, style={"pitch": 1.2}) if v.voice_id == "longanhuan" else v
        for v in speech.catalog.voices()
    ]
    speech.catalog = Catalog(speech.catalog.models(), edited)
    assert voice_preview(speech, "longanhuan").key != before.key


def test_an_unknown_voice_has_no_preview(speech: SpeechContext) -> None:
    with pytest.raises(InvalidInputError) as refused:
        voice_preview(speech, "nobody")
    assert refused.value.code == "INVALID_VOICE"
