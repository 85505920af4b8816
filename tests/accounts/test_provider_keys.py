"""Users' own provider keys: stored sealed, bound to their owner, never listed back."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select, update

from api.accounts import provider_keys
from api.accounts.models import ProviderKey
from api.catalog.catalog import Catalog, get_catalog
from api.db import Database
from api.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from api.security import seal, unseal
from api.settings import Settings
from tests.helpers import make_user

KEY = "sk-dashscope-0123456789abcdefWXYZ"


def byok_catalog() -> Catalog:
    """cosyvoice-v3-flash and qwen3-asr-flash on DashScope with the user's own key."""
    shipped = get_catalog()
    marked = {"cosyvoice-v3-flash", "qwen3-asr-flash"}
    models = [
        dataclasses.replace(m, provider="dashscope", byok=True) if m.id in marked else m
        for m in shipped.models()
    ]
    return Catalog(models, shipped.voices())


def put(db: Database, settings: Settings, user_id: int, key: str = KEY, provider="dashscope"):
    with db.write() as session:
        return provider_keys.set_provider_key(
            session,
            user_id=user_id,
            provider=provider,
            api_key=key,
            secret_key=settings.secret_key,
            catalog=byok_catalog(),
        )


def read_key(db: Database, settings: Settings, user_id: int) -> str | None:
    with db.read() as session:
        return provider_keys.provider_key_for(
            session, user_id=user_id, provider="dashscope", secret_key=settings.secret_key
        )


def test_byok_providers_come_from_the_catalog() -> None:
    assert provider_keys.byok_providers(get_catalog()) == []
    (entry,) = provider_keys.byok_providers(byok_catalog())
    assert entry.provider == "dashscope"
    assert set(entry.model_ids) == {"cosyvoice-v3-flash", "qwen3-asr-flash"}


def test_set_list_replace_and_remove(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    info = put(db, settings, user, f"  {KEY} ")
    assert (info.provider, info.last4) == ("dashscope", "WXYZ")
    assert read_key(db, settings, user) == KEY  # trimmed

    put(db, settings, user, "sk-another-key-00000000000009876")
    with db.read() as session:
        listed = provider_keys.list_provider_keys(session, user)
    assert [(i.provider, i.last4) for i in listed] == [("dashscope", "9876")]
    assert read_key(db, settings, user) == "sk-another-key-00000000000009876"

    with db.write() as session:
        provider_keys.remove_provider_key(session, user_id=user, provider="dashscope")
    assert read_key(db, settings, user) is None
    with db.write() as session, pytest.raises(NotFoundError):
        provider_keys.remove_provider_key(session, user_id=user, provider="dashscope")


def test_require_answers_seed_001s_403(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    with db.read() as session, pytest.raises(PermissionDeniedError) as refused:
        provider_keys.require_provider_key(
            session, user_id=user, provider="dashscope", secret_key=settings.secret_key
        )
    assert refused.value.code == "NO_API_KEY"


@pytest.mark.parametrize(
    "bad", ["", "short", "has space inside 12345", "ключ-1234567890", "x" * 600]
)
def test_bad_keys_are_refused(db: Database, settings: Settings, bad: str) -> None:
    user = make_user(db, settings)
    with pytest.raises(InvalidInputError):
        put(db, settings, user, bad)
    assert read_key(db, settings, user) is None


def test_only_providers_with_own_key_models_take_a_key(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    with pytest.raises(InvalidInputError):
        put(db, settings, user, provider="fish")


def test_the_database_holds_no_plaintext(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    put(db, settings, user)
    with db.read() as session:
        row = session.execute(select(ProviderKey)).scalar_one()
    assert KEY not in row.sealed and KEY[3:20] not in row.sealed
    assert row.sealed.startswith("v1.") and row.last4 == "WXYZ"


def test_a_sealed_key_moved_to_another_user_does_not_open(db: Database, settings: Settings) -> None:
    owner, thief = make_user(db, settings), make_user(db, settings)
    put(db, settings, owner)
    put(db, settings, thief, "sk-thief-own-key-0000000000000000")
    with db.write() as session:
        sealed = session.execute(
            select(ProviderKey.sealed).where(ProviderKey.user_id == owner)
        ).scalar_one()
        session.execute(
            update(ProviderKey).where(ProviderKey.user_id == thief).values(sealed=sealed)
        )
    assert read_key(db, settings, thief) is None
    assert read_key(db, settings, owner) == KEY


def test_another_server_secret_cannot_open_it(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    put(db, settings, user)
    other = settings.model_copy(update={"secret_key": "a-different-secret-key-entirely"})
    assert read_key(db, other, user) is None


def test_seal_round_trip_and_tampering() -> None:
    sealed = seal("server-secret-long-enough", "plain", context="a")
    assert sealed != seal("server-secret-long-enough", "plain", context="a")  # fresh nonce
    assert unseal("server-secret-long-enough", sealed, context="a") == "plain"
    for secret, context, value in [
        ("server-secret-long-enough", "b", sealed),
        ("another-secret-long-enough", "a", sealed),
        ("server-secret-long-enough", "a", sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + "="),
        ("server-secret-long-enough", "a", "plain"),
    ]:
        with pytest.raises(ValueError):
            unseal(secret, value, context=context)
