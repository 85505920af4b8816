"""The connection the money path writes on in SQLite (``Database.driver_write``): one, kept for
the life of the process, and never left inside a transaction, whatever went wrong."""

from __future__ import annotations

import os
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


def test_a_forked_process_posts_on_a_connection_of_its_own(db: Database, user_id: int) -> None:
    ledger.hold_now(db, user_id, CENT, idempotency_key="parent-1")  # the parent keeps one
    child = os.fork()
    if child == 0:  # the child: post once, say how it went through the exit status
        code = 1
        try:
            ledger.hold_now(db, user_id, CENT, idempotency_key="child")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _holds_once_more(db, user_id, "parent-2", balance_after=97 * CENT)
