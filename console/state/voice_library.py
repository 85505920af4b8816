"""The voice library: the catalog's system voices as cards, filtered, with a spoken preview.

The catalog is read-only and small (tens of voices), so the filters run over it in the handler
and only the matching cards' display strings reach the browser. A preview is the platform's
cached greeting (``api.speech.previews.voice_preview``): made once per voice and kept in the
object store, free for everyone, so the second play costs nothing and starts at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx

from api.catalog.catalog import Catalog, VoiceSpec
from api.errors import DomainError
from api.speech.previews import voice_preview
from console import routes
from console.i18n import language_of, pick
from console.state.clone import playground_link
from console.state.session import signed_in_principal
from console.state.speech_access import audio_link, speech_context

logger = logging.getLogger("amphion.console")

ALL = "all"
MAX_CARDS = 60  # the whole shipped catalog fits; an operator's huge one is cut, not paged
_GENDERS = {"female": ("Female", "女声"), "male": ("Male", "男声"), "neutral": ("Neutral", "中性")}
_FEATURES = {"ssml": "SSML", "instruct": "Instruct", "timestamp": "Timestamps"}
_FEATURES_ZH = {"ssml": "SSML", "instruct": "指令控制", "timestamp": "时间戳"}


def voice_card(voice: VoiceSpec) -> dict[str, Any]:
    """One card's display values."""
    gender_en, gender_zh = _GENDERS.get(voice.gender, (voice.gender, voice.gender))
    features = [key for key, on in voice.features.items() if on]
    return {
        "voice_id": voice.voice_id,
        "name": voice.name,
        "trait": voice.trait,
        "age": voice.age,
        "category": voice.category,
        "gender_en": gender_en,
        "gender_zh": gender_zh,
        "languages": " · ".join(voice.languages),
        "models": list(voice.models),
        "features_en": " · ".join(_FEATURES.get(key, key) for key in features),
        "features_zh": " · ".join(_FEATURES_ZH.get(key, key) for key in features),
        "playground": playground_link(voice.models[0], voice.voice_id) if voice.models else "",
    }


def _matches(voice: VoiceSpec, search: str) -> bool:
    needle = search.strip().lower()
    if not needle:
        return True
    haystack = " ".join(
        (voice.voice_id, voice.name, voice.trait, voice.category, voice.description, voice.age)
        + voice.languages
    ).lower()
    return all(word in haystack for word in needle.split())


def find_voices(
    catalog: Catalog, *, model: str, category: str, language: str, gender: str, search: str
) -> list[VoiceSpec]:
    """System voices passing every filter (``ALL`` or "" leaves a filter out)."""

    def chosen(value: str) -> str | None:
        return None if value in ("", ALL) else value

    found = catalog.voices(
        model=chosen(model),
        category=chosen(category),
        gender=chosen(gender),
    )
    wanted_language = chosen(language)
    return [
        voice
        for voice in found
        if (wanted_language is None or wanted_language in voice.languages)
        and _matches(voice, search)
    ]


class VoiceLibraryState(rx.State):
    """Filters, the matching cards, and the preview being played."""

    loaded: bool = False
    cards: list[dict[str, Any]] = []
    total: int = 0
    model: str = ALL
    category: str = ALL
    language: str = ALL
    gender: str = ALL
    search: str = ""
    model_options: list[dict[str, str]] = []
    category_options: list[str] = []
    language_options: list[str] = []

    preview_voice: str = ""
    preview_name: str = ""
    preview_url: str = ""
    preview_loading: str = ""  # the voice whose preview is being made

    @rx.event
    async def load(self):
        """On load: every system voice, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        catalog = speech_context().catalog
        voices = catalog.voices()
        used_models = {model for voice in voices for model in voice.models}
        self.model_options = [
            {"id": model.id, "name": model.name}
            for model in catalog.models("tts")
            if model.id in used_models
        ]
        self.category_options = catalog.categories()
        self.language_options = sorted(
            {language for voice in voices for language in voice.languages}
        )
        self.model = self.category = self.language = self.gender = ALL
        self.search = ""
        self.preview_voice = self.preview_name = self.preview_url = self.preview_loading = ""
        self._apply(catalog)
        self.loaded = True
        return None

    def _apply(self, catalog: Catalog) -> None:
        found = find_voices(
            catalog,
            model=self.model,
            category=self.category,
            language=self.language,
            gender=self.gender,
            search=self.search,
        )
        self.total = len(found)
        self.cards = [voice_card(voice) for voice in found[:MAX_CARDS]]

    async def _filter(self, **chosen: str):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        for name, value in chosen.items():
            setattr(self, name, str(value)[:100])
        self._apply(speech_context().catalog)
        return None

    @rx.event
    async def set_model(self, value: str):
        return await self._filter(model=value)

    @rx.event
    async def set_category(self, value: str):
        return await self._filter(category=value)

    @rx.event
    async def set_language(self, value: str):
        return await self._filter(language=value)

    @rx.event
    async def set_gender(self, value: str):
        return await self._filter(gender=value)

    @rx.event
    async def set_search(self, value: str):
        return await self._filter(search=value)

    @rx.event
    async def clear_filters(self):
        return await self._filter(model=ALL, category=ALL, language=ALL, gender=ALL, search="")

    @rx.event
    async def play_preview(self, voice_id: str):
        """Play a voice's greeting: made on the first request, then served from storage."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        ctx = speech_context()
        voice = ctx.catalog.find_voice(str(voice_id))
        if voice is None:
            return
        self.preview_loading = voice.voice_id
        yield
        try:
            preview = await asyncio.to_thread(voice_preview, ctx, voice.voice_id)
        except DomainError as refused:
            self.preview_loading = ""
            yield rx.toast.error(refused.message)
            return
        except Exception:
            logger.exception("making the preview of %s failed", voice.voice_id)
            self.preview_loading = ""
            yield rx.toast.error(
                pick(
                    await language_of(self),
                    "The preview could not be made; try again.",
                    "无法生成试听，请重试。",
                )
            )
            return
        self.preview_voice, self.preview_name = voice.voice_id, voice.name
        self.preview_url = audio_link(ctx, preview.key)
        self.preview_loading = ""
