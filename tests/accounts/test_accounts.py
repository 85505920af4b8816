"""Accounts: the one welcome bonus, password rules, no enumeration, sessions and their expiry."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from api.accounts import service as accounts
from api.accounts.models import ConsoleSession, User
from api.billing.models import LedgerEntry
from api.db import Database, utcnow
from api.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    RateLimitedError,
)
from api.ratelimit import MemoryRateLimiter, RateLimiter
from api.security import verify_password
from api.settings import Settings
from tests.helpers import PASSWORD


def sign_up(db: Database, settings: Settings, email: str, ip: str = "10.0.0.1"):
    return accounts.sign_up(
        db, MemoryRateLimiter(), settings, email=email, password=PASSWORD, ip=ip
    )


def test_sign_up_grants_exactly_one_bonus(db: Database, settings: Settings) -> None:
    signed = sign_up(db, settings, "  New.User@Example.com ")
    assert signed.user.email == "new.user@example.com"
    assert signed.user.balance_micros == 100_000_000
    with db.read() as session:
        kinds = session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_micros).where(
                LedgerEntry.user_id == signed.user.id
            )
        ).all()
    assert kinds == [("signup_bonus", 100_000_000)]
    assert signed.user.password_hash.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in signed.user.password_hash


def test_20_concurrent_sign_ups_of_one_email(any_db: Database, settings: Settings) -> None:
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            accounts.sign_up(
                any_db,
                MemoryRateLimiter(),
                settings,
                email="race@example.com",
                password=PASSWORD,
                ip=f"10.0.0.{index}",
            )
            outcomes.append("created")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count("created") == 1 and outcomes.count("conflict") == 19
    with any_db.read() as session:
        users = session.execute(select(func.count()).select_from(User)).scalar_one()
        bonuses = session.execute(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "signup_bonus")
        ).scalar_one()
        balance = session.execute(select(User.balance_micros)).scalar_one()
    assert (users, bonuses, balance) == (1, 1, 100_000_000)


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "qwertyuiop", "aaaaaaaaaaaa", "x" * 1025, "user@example.com"],
)
def test_weak_passwords_are_refused(db: Database, settings: Settings, password: str) -> None:
    with pytest.raises(InvalidInputError):
        accounts.sign_up(
            db, MemoryRateLimiter(), settings, email="user@example.com", password=password
        )


def test_long_passwords_are_verified_exactly(db: Database, settings: Settings) -> None:
    password = "ü-" + "correct horse battery staple " * 4  # > 72 bytes: no bcrypt truncation
    accounts.register_user(db, settings, email="long@example.com", password=password)
    limiter = MemoryRateLimiter()
    user = accounts.authenticate(
        db, limiter, settings, email="long@example.com", password=password, ip="1"
    )
    assert user.email == "long@example.com"
    with pytest.raises(AuthenticationError):
        accounts.authenticate(
            db, limiter, settings, email="long@example.com", password=password[:72], ip="1"
        )
    with pytest.raises(AuthenticationError):
        accounts.authenticate(
            db, limiter, settings, email="long@example.com", password=password.upper(), ip="1"
        )


@pytest.mark.parametrize("email", ["nobody", "a@b", "a b@example.com", "x" * 300 + "@e.com"])
def test_bad_emails_are_refused(db: Database, settings: Settings, email: str) -> None:
    with pytest.raises(InvalidInputError):
        sign_up(db, settings, email)


def test_no_enumeration_same_error_and_similar_time(db: Database, settings: Settings) -> None:
    accounts.register_user(db, settings, email="known@example.com", password=PASSWORD)
    roomy = settings.model_copy(update={"signin_limit_per_15min": 10_000})
    limiter = MemoryRateLimiter()

    def timed(email: str) -> tuple[str, float]:
        start = time.perf_counter()
        with pytest.raises(AuthenticationError) as caught:
            accounts.authenticate(
                db, limiter, roomy, email=email, password="wrong password here", ip="1"
            )
        return caught.value.message, time.perf_counter() - start

    known = [timed("known@example.com") for _ in range(25)]
    unknown = [timed("unknown@example.com") for _ in range(25)]
    assert {m for m, _ in known} == {m for m, _ in unknown} == {accounts.INVALID_CREDENTIALS}
    gap = abs(statistics.median(t for _, t in known) - statistics.median(t for _, t in unknown))
    assert gap < 0.02


def test_failed_sign_ins_are_throttled_per_ip(db: Database, settings: Settings) -> None:
    accounts.register_user(db, settings, email="victim@example.com", password=PASSWORD)
    limiter = MemoryRateLimiter()
    for _ in range(settings.signin_limit_per_15min):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(
                db, limiter, settings, email="other@example.com", password="nope nope", ip="6.6.6.6"
            )
    with pytest.raises(RateLimitedError) as caught:
        accounts.authenticate(
            db, limiter, settings, email="victim@example.com", password=PASSWORD, ip="6.6.6.6"
        )
    assert caught.value.retry_after >= 1
    # The real owner, from another address, still gets in.
    accounts.authenticate(
        db, limiter, settings, email="victim@example.com", password=PASSWORD, ip="7.7.7.7"
    )


def test_sign_ups_are_throttled_per_ip(db: Database, settings: Settings, limiter: RateLimiter):
    for index in range(settings.signup_limit_per_hour):
        accounts.sign_up(
            db, limiter, settings, email=f"farm{index}@example.com", password=PASSWORD, ip="9.9.9.9"
        )
    with pytest.raises(RateLimitedError):
        accounts.sign_up(
            db, limiter, settings, email="farm-last@example.com", password=PASSWORD, ip="9.9.9.9"
        )


def test_sessions_rotate_at_sign_in_and_die_at_sign_out(any_db: Database, settings: Settings):
    db = any_db  # SQLite and PostgreSQL: the session is read on the bare driver
    first = sign_up(db, settings, "rotate@example.com")
    principal = accounts.resolve_session(db, settings, first.token)
    assert principal is not None and principal.user_id == first.user.id
    assert (principal.email, principal.role, principal.via) == (
        "rotate@example.com",
        first.user.role,
        "session",
    )
    second = accounts.sign_in(
        db,
        MemoryRateLimiter(),
        settings,
        email="rotate@example.com",
        password=PASSWORD,
        previous_token=first.token,
    )
    assert second.token != first.token
    assert accounts.resolve_session(db, settings, first.token) is None
    assert accounts.resolve_session(db, settings, second.token) is not None
    accounts.sign_out(db, settings, second.token)
    assert accounts.resolve_session(db, settings, second.token) is None


def _age_session(db: Database, token_owner: int, **changes: object) -> None:
    with db.write() as session:
        session.execute(
            update(ConsoleSession).where(ConsoleSession.user_id == token_owner).values(**changes)
        )


def test_idle_and_absolute_expiry(any_db: Database, settings: Settings) -> None:
    db = any_db  # SQLite and PostgreSQL: the session is read on the bare driver
    signed = sign_up(db, settings, "expiry@example.com")
    idle = timedelta(minutes=settings.session_idle_minutes + 1)
    _age_session(db, signed.user.id, last_seen_at=utcnow() - idle)
    assert accounts.resolve_session(db, settings, signed.token) is None

    again = accounts.sign_in(
        db, MemoryRateLimiter(), settings, email="expiry@example.com", password=PASSWORD
    )
    _age_session(db, signed.user.id, expires_at=utcnow() - timedelta(seconds=1))
    assert accounts.resolve_session(db, settings, again.token) is None


def test_change_password_ends_other_sessions(db: Database, settings: Settings) -> None:
    here = sign_up(db, settings, "change@example.com")
    elsewhere = accounts.sign_in(
        db, MemoryRateLimiter(), settings, email="change@example.com", password=PASSWORD
    )
    principal = accounts.resolve_session(db, settings, here.token)
    assert principal is not None
    with pytest.raises(InvalidInputError):
        accounts.change_password(
            db,
            settings,
            principal,
            current_password="not it at all",
            new_password="new pass phrase",
        )
    accounts.change_password(
        db, settings, principal, current_password=PASSWORD, new_password="a new pass phrase"
    )
    assert accounts.resolve_session(db, settings, here.token) is not None
    assert accounts.resolve_session(db, settings, elsewhere.token) is None
    with db.read() as session:
        user = session.get(User, principal.user_id)
    assert user is not None and verify_password("a new pass phrase", user.password_hash)[0]


def test_sign_in_ticket_is_single_use_and_short_lived(db: Database, settings: Settings) -> None:
    _user, ticket = accounts.sign_up_with_ticket(
        db, MemoryRateLimiter(), settings, email="ticket@example.com", password=PASSWORD
    )
    signed = accounts.redeem_sign_in_ticket(db, settings, ticket)
    assert accounts.resolve_session(db, settings, signed.token) is not None
    with pytest.raises(AuthenticationError):
        accounts.redeem_sign_in_ticket(db, settings, ticket)

    _user, stale = accounts.sign_in_with_ticket(
        db, MemoryRateLimiter(), settings, email="ticket@example.com", password=PASSWORD
    )
    from api.accounts.models import SignInTicket

    with db.write() as session:
        session.execute(update(SignInTicket).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(AuthenticationError):
        accounts.redeem_sign_in_ticket(db, settings, stale)


def test_suspended_user_cannot_sign_in(db: Database, settings: Settings) -> None:
    signed = sign_up(db, settings, "gone@example.com")
    with db.write() as session:
        session.execute(update(User).values(is_active=False))
    assert accounts.resolve_session(db, settings, signed.token) is None
    with pytest.raises(AuthenticationError):
        accounts.authenticate(
            db, MemoryRateLimiter(), settings, email="gone@example.com", password=PASSWORD, ip=""
        )


def test_wrong_current_passwords_are_throttled(db: Database, settings: Settings) -> None:
    here = sign_up(db, settings, "guess@example.com")
    principal = accounts.resolve_session(db, settings, here.token)
    assert principal is not None
    limiter = MemoryRateLimiter()
    for _ in range(settings.signin_limit_per_15min):
        with pytest.raises(InvalidInputError):
            accounts.change_password(
                db,
                settings,
                principal,
                current_password="a wrong guess",
                new_password="a new pass phrase",
                limiter=limiter,
            )
    with pytest.raises(RateLimitedError):  # even the right password waits now
        accounts.change_password(
            db,
            settings,
            principal,
            current_password=PASSWORD,
            new_password="a new pass phrase",
            limiter=limiter,
        )
