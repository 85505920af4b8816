"""The connection the money path writes on in SQLite (``Database.driver_write``): one, kept for
the life of the process, and never left inside a transaction, whatever went wrong."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, ProgrammingError

from api.billing import ledger
from api.db import Database
from api.settings import Settings
from tests.helpers import make_user

CENT = 10_000


def _balance(db: Database, user_id: int) -> int:
    with db.read() as session:
        return ledger.balance_of(session, user_id)


@pytest.fixture
def user_id(db: Database, settings: Settings) -> int:
    """A user with ¥1.00."""
    return make_user(db, settings, balance_micros=100 * CENT)


def _holds_once_more(db: Database, user_id: int, key: str, balance_after: int) -> None:
    """One more hold goes through on the money path's connection and moves the balance."""
    ledger.hold_now(db, user_id, CENT, idempotency_key=key)
    assert _balance(db, user_id) == balance_after


def _connection_of(db: Database) -> sqlite3.Connection:
    with db.driver_write() as target:
        connection: sqlite3.Connection = target.connection
        return connection


def test_postings_share_one_connection_and_sessions_still_get_theirs(
    db: Database, user_id: int
) -> None:
    first = _connection_of(db)
    posted = ledger.hold_now(db, user_id, CENT, idempotency_key="one")
    ledger.capture_now(db, posted.hold_id, CENT, user_id=user_id)
    assert _connection_of(db) is first
    with db.write() as session:  # the pool still has a writer for sessions
        ledger.hold(session, user_id, CENT, idempotency_key="two")
    assert _balance(db, user_id) == 98 * CENT


def test_a_commit_that_fails_is_rolled_back_and_the_next_posting_goes_through(
    db: Database, user_id: int
) -> None:
    with pytest.raises(IntegrityError), db.driver_write() as target:
        # Foreign keys checked only at COMMIT: the commit itself fails.
        target.connection.execute("PRAGMA defer_foreign_keys=ON")
        target.connection.execute(
            "UPDATE ledger_entries SET user_id = -1 WHERE user_id = ?", (user_id,)
        )
    assert not _connection_of(db).in_transaction
    _holds_once_more(db, user_id, "after", balance_after=99 * CENT)


def test_a_connection_closed_under_the_writer_is_replaced(db: Database, user_id: int) -> None:
    _connection_of(db).close()  # as if the database had dropped it
    with pytest.raises(ProgrammingError):
        ledger.hold_now(db, user_id, CENT, idempotency_key="lost")
    _holds_once_more(db, user_id, "kept", balance_after=99 * CENT)


def test_a_connection_kept_by_another_process_is_not_used(db: Database, user_id: int) -> None:
    """What a child made by ``fork`` inherits: the parent's kept connection, marked with the
    parent's process id. (Not a real fork: forking a test process that runs other threads can
    hang the child on a lock one of them held.)"""
    inherited = _connection_of(db)
    kept = db._kept_writer
    assert kept is not None
    db._kept_writer = (kept[0] + 1, kept[1])  # as the child sees it: not its own process
    _holds_once_more(db, user_id, "child", balance_after=99 * CENT)
    assert _connection_of(db) is not inherited
