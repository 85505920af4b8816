"""Admin, dashboard, API guide and sign-up states in-process, as Reflex runs their handlers.

Each tree's websocket handshake carries a real console session cookie, resolved against a test
database. A normal user calling every admin handler (even with a forged backend var) changes
and learns nothing; each user's dashboard and guide show only their own figures and key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from reflex.state import State
from sqlalchemy import func, select

from api.accounts.service import set_role
from api.billing import ledger
from api.billing.models import RedemptionCode
from api.db import Database, utcnow
from api.history import service as history
from api.keys.service import revoke_key
from api.settings import Settings
from console.i18n import LocaleState
from console.state import admin as admin_state
from console.state import dashboard as dashboard_state
from console.state import developers as developers_state
from console.state import session as session_state
from console.state.admin import AdminState
from console.state.auth import PASSWORDS_DIFFER, AuthState
from console.state.dashboard import DashboardState
from console.state.developers import DevelopersState
from tests.console.harness import signed_in_tree, use_test_database
from tests.helpers import make_key, make_user

pytestmark = pytest.mark.anyio

YUAN = 1_000_000


@pytest.fixture
def console_env(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The console's process-wide database and settings are the test's."""
    use_test_database(
        monkeypatch, db, settings, session_state, admin_state, dashboard_state, developers_state
    )
    yield


def _tree(db: Database, settings: Settings, user_id: int | None) -> State:
    """A state tree whose handshake carried ``user_id``'s session cookie (None: no session)."""
    return signed_in_tree(db, settings, user_id, "/dashboard", origin="http://console.test:8888")


async def _state(root: State, cls: type, *, lang: str = "en") -> Any:
    """``cls``'s state in the tree, for a visitor who chose ``lang``."""
    (await root.get_state(LocaleState)).chosen = lang
    return await root.get_state(cls)


def _balance(db: Database, user_id: int) -> int:
    with db.read() as session:
        return ledger.balance_of(session, user_id)


def _code_count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(RedemptionCode)).scalar_one())


async def test_admin_handlers_do_nothing_for_a_normal_user(
    db: Database, settings: Settings, console_env: None
) -> None:
    victim = make_user(db, settings, email="victim@example.com", balance_micros=50 * YUAN)
    mallory = make_user(db, settings, email="mallory@example.com", balance_micros=1 * YUAN)
    admin = await _state(_tree(db, settings, mallory), AdminState)

    answer = await admin.load()
    assert admin.loaded is False and admin.accounts == [] and admin.catalog == []
    assert "/dashboard" in str(answer)

    # Forge what the dialog would have set, then call every handler with crafted values.
    admin._credit_user_id = mallory
    await admin.open_credit(str(victim))
    assert admin.credit_email == ""
    await admin.change_credit({"amount": "1000", "note": "free money"})
    await admin.create_codes({"amount": "1000", "count": "5"})
    await admin.search({"query": "victim"})
    await admin.next_page()
    await admin.dismiss_codes()
    await admin.set_credit_open(True)

    assert _balance(db, mallory) == 1 * YUAN and _balance(db, victim) == 50 * YUAN
    assert _code_count(db) == 0
    assert admin.accounts == [] and admin.minted_codes == [] and admin.credit_email == ""

    # Signed out entirely: the same.
    anonymous = await _state(_tree(db, settings, None), AdminState)
    anonymous._credit_user_id = victim
    await anonymous.change_credit({"amount": "1000", "note": "x"})
    await anonymous.create_codes({"amount": "1000", "count": "5"})
    assert _balance(db, victim) == 50 * YUAN and _code_count(db) == 0


