"""Keys and settings states in-process: another user's ids change nothing, secrets stay out of
state, and the password change keeps this session while ending the others.

The handlers run as Reflex runs them, on a state tree whose websocket carried a real console
session cookie, resolved against the test database. User B sends user A's key ids and provider
names to every handler that takes one.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator

import pytest
from reflex.state import State
from sqlalchemy import select

from api.accounts import provider_keys
from api.accounts.models import ProviderKey
from api.accounts.service import resolve_session
from api.catalog.catalog import Catalog, get_catalog
from api.db import Database
from api.keys.models import ApiKey
from api.keys.service import KeyVerifier
from api.ratelimit import MemoryRateLimiter
from api.security import verify_password
from api.settings import Settings
from console.state import keys as keys_state
from console.state import session as session_state
from console.state import settings as settings_state
from console.state.keys import KeysState, curl_example
from console.state.settings import SettingsState
from tests.console.harness import new_session, state_tree, substate, use_test_database
from tests.helpers import PASSWORD, make_key, make_user

pytestmark = pytest.mark.anyio

PROVIDER_KEY = "sk-my-own-dashscope-key-0000XYZW"


def byok_catalog() -> Catalog:
    shipped = get_catalog()
    models = [
        dataclasses.replace(m, provider="dashscope", byok=True)
        if m.id == "cosyvoice-v3-flash"
        else m
        for m in shipped.models()
    ]
    return Catalog(models, shipped.voices())


@pytest.fixture
def console_env(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the console's process-wide database, settings, limiter and catalog at the test's."""
    limiter = MemoryRateLimiter()
    use_test_database(monkeypatch, db, settings, session_state, keys_state, settings_state)
    monkeypatch.setattr(settings_state, "get_rate_limiter", lambda: limiter)
    monkeypatch.setattr(settings_state, "get_catalog", byok_catalog)
    yield


def signed_in(db: Database, settings: Settings, user_id: int, path: str) -> tuple[State, str]:
    """A state tree whose websocket handshake carried ``user_id``'s session cookie, and the
    session's token."""
    token = new_session(db, settings, user_id)
    return state_tree(token, path, origin="http://localhost:8888"), token


def key_rows(db: Database, user_id: int) -> list[tuple[str, object]]:
    with db.read() as session:
        rows = session.execute(
            select(ApiKey.name, ApiKey.revoked_at).where(ApiKey.user_id == user_id)
        ).all()
    return [(name, revoked) for name, revoked in rows]


def full_create_form(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "expiry": "30", "scope_tts": "on", "scope_asr": "on", **extra}


async def test_create_reveals_once_and_the_list_is_masked(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings)
    root, _ = signed_in(db, settings, alice, "/keys")
    state = substate(root, KeysState)
    await KeysState.load.fn(state)
    assert state.loaded and state.rows == [] and not state.has_keys

    await KeysState.create.fn(state, full_create_form("CI", spend_cap="12.5", rpm="60"))
    plaintext = state.revealed_key
    assert plaintext.startswith("sk-") and state.reveal_open
    assert plaintext in state.revealed_curl and "/tts/v1/audio/speech" in state.revealed_curl
    principal = KeyVerifier(db, settings.secret_key).verify(plaintext)
    assert principal.user_id == alice and principal.scopes == {"tts", "asr"}
    (row,) = state.rows
    assert row["masked"] == f"{plaintext[:5]}…{plaintext[-4:]}"
    assert (row["spend_cap"], row["rpm"], row["status"]) == ("12.50", "60", "active")
    assert row["expires"] != "" and plaintext not in repr(state.rows)

    assert plaintext.encode() in pickle.dumps(state)  # (the check below can see it)
    KeysState.dismiss_reveal.fn(state)
    assert state.revealed_key == "" and not state.reveal_open
    assert plaintext not in state.revealed_curl
    assert plaintext.encode() not in pickle.dumps(state)  # nothing of it is kept


async def test_create_form_errors_are_inline_and_issue_nothing(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings)
    root, _ = signed_in(db, settings, alice, "/keys")
    state = substate(root, KeysState)
    await KeysState.load.fn(state)
    await KeysState.create.fn(state, {"name": " ", "spend_cap": "abc", "rpm": "0"})
    assert state.name_error and state.scopes_error and state.spend_cap_error and state.rpm_error
    assert state.revealed_key == "" and key_rows(db, alice) == []


