"""System voice previews: a short greeting in each voice, made on first request and kept.

A preview is free and anonymous (the voice browser plays it before anyone has spent anything),
so it is not billed or recorded in anyone's history. It is cached in the object store under a
key derived from everything that shapes the sound (the engine voices, the style, the text), so
an operator who edits a voice in the catalog gets a new preview without clearing anything; the
first request for a voice makes it, concurrent first requests wait for that one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from api import audio
from api.audio.text import is_cjk
from api.catalog.catalog import VoiceSpec
from api.engines.base import Pcm
from api.speech.context import SpeechContext
from api.speech.synthesis import PAUSE_MS, Rendition, SpeechOrder, render
from api.storage.keys import KEY_PREFIX, content_type_for_key

PREVIEW_FORMAT = "mp3"
_GREETINGS = {
    "zh": "你好，我是{name}。很高兴为你朗读，希望你喜欢我的声音。",
    "yue": "你好，我係{name}。好高興為你朗讀，希望你鍾意我把聲。",
    "en": "Hello, I am {name}. It is a pleasure to read for you today.",
}
_ANONYMOUS_ENGLISH = "Hello, it is a pleasure to read for you today."
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Preview:
    voice_id: str
    key: str  # in the object store; the door signs a URL for it or serves the bytes
    content_type: str
    text: str


def _languages(voice: VoiceSpec) -> list[str]:
    """Which greetings a voice says: Cantonese voices Cantonese, otherwise the languages its
    engine voices cover (Chinese first for bilingual voices)."""
    if "*" in voice.engine_voices:
        return ["yue"] if "yue" in voice.engine_voices["*"].voice else ["en"]
    return [language for language in ("zh", "en") if language in voice.engine_voices]


def preview_text(voice: VoiceSpec) -> list[tuple[str, str]]:
    lines = []
    for language in _languages(voice):
        # An English voice cannot say a Chinese name: it greets without one.
        if language == "en" and any(is_cjk(char) for char in voice.name):
            lines.append((language, _ANONYMOUS_ENGLISH))
        else:
            lines.append((language, _GREETINGS[language].format(name=voice.name)))
    return lines


def _key(voice: VoiceSpec, lines: list[tuple[str, str]]) -> str:
    shape = {
        "voice": voice.voice_id,
        "engines": {k: [v.engine, v.voice] for k, v in sorted(voice.engine_voices.items())},
        "style": voice.style,
        "lines": lines,
    }
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}/previews/{digest}.{PREVIEW_FORMAT}"


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def voice_preview(ctx: SpeechContext, voice_id: str) -> Preview:
    """The preview of a system voice (INVALID_VOICE for an unknown id), made once."""
    voice = ctx.catalog.voice(voice_id)
    lines = preview_text(voice)
    key = _key(voice, lines)
    text = " ".join(line for _, line in lines)
    preview = Preview(voice.voice_id, key, content_type_for_key(key), text)
    if ctx.store.exists(key):
        return preview
    with _lock_for(key):
        if not ctx.store.exists(key):
            ctx.store.put(key, _speak(ctx, voice, lines), preview.content_type)
    return preview


def _speak(ctx: SpeechContext, voice: VoiceSpec, lines: list[tuple[str, str]]) -> bytes:
    pitch = voice.style.get("pitch", 1.0)
    order = SpeechOrder(model="", text=" ".join(text for _, text in lines))
    pcms: list[Pcm] = []
    for language, text in lines:
        ref = voice.engine_voices.get(language) or voice.engine_voices["*"]
        pcms.append(render(ctx, Rendition(ref.engine, ref.voice, pitch), text, order))
    return audio.encode(audio.concatenate(pcms, pause_ms=PAUSE_MS * 2), PREVIEW_FORMAT)
