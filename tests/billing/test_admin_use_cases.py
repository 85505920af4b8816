"""Operator use cases (api.billing.admin): only admin sessions may list, credit or mint."""

from __future__ import annotations

import pytest

from api.billing import admin, codes, ledger
from api.db import Database
from api.errors import InsufficientBalanceError, NotFoundError, PermissionDeniedError
from api.principal import Principal
from api.settings import Settings
from tests.helpers import make_user


def _principal(user_id: int, email: str, role: str, via: str = "session") -> Principal:
    return Principal(user_id=user_id, email=email, role=role, via=via)  # type: ignore[arg-type]


@pytest.fixture
def people(any_db: Database, settings: Settings) -> tuple[Principal, Principal]:
    boss = make_user(any_db, settings, email="boss@example.com", role="admin")
    member = make_user(any_db, settings, email="member@example.com", balance_micros=5_000_000)
    return (
        _principal(boss, "boss@example.com", "admin"),
        _principal(member, "member@example.com", "user"),
    )


def test_grant_and_adjust_record_the_admin_and_the_note(
    any_db: Database, people: tuple[Principal, Principal]
) -> None:
    boss, member = people
    with any_db.write() as session:
        granted = admin.change_credit(
            session, boss, email="MEMBER@example.com ", amount_micros=2_500_000, note=" refund "
        )
        taken = admin.change_credit(
            session, boss, email="member@example.com", amount_micros=-1_000_000, note="typo fix"
        )
    assert (granted.kind, granted.amount_micros, granted.balance_after_micros) == (
        "grant",
        2_500_000,
        7_500_000,
    )
    assert granted.note == "refund" and granted.email == "member@example.com"
    assert (taken.kind, taken.balance_after_micros) == ("adjustment", 6_500_000)
    with any_db.read() as session:
        entries, _ = ledger.list_entries(session, member.user_id, kinds=["grant", "adjustment"])
    assert {(e.kind, e.actor_user_id, e.note) for e in entries if e.actor_user_id} == {
        ("grant", boss.user_id, "refund"),
        ("adjustment", boss.user_id, "typo fix"),
    }


def test_an_adjustment_never_takes_a_balance_below_zero(
    any_db: Database, people: tuple[Principal, Principal]
) -> None:
    boss, member = people
    with pytest.raises(InsufficientBalanceError), any_db.write() as session:
        admin.change_credit(
            session, boss, email=member.email, amount_micros=-6_000_000, note="too much"
        )
    with any_db.read() as session:
        assert ledger.balance_of(session, member.user_id) == 5_000_000


def test_unknown_accounts_are_not_found(
    any_db: Database, people: tuple[Principal, Principal]
) -> None:
    boss, _ = people
    with pytest.raises(NotFoundError), any_db.write() as session:
        admin.change_credit(session, boss, email="ghost@example.com", amount_micros=1, note="x")


@pytest.mark.parametrize("via", ["session", "api_key"])
def test_nobody_but_an_admin_session_may_act(
    any_db: Database, settings: Settings, people: tuple[Principal, Principal], via: str
) -> None:
    boss, member = people
    callers = [_principal(member.user_id, member.email, "user", via)]
    if via == "api_key":  # an admin's API key is not an admin session
        callers.append(_principal(boss.user_id, boss.email, "admin", via))
    for caller in callers:
        with pytest.raises(PermissionDeniedError), any_db.write() as session:
            admin.change_credit(
                session, caller, email=member.email, amount_micros=10**9, note="free money"
            )
        with pytest.raises(PermissionDeniedError), any_db.write() as session:
            admin.mint_codes(
                session, caller, amount_micros=10**9, count=1, secret_key=settings.secret_key
            )
        with pytest.raises(PermissionDeniedError), any_db.read() as session:
            admin.list_accounts(session, caller)
    with any_db.read() as session:
        assert ledger.balance_of(session, member.user_id) == 5_000_000


def test_listing_searches_by_e_mail_and_caps_the_page(
    any_db: Database, settings: Settings, people: tuple[Principal, Principal]
) -> None:
    boss, _ = people
    with any_db.read() as session:
        found, total = admin.list_accounts(session, boss, query=" MEMBER ")
        everyone, all_total = admin.list_accounts(session, boss, limit=10_000)
    assert [user.email for user in found] == ["member@example.com"] and total == 1
    assert all_total == 2 and len(everyone) == 2


def test_minted_codes_are_redeemable_once(
    any_db: Database, settings: Settings, people: tuple[Principal, Principal]
) -> None:
    boss, member = people
    with any_db.write() as session:
        minted = admin.mint_codes(
            session, boss, amount_micros=3_000_000, count=2, secret_key=settings.secret_key
        )
    assert len(set(minted)) == 2
    with any_db.write() as session:
        entry = codes.redeem(
            session, user_id=member.user_id, code=minted[0], secret_key=settings.secret_key
        )
    assert entry.balance_after_micros == 8_000_000
