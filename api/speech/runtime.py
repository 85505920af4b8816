"""The speech context for code that has no door to hand one in: job handlers.

A handler gets the worker's settings and database (``JobContext``); the speech context built on
them (catalog, engines, object store) is made once per pair and reused. Tests put a context with
fake engines in front of that with ``use_speech_context``.
"""

from __future__ import annotations

import threading

from api.db import Database
from api.settings import Settings
from api.speech.context import SpeechContext

_override: SpeechContext | None = None
# (id(settings), id(db)) → context; the context holds both, so neither id can be reused.
_contexts: dict[tuple[int, int], SpeechContext] = {}
_lock = threading.Lock()


def speech_context_for(settings: Settings, db: Database) -> SpeechContext:
    if _override is not None:
        return _override
    key = (id(settings), id(db))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = SpeechContext.from_settings(settings, db)
        return context


def use_speech_context(context: SpeechContext | None) -> None:
    """Make ``context`` the one every handler uses (None: back to the per-worker ones)."""
    global _override
    _override = context