async def test_an_admin_lists_credits_and_mints(
    db: Database, settings: Settings, console_env: None
) -> None:
    boss = make_user(db, settings, email="boss@example.com")
    member = make_user(db, settings, email="member@example.com", balance_micros=5 * YUAN)
    with db.write() as session:
        set_role(session, user_id=boss, role="admin")
    admin = await _state(_tree(db, settings, boss), AdminState)

    assert await admin.load() is None
    assert admin.loaded and {row["email"] for row in admin.accounts} == {
        "boss@example.com",
        "member@example.com",
    }
    assert any(row["id"] == "Qwen3-TTS" for row in admin.catalog)
    assert admin.healthy_models > 0

    await admin.search({"query": "memb"})
    assert [row["email"] for row in admin.accounts] == ["member@example.com"]

    await admin.open_credit(str(member))
    assert admin.credit_open and admin.credit_email == "member@example.com"
    await admin.change_credit({"amount": "2.5", "note": ""})
    assert admin.credit_error and _balance(db, member) == 5 * YUAN  # a note is required
    await admin.change_credit({"amount": "-9", "note": "too much"})
    assert "below zero" in admin.credit_error and _balance(db, member) == 5 * YUAN
    await admin.change_credit({"amount": "2.5", "note": "goodwill"})
    assert _balance(db, member) == 7_500_000 and not admin.credit_open
    assert admin.accounts[0]["balance"] == "7.5000"
    with db.read() as session:
        (entry,), _ = ledger.list_entries(session, member, kinds=["grant"], limit=1)
    assert (entry.note, entry.actor_user_id) == ("goodwill", boss)

    await admin.create_codes({"amount": "20", "count": "3", "batch": "launch"})
    assert len(admin.minted_codes) == 3 and admin.minted_amount == "20.0000"
    assert admin.minted_text.count("AMP-") == 3 and _code_count(db) == 3
    await admin.create_codes({"amount": "20", "count": "0"})
    assert admin.codes_error and _code_count(db) == 3
    await admin.dismiss_codes()
    assert admin.minted_codes == []


async def test_a_demoted_admin_loses_the_page_at_the_next_event(
    db: Database, settings: Settings, console_env: None
) -> None:
    boss = make_user(db, settings, email="boss@example.com", role="admin")
    member = make_user(db, settings, email="member@example.com", balance_micros=5 * YUAN)
    admin = await _state(_tree(db, settings, boss), AdminState)
    await admin.load()
    await admin.open_credit(str(member))
    with db.write() as session:
        set_role(session, user_id=boss, role="user")
    await admin.change_credit({"amount": "100", "note": "one last grant"})
    assert _balance(db, member) == 5 * YUAN
    assert admin.accounts == [] and admin.loaded is False


async def test_each_dashboard_shows_its_own_user_only(
    db: Database, settings: Settings, console_env: None
) -> None:
    alice = make_user(db, settings, email="alice@example.com", balance_micros=9 * YUAN)
    bob = make_user(db, settings, email="bob@example.com")
    with db.write() as session:
        for _ in range(3):
            history.record(
                session, user_id=alice, type="tts", model="Qwen3-TTS", characters=12,
                cost_micros=10_000,
            )  # fmt: skip
        history.record(
            session, user_id=alice, type="asr", model="whisper-1", duration_ms=2500,
            cost_micros=5_000,
        )  # fmt: skip

    mine = await _state(_tree(db, settings, alice), DashboardState)
    await mine.load()
    assert mine.balance == "9.0000" and mine.balance_low
    assert mine.month_calls == 4 and mine.month_spend == "0.0350"
    assert len(mine.recent) == 4 and mine.recent[0]["type"] == "asr"
    assert mine.recent[0]["amount"] == "2.5" and mine.recent[1]["amount"] == "12"
    assert len(mine.usage) == dashboard_state.CHART_DAYS and mine.has_usage
    assert mine.usage[-1]["calls"] == 4 and mine.usage[-1]["characters"] == 36

    theirs = await _state(_tree(db, settings, bob), DashboardState)
    await theirs.load()
    assert theirs.balance == "100.0000" and not theirs.balance_low
    assert theirs.month_calls == 0 and theirs.recent == [] and not theirs.has_usage


def test_usage_series_fills_quiet_days_with_zeros() -> None:
    start = utcnow() - timedelta(days=2)
    rows = [history.UsageRow(start.date().isoformat(), "tts", 2, 30, 0, 20_000)]
    series = dashboard_state._usage_by_day(rows, start, 3)
    assert [point["calls"] for point in series] == [2, 0, 0]
    assert series[0]["day"] == start.date().isoformat()[5:]


