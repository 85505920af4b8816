"""Catalog models routed to a hosted provider, through the speech use cases, against the fake
OpenAI-compatible server: audio and transcripts come from upstream, money moves only on success,
an unconfigured provider is a 503 and no key ever reaches a log."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from api import audio
from api.billing import ledger
from api.catalog.catalog import Catalog, get_catalog
from api.db import Database
from api.engines.base import Pcm
from api.engines.fakes import tone
from api.engines.hosted import register_hosted
from api.engines.registry import EngineRegistry
from api.errors import ServiceUnavailableError, UpstreamError
from api.principal import Principal
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.recognition import RecognitionOrder, recognize
from api.speech.synthesis import SpeechOrder, synthesize
from api.storage import get_object_store
from tests.helpers import make_user
from tests.providers.fake_openai import TRANSCRIPT
from tests.providers.fake_upstream import FakeState
from tests.providers.support import OPERATOR_KEY

FUNDS = 5_000_000
HOSTED = ("tts-1", "whisper-1")


def hosted_catalog() -> Catalog:
    """The shipped catalog with tts-1 and whisper-1 switched to the "openai" provider."""
    shipped = get_catalog()
    models = [
        dataclasses.replace(model, provider="openai") if model.id in HOSTED else model
        for model in shipped.models()
    ]
    return Catalog(models, shipped.voices())


def context_for(settings: Settings, db: Database) -> SpeechContext:
    catalog = hosted_catalog()
    engines = EngineRegistry()
    register_hosted(engines, catalog, settings)
    return SpeechContext(settings, db, catalog, engines, get_object_store(settings))


@pytest.fixture
def hosted(settings: Settings, db: Database, fake_openai: FakeState) -> Iterator[SpeechContext]:
    configured = settings.model_copy(
        update={
            "providers": {
                "openai": {
                    "base_url": fake_openai.base_url + "/v1",
                    "api_key": OPERATOR_KEY,
                    "total_timeout": 5.0,
                    "read_timeout": 1.0,
                }
            }
        }
    )
    yield context_for(configured, db)


def new_caller(db: Database, settings: Settings) -> Caller:
    user_id = make_user(db, settings, balance_micros=FUNDS)
    return Caller(Principal(user_id, "u@example.com", "user", "session"), f"req-{user_id}")


def balance(db: Database, caller: Caller) -> int:
    with db.read() as session:
        return ledger.balance_of(session, caller.user_id)


def test_a_hosted_model_speaks_with_the_providers_voice_and_is_charged(
    hosted: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    result = synthesize(hosted, caller, SpeechOrder("tts-1", "Hello there.", voice="echo"))
    sent = fake_openai.last("/v1/audio/speech")
    assert sent.body["voice"] == "echo" and sent.body["model"] == "tts-1"
    assert sent.headers["authorization"] == f"Bearer {OPERATOR_KEY}"
    assert audio.decode(result.audio).pcm.duration_ms > 0
    assert result.cost_micros > 0 and balance(db, caller) == FUNDS - result.cost_micros


def test_an_upstream_failure_costs_nothing(
    hosted: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    fake_openai.fault = "500"
    with pytest.raises(UpstreamError) as failed:
        synthesize(hosted, caller, SpeechOrder("tts-1", "Hello there.", voice="alloy"))
    assert failed.value.status == 502
    assert balance(db, caller) == FUNDS


def test_a_hosted_recogniser_transcribes(
    hosted: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    clip = audio.encode(Pcm(tone(16000 * 2, 16000, 220.0), 16000), "wav")
    result = recognize(hosted, caller, clip, RecognitionOrder("whisper-1"))
    assert result.transcript.text == TRANSCRIPT
    assert fake_openai.last("/v1/audio/transcriptions")
    assert balance(db, caller) == FUNDS - result.cost_micros


def test_an_unconfigured_provider_is_a_503_before_any_charge(
    settings: Settings, db: Database
) -> None:
    unconfigured = context_for(settings, db)  # no AMPHION_PROVIDERS at all
    caller = new_caller(db, settings)
    with pytest.raises(ServiceUnavailableError):
        synthesize(unconfigured, caller, SpeechOrder("tts-1", "Hello.", voice="alloy"))
    silence = audio.encode(Pcm(np.zeros(16000, np.int16), 16000), "wav")
    with pytest.raises(ServiceUnavailableError):
        recognize(unconfigured, caller, silence, RecognitionOrder("whisper-1"))
    assert balance(db, caller) == FUNDS
    with db.read() as session:
        assert not ledger.list_entries(session, caller.user_id, kinds=["hold"])[0]


def test_offline_models_are_not_routed_anywhere(settings: Settings, db: Database) -> None:
    context = context_for(settings, db)
    assert set(context.engines.names()) == {"openai:tts-1", "openai:whisper-1"}
    assert get_catalog().model("tts-1").engine_name == "offline-tts"
