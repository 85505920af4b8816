"""Helpers for the job tests: hold credit, and read back holds, ledger entries and balances."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from api.billing import ledger
from api.billing.models import Hold, LedgerEntry
from api.db import Database
from api.jobs.models import Job

SIGNUP_CREDIT = 100_000_000


def place_hold(database: Database, user_id: int, amount: int, key: str) -> int:
    """Reserve ``amount`` µ¥ for a job in its own committed transaction; the hold id."""
    with database.write() as session:
        held = ledger.hold(session, user_id, amount, idempotency_key=key, purpose="test job")
        assert held.id is not None
        return held.id


def hold_entries(database: Database, hold_id: int) -> list[str]:
    """The kinds of the ledger entries written for a hold, oldest first."""
    with database.read() as session:
        rows = session.execute(
            select(LedgerEntry.kind)
            .where(col(LedgerEntry.hold_id) == hold_id)
            .order_by(col(LedgerEntry.id))
        ).scalars()
        return list(rows)


def hold_row(database: Database, hold_id: int) -> Hold:
    with database.read() as session:
        held = session.get(Hold, hold_id)
        assert held is not None
        return held


def balance(database: Database, user_id: int) -> int:
    with database.read() as session:
        return ledger.balance_of(session, user_id)


def assert_reconciled(database: Database) -> None:
    """Every cached balance equals the sum of the user's ledger entries."""
    with database.read() as session:
        assert ledger.unreconciled_users(session) == []


def job_row(database: Database, job_id: str) -> Job:
    with database.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job
