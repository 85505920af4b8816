"""Bring-your-own-key models through the speech use cases: the caller's stored key (and only
theirs) reaches the provider; without one the answer is seed 001's 403 before any charge."""

from __future__ import annotations

import dataclasses

import pytest

from api import audio
from api.accounts.provider_keys import NO_API_KEY, set_provider_key
from api.billing import ledger
from api.catalog.catalog import Catalog, get_catalog
from api.db import Database
from api.engines.base import Pcm
from api.engines.fakes import tone
from api.engines.hosted import register_hosted
from api.engines.providers import ProviderKeyRejectedError
from api.engines.registry import EngineRegistry
from api.errors import PermissionDeniedError
from api.principal import Principal
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.recognition import RecognitionOrder, recognize
from api.speech.synthesis import SpeechOrder, open_stream, synthesize
from api.storage import get_object_store
from tests.helpers import make_user
from tests.providers.fake_upstream import FakeState
from tests.providers.support import OPERATOR_KEY, USER_KEY, WRONG_USER_KEY

FUNDS = 5_000_000
OWN_KEY_MODELS = ("tts-1", "whisper-1")


def own_key_catalog() -> Catalog:
    """The shipped catalog with tts-1 and whisper-1 on "openai", marked bring-your-own-key."""
    shipped = get_catalog()
    models = [
        dataclasses.replace(model, provider="openai", byok=True)
        if model.id in OWN_KEY_MODELS
        else model
        for model in shipped.models()
    ]
    return Catalog(models, shipped.voices())


@pytest.fixture
def ctx(settings: Settings, db: Database, fake_openai: FakeState) -> SpeechContext:
    # The operator's own key is configured too: it must never be used for these models.
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
    catalog = own_key_catalog()
    engines = EngineRegistry()
    register_hosted(engines, catalog, configured)
    return SpeechContext(configured, db, catalog, engines, get_object_store(configured))


def new_caller(db: Database, settings: Settings) -> Caller:
    user_id = make_user(db, settings, balance_micros=FUNDS)
    return Caller(Principal(user_id, "u@example.com", "user", "session"), f"req-{user_id}")


def store_key(ctx: SpeechContext, caller: Caller, key: str) -> None:
    with ctx.db.write() as session:
        set_provider_key(
            session,
            user_id=caller.user_id,
            provider="openai",
            api_key=key,
            secret_key=ctx.settings.secret_key,
            catalog=ctx.catalog,
        )


def balance(db: Database, caller: Caller) -> int:
    with db.read() as session:
        return ledger.balance_of(session, caller.user_id)


def clip() -> bytes:
    return audio.encode(Pcm(tone(16000 * 2, 16000, 220.0), 16000), "wav")


def test_without_a_key_the_answer_is_403_before_any_charge(
    ctx: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    with pytest.raises(PermissionDeniedError) as refused:
        synthesize(ctx, caller, SpeechOrder("tts-1", "Hello there.", voice="alloy"))
    assert (refused.value.status, refused.value.code) == (403, NO_API_KEY)
    assert "未配置API密钥" in refused.value.message
    with pytest.raises(PermissionDeniedError):
        recognize(ctx, caller, clip(), RecognitionOrder("whisper-1"))
    with pytest.raises(PermissionDeniedError):
        open_stream(ctx, caller, SpeechOrder("tts-1", "Hello.", voice="alloy"))
    assert fake_openai.requests == []  # not even the operator's key was tried
    assert balance(db, caller) == FUNDS
    with db.read() as session:
        assert not ledger.list_entries(session, caller.user_id, kinds=["hold"])[0]


def test_the_callers_own_key_reaches_the_provider(
    ctx: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    store_key(ctx, caller, USER_KEY)
    result = synthesize(ctx, caller, SpeechOrder("tts-1", "Hello there.", voice="echo"))
    assert fake_openai.last("/v1/audio/speech").headers["authorization"] == f"Bearer {USER_KEY}"
    assert audio.decode(result.audio).pcm.duration_ms > 0
    assert balance(db, caller) == FUNDS - result.cost_micros

    recognized = recognize(ctx, caller, clip(), RecognitionOrder("whisper-1"))
    sent = fake_openai.last("/v1/audio/transcriptions")
    assert sent.headers["authorization"] == f"Bearer {USER_KEY}"
    assert recognized.transcript.text


def test_one_users_key_is_never_used_for_another(
    ctx: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    owner, other = new_caller(db, settings), new_caller(db, settings)
    store_key(ctx, owner, USER_KEY)
    with pytest.raises(PermissionDeniedError):
        synthesize(ctx, other, SpeechOrder("tts-1", "Hello.", voice="alloy"))
    assert fake_openai.requests == []


def test_a_rejected_own_key_is_its_own_error_and_costs_nothing(
    ctx: SpeechContext, fake_openai: FakeState, db: Database, settings: Settings
) -> None:
    caller = new_caller(db, settings)
    store_key(ctx, caller, WRONG_USER_KEY)
    with pytest.raises(ProviderKeyRejectedError):
        synthesize(ctx, caller, SpeechOrder("tts-1", "Hello.", voice="alloy"))
    assert balance(db, caller) == FUNDS


def test_a_catalog_without_own_key_models_is_left_as_it_is(
    settings: Settings, db: Database
) -> None:
    plain = SpeechContext(settings, db, get_catalog(), EngineRegistry(), get_object_store(settings))
    assert plain.for_caller(1) is plain
