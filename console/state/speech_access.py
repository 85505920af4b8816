"""How console states reach the speech use cases: the process's speech context, a caller for
the signed-in principal, and browser links to stored audio.

The console calls ``api.speech`` in-process, like the HTTP door does, on the same context the
in-process job worker uses (``speech_context_for`` of the process settings and database).
"""

from __future__ import annotations

import uuid

from api.db import get_database
from api.principal import Principal
from api.settings import get_settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.runtime import speech_context_for
from api.storage.service import object_url


def speech_context() -> SpeechContext:
    """The speech context of this process (catalog, engines, object store, database)."""
    return speech_context_for(get_settings(), get_database())


def console_caller(principal: Principal) -> Caller:
    """A caller for one console action; the fresh request id keys its hold exactly once."""
    return Caller(principal, request_id=f"console-{uuid.uuid4().hex}", source="console")


def audio_link(ctx: SpeechContext, key: str) -> str:
    """A signed, expiring link the browser's <audio> element can load (relative on local
    storage, so it follows whatever address the console is reached at)."""
    return object_url(ctx.store, key, base_url=get_settings().public_base_url)