async def test_the_guide_names_only_the_visitors_own_newest_live_key(
    db: Database, settings: Settings, console_env: None
) -> None:
    alice = make_user(db, settings, email="alice@example.com")
    bob = make_user(db, settings, email="bob@example.com")
    _, first = make_key(db, settings, alice)
    revoked_id, revoked = make_key(db, settings, alice)
    with db.write() as session:
        revoke_key(session, user_id=alice, key_id=revoked_id)

    guide = await _state(_tree(db, settings, alice), DevelopersState)
    await guide.load()
    assert guide.key_hint == f"{first[:5]}…{first[-4:]}"
    assert guide.base_url == "http://console.test:8888"
    assert all(guide.base_url in text for text in guide.examples.values())
    assert guide.key_hint in guide.examples["amphion_curl"]
    assert revoked[-4:] not in "".join(guide.examples.values())

    other = await _state(_tree(db, settings, bob), DevelopersState)
    await other.load()
    assert other.key_hint == "" and not other.has_key
    assert first[-4:] not in "".join(other.examples.values())
    assert developers_state.PLACEHOLDER_KEY in other.examples["fish_curl"]


async def test_the_guide_prefers_the_configured_public_address(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, console_env: None
) -> None:
    public = settings.model_copy(update={"public_base_url": "https://voice.example.com/"})
    monkeypatch.setattr(developers_state, "get_settings", lambda: public)
    user = make_user(db, settings)
    guide = await _state(_tree(db, settings, user), DevelopersState)
    await guide.load()
    assert guide.base_url == "https://voice.example.com"
    assert '"https://voice.example.com/v1/audio/speech"' in guide.examples["openai_python"]


async def test_sign_up_checks_each_field_when_left(db: Database, settings: Settings) -> None:
    auth = await _state(_tree(db, settings, None), AuthState)

    await auth.check_email("not-an-address")
    assert auth.email_error == "Enter a valid e-mail address."
    await auth.check_email("me@example.com")
    assert auth.email_error == ""

    await auth.check_password("short")
    assert "at least 8" in auth.password_error and auth.password_ok == ""
    await auth.check_password("password123")
    assert "too common" in auth.password_error
    await auth.check_password("someone-else", "someone-else@example.com")
    assert "e-mail" in auth.password_error
    await auth.check_password("violet-harbor-lantern-42", "me@example.com")
    assert auth.password_error == "" and auth.password_ok

    await auth.check_confirmation("violet-harbor-lantern-41", "violet-harbor-lantern-42")
    assert auth.confirm_error == PASSWORDS_DIFFER[0]
    await auth.check_confirmation("violet-harbor-lantern-42", "violet-harbor-lantern-42")
    assert auth.confirm_error == ""
    # Only verdicts are kept: no field of the state holds what was typed.
    assert "violet" not in repr(auth.dict())


async def test_sign_up_checks_speak_chinese(db: Database, settings: Settings) -> None:
    auth = await _state(_tree(db, settings, None), AuthState, lang="zh")
    await auth.check_email("nope")
    await auth.check_password("password")
    await auth.check_confirmation("a", "b")
    assert auth.email_error == "请输入有效的电子邮箱地址。"
    assert auth.password_error == "这个密码太常见了，请换一个不易被猜到的密码。"
    assert auth.confirm_error == PASSWORDS_DIFFER[1]


@pytest.mark.parametrize(
    ("password", "email"),
    [
        ("short", ""),
        ("x" * 1025, ""),
        ("password", ""),
        ("someone-else", "someone-else@example.com"),
    ],
)
def test_every_password_rule_reads_in_chinese(password: str, email: str) -> None:
    from api.errors import InvalidInputError
    from api.security import check_password_policy
    from console.state.auth import describe

    with pytest.raises(InvalidInputError) as caught:
        check_password_policy(password, email=email)
    english, chinese = describe(caught.value, "en"), describe(caught.value, "zh")
    assert english != chinese and re.search(r"[\u4e00-\u9fff]", chinese)