async def test_user_b_cannot_rename_or_revoke_user_as_key(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice, bob = make_user(db, settings), make_user(db, settings)
    key_id, plaintext = make_key(db, settings, alice)
    root, _ = signed_in(db, settings, bob, "/keys")
    bobs = substate(root, KeysState)
    await KeysState.load.fn(bobs)
    assert bobs.rows == []

    KeysState.start_rename.fn(bobs, str(key_id), "whatever")
    await KeysState.rename.fn(bobs, {"name": "stolen"})
    await KeysState.revoke.fn(bobs, str(key_id))
    for junk in ("", "-1", "1e3", "99999999999999999999", "1; DROP TABLE api_keys", None):
        await KeysState.revoke.fn(bobs, junk)
        KeysState.start_rename.fn(bobs, junk, "x")
        await KeysState.rename.fn(bobs, {"name": "x"})

    assert key_rows(db, alice) == [("test", None)]
    assert KeyVerifier(db, settings.secret_key).verify(plaintext).user_id == alice
    assert bobs.rows == [] and bobs.total == 0


async def test_owner_renames_then_revokes(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, alice)
    root, _ = signed_in(db, settings, alice, "/keys")
    state = substate(root, KeysState)
    await KeysState.load.fn(state)
    KeysState.start_rename.fn(state, str(key_id), "test")
    await KeysState.rename.fn(state, {"name": "  Renamed  "})
    assert state.rename_id == "" and state.rows[0]["name"] == "Renamed"
    await KeysState.revoke.fn(state, str(key_id))
    assert state.rows[0]["status"] == "revoked"
    ((name, revoked),) = key_rows(db, alice)
    assert name == "Renamed" and revoked is not None


async def test_signed_out_handlers_do_nothing(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings)
    key_id, _ = make_key(db, settings, alice)
    root = State(_reflex_internal_init=True)  # no cookie at all
    state = substate(root, KeysState)
    await KeysState.revoke.fn(state, str(key_id))
    await KeysState.create.fn(state, full_create_form("nope"))
    assert key_rows(db, alice) == [("test", None)]


def test_curl_example_is_seed_000s_request() -> None:
    text = curl_example("http://localhost:8888", "sk-abc")
    assert text.startswith("curl -X POST http://localhost:8888/tts/v1/audio/speech")
    assert '"model": "Qwen3-TTS"' in text and "X-API-Key: sk-abc" in text


# --- settings ------------------------------------------------------------------------------


async def test_password_change_keeps_this_session_and_ends_the_others(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings, email="alice@example.com")
    root, here = signed_in(db, settings, alice, "/settings")
    _, elsewhere = signed_in(db, settings, alice, "/settings")
    state = substate(root, SettingsState)
    await SettingsState.load.fn(state)
    assert state.email == "alice@example.com" and state.loaded

    async def submit(form: dict[str, str]) -> None:
        async for _ in SettingsState.change_password.fn(state, form):
            pass

    await submit({"current_password": "wrong one!", "new_password": "n", "confirm_password": "m"})
    assert state.new_error or state.confirm_error
    await submit(
        {
            "current_password": "not my password",
            "new_password": "a brand new phrase",
            "confirm_password": "a brand new phrase",
        }
    )
    assert state.current_error and resolve_session(db, settings, elsewhere) is not None

    await submit(
        {
            "current_password": PASSWORD,
            "new_password": "a brand new phrase",
            "confirm_password": "a brand new phrase",
        }
    )
    assert not (state.current_error or state.new_error or state.confirm_error or state.form_error)
    assert resolve_session(db, settings, here) is not None
    assert resolve_session(db, settings, elsewhere) is None
    with db.read() as session:
        from api.accounts.models import User

        user = session.get(User, alice)
        assert user is not None and verify_password("a brand new phrase", user.password_hash)[0]
    assert b"a brand new phrase" not in pickle.dumps(state)


async def test_provider_keys_are_sealed_and_never_shown_back(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice, bob = make_user(db, settings), make_user(db, settings)
    root, _ = signed_in(db, settings, alice, "/settings")
    state = substate(root, SettingsState)
    await SettingsState.load.fn(state)
    (row,) = state.providers
    assert row["provider"] == "dashscope" and row["is_set"] == ""

    async def save(provider: str, api_key: str) -> None:
        await SettingsState.save_provider_key.fn(state, {"provider": provider, "api_key": api_key})

    await save("dashscope", "bad key")
    assert state.key_errors.get("dashscope")
    await save("fish", PROVIDER_KEY)  # no own-key model of that provider: ignored
    await save("dashscope", PROVIDER_KEY)
    (row,) = state.providers
    assert (row["is_set"], row["last4"]) == ("1", "XYZW") and not state.key_errors
    assert PROVIDER_KEY.encode() not in pickle.dumps(state)
    with db.read() as session:
        stored = session.execute(select(ProviderKey.provider, ProviderKey.sealed)).all()
        assert [p for p, _ in stored] == ["dashscope"]
        assert all(PROVIDER_KEY not in sealed for _, sealed in stored)
        assert (
            provider_keys.provider_key_for(
                session, user_id=alice, provider="dashscope", secret_key=settings.secret_key
            )
            == PROVIDER_KEY
        )

    # Bob removing "dashscope" removes his own (none), never Alice's.
    bobs_root, _ = signed_in(db, settings, bob, "/settings")
    bobs = substate(bobs_root, SettingsState)
    await SettingsState.load.fn(bobs)
    assert bobs.providers[0]["is_set"] == ""
    await SettingsState.remove_provider_key.fn(bobs, "dashscope")
    with db.read() as session:
        assert provider_keys.list_provider_keys(session, alice)[0].last4 == "XYZW"

    await SettingsState.remove_provider_key.fn(state, "dashscope")
    assert state.providers[0]["is_set"] == ""
