"""A speech context on fake engines, registered under the offline engines' real names, so the
catalog routes to them exactly as it routes to espeak-ng, Piper and Whisper in production."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from api.catalog.catalog import get_catalog
from api.db import Database
from api.engines.fakes import FakeASR, FakeClone, FakeEmotion, FakeTTS
from api.engines.registry import EngineRegistry
from api.jobs.worker import Worker
from api.principal import Principal
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.runtime import use_speech_context
from api.storage import get_object_store
from tests.helpers import make_user

FUNDS = 10_000_000  # ¥10


@dataclass
class Fakes:
    espeak: FakeTTS
    piper: FakeTTS
    asr: FakeASR
    emotion: FakeEmotion
    clone: FakeClone


@pytest.fixture
def fakes() -> Fakes:
    return Fakes(
        espeak=FakeTTS(name="espeak-ng", base_hz=200.0),
        piper=FakeTTS(name="piper", base_hz=330.0),
        asr=FakeASR("Hello world. This is a test."),
        emotion=FakeEmotion(),
        clone=FakeClone(base_voice="piper:joe"),
    )


@pytest.fixture
def speech(settings: Settings, db: Database, fakes: Fakes) -> Iterator[SpeechContext]:
    engines = EngineRegistry()
    engines.register_tts("espeak-ng", lambda: fakes.espeak)
    engines.register_tts("piper", lambda: fakes.piper)
    engines.register_asr("faster-whisper-base", lambda: fakes.asr)
    engines.register_asr("faster-whisper-tiny.en", lambda: fakes.asr)
    engines.register_emotion("prosody-heuristic", lambda: fakes.emotion)
    engines.register_clone("world-styling", lambda: fakes.clone)
    context = SpeechContext(settings, db, get_catalog(), engines, get_object_store(settings))
    use_speech_context(context)
    yield context
    use_speech_context(None)


_requests = iter(range(1, 10**9))


def caller_for(user_id: int, *, api_key_id: int | None = None, scopes: set[str] | None = None):
    principal = Principal(
        user_id=user_id,
        email=f"user{user_id}@example.com",
        role="user",
        via="api_key" if api_key_id else "session",
        api_key_id=api_key_id,
        **({"scopes": frozenset(scopes)} if scopes is not None else {}),
    )
    return Caller(principal, request_id=f"req-{next(_requests)}")


def run_jobs(db: Database, settings: Settings) -> None:
    """Run every waiting job to the end, as the in-process worker would."""
    worker = Worker(db, settings)
    while worker.run_once():
        pass


@pytest.fixture
def user_id(db: Database, settings: Settings) -> int:
    return make_user(db, settings, balance_micros=FUNDS)


@pytest.fixture
def caller(user_id: int) -> Callable[[], Caller]:
    """A new caller (a new request id) for each operation, as each door makes one per request."""
    return lambda: caller_for(user_id)
