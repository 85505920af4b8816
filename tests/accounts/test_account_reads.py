"""Reads on the bare driver connection (``Database.driver_read``): the account summary of
``GET /api/account`` and the balance of a usage header give what a session reads, on SQLite and
PostgreSQL (an unreachable database: ``tests/ops/test_database_errors.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from api.accounts import service as accounts
from api.accounts.models import User
from api.billing import ledger
from api.db import Database, _pyformat, driver_time
from api.errors import NotFoundError
from api.http.presenters import user_public
from api.settings import Settings
from tests.helpers import make_user


def test_the_summary_shows_what_the_session_reads(any_db: Database, settings: Settings) -> None:
    user_id = make_user(any_db, settings)
    with any_db.write() as session:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(display_name="Ada", balance_micros=123_456_789)
        )
    with any_db.read() as session:
        user = accounts.get_user(session, user_id)
    summary = accounts.account_summary(any_db, user_id)
    assert user_public(summary) == user_public(user)
    assert summary.created_at.tzinfo is UTC and summary.balance_micros == 123_456_789
    assert ledger.balance_now(any_db, user_id) == 123_456_789


def test_an_unknown_account_is_not_found(any_db: Database) -> None:
    with pytest.raises(NotFoundError):
        accounts.account_summary(any_db, 987_654)
    with pytest.raises(NotFoundError):
        ledger.balance_now(any_db, 987_654)


def test_named_placeholders_become_psycopgs_and_casts_stay() -> None:
    assert _pyformat("SELECT 1 FROM t WHERE a = :a AND b::int = :b_2") == (
        "SELECT 1 FROM t WHERE a = %(a)s AND b::int = %(b_2)s"
    )


def test_driver_times_are_aware_utc() -> None:
    stored = "2026-12-06 23:40:05.123456"  # sqlite_time's text
    assert driver_time(stored) == datetime(2026, 12, 6, 23, 40, 5, 123456, tzinfo=UTC)
    naive = datetime(2026, 12, 6, 23, 40, 5)  # psycopg, a timestamp without time zone
    assert driver_time(naive).tzinfo is UTC
    plus_one = datetime(2026, 12, 7, 0, 40, 5, tzinfo=timezone(timedelta(hours=1)))
    assert driver_time(plus_one) == datetime(2026, 12, 6, 23, 40, 5, tzinfo=UTC)
