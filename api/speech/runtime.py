"""The process-wide speech context, for code that has no door to hand one in (job handlers)."""

from __future__ import annotations

from functools import lru_cache

from api.db import get_database
from api.settings import get_settings
from api.speech.context import SpeechContext

_override: SpeechContext | None = None


@lru_cache
def _default() -> SpeechContext:
    return SpeechContext.from_settings(get_settings(), get_database())


def get_speech_context() -> SpeechContext:
    return _override or _default()


def use_speech_context(context: SpeechContext | None) -> None:
    """Make ``context`` the process-wide one (tests, and apps built from explicit settings)."""
    global _override
    _override = context
