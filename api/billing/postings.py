"""Holds and settlements on PostgreSQL in one statement each: one round trip per transaction.

``ledger.hold`` and ``ledger.capture``/``release`` are the money path of every billable call. As
separate ORM statements (look up the key, reserve the API key's spend, debit, insert the hold,
insert the entry) a hold costs five round trips and as many flushes; measured here, eight
writers then made about 150-270 charges per second. PostgreSQL runs data-modifying CTEs as one
statement, so each posting below is one round trip, sent on the session's own psycopg
connection inside the session's transaction (SQLAlchemy's execution layer was a third of the
CPU of a charge): about 1,000-1,300 charges per second (bench row B4). Each does exactly what
``ledger`` does step by step on SQLite, with the same guards in the ``WHERE`` clauses:

- a hold happens only if no hold has the idempotency key yet, the API key's cap admits it and
  the balance covers it; the statement reports which of those failed, and ``ledger`` raises
  the same errors as on SQLite (the raise rolls back whatever part did apply);
- a settlement flips the hold ``held → captured | released`` only from ``held``, gives back what
  was not charged, returns the API key's unspent reservation and appends the entry; when
  nothing flipped, ``ledger`` looks at the hold to tell a replay from a conflict.

All sub-statements see one snapshot and the row locks of ``UPDATE`` serialize concurrent
postings on the same account exactly as the separate statements did. SQLite has no
data-modifying CTEs; it keeps the step-by-step path, where a statement is a function call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

_HOLD = """
WITH existing AS (
    SELECT id FROM holds
    WHERE user_id = CAST(%(user_id)s AS INTEGER) AND idempotency_key = CAST(%(key)s AS VARCHAR)
), capped AS (
    UPDATE api_keys SET spent_micros = spent_micros + CAST(%(amount)s AS BIGINT)
    WHERE id = CAST(%(api_key_id)s AS INTEGER)
      AND CAST(%(amount)s AS BIGINT) > 0
      AND NOT EXISTS (SELECT 1 FROM existing)
      AND (spend_cap_micros IS NULL
           OR spent_micros + CAST(%(amount)s AS BIGINT) <= spend_cap_micros)
    RETURNING id
), debited AS (
    UPDATE users SET balance_micros = balance_micros - CAST(%(amount)s AS BIGINT)
    WHERE id = CAST(%(user_id)s AS INTEGER)
      AND balance_micros >= CAST(%(amount)s AS BIGINT)
      AND NOT EXISTS (SELECT 1 FROM existing)
      AND (CAST(%(api_key_id)s AS INTEGER) IS NULL OR CAST(%(amount)s AS BIGINT) = 0
           OR EXISTS (SELECT 1 FROM capped))
    RETURNING balance_micros
), held AS (
    INSERT INTO holds (user_id, api_key_id, amount_micros, status, idempotency_key, purpose,
                       created_at)
    SELECT CAST(%(user_id)s AS INTEGER), CAST(%(api_key_id)s AS INTEGER),
           CAST(%(amount)s AS BIGINT), 'held', CAST(%(key)s AS VARCHAR),
           CAST(%(purpose)s AS VARCHAR), CAST(%(now)s AS TIMESTAMPTZ)
    FROM debited
    RETURNING id
), entry AS (
    INSERT INTO ledger_entries (user_id, kind, amount_micros, balance_after_micros,
                                idempotency_key, hold_id, api_key_id, note, created_at)
    SELECT CAST(%(user_id)s AS INTEGER), 'hold', -CAST(%(amount)s AS BIGINT),
           debited.balance_micros,
           'hold:' || CAST(%(key)s AS VARCHAR), held.id, CAST(%(api_key_id)s AS INTEGER),
           CAST(%(note)s AS VARCHAR), CAST(%(now)s AS TIMESTAMPTZ)
    FROM held, debited
)
SELECT (SELECT id FROM existing) AS existing_id,
       EXISTS (SELECT 1 FROM capped) AS capped,
       (SELECT balance_micros FROM debited) AS balance,
       (SELECT id FROM held) AS hold_id
"""

_SETTLE = """
WITH flipped AS (
    UPDATE holds
    SET status = CAST(%(status)s AS VARCHAR), captured_micros = CAST(%(charged)s AS BIGINT),
        settled_at = CAST(%(now)s AS TIMESTAMPTZ)
    WHERE id = CAST(%(hold_id)s AS INTEGER) AND status = 'held'
      AND (CAST(%(user_id)s AS INTEGER) IS NULL OR user_id = CAST(%(user_id)s AS INTEGER))
      AND CAST(%(charged)s AS BIGINT) <= amount_micros
    RETURNING user_id, api_key_id, amount_micros - CAST(%(charged)s AS BIGINT) AS refund,
              idempotency_key, purpose, amount_micros, created_at
), refunded AS (
    UPDATE users SET balance_micros = balance_micros + flipped.refund
    FROM flipped
    WHERE users.id = flipped.user_id
    RETURNING users.balance_micros
), unreserved AS (
    UPDATE api_keys SET spent_micros = spent_micros - flipped.refund
    FROM flipped
    WHERE api_keys.id = flipped.api_key_id AND flipped.refund > 0
), entry AS (
    INSERT INTO ledger_entries (user_id, kind, amount_micros, balance_after_micros,
                                idempotency_key, hold_id, api_key_id, note, created_at)
    SELECT flipped.user_id, CAST(%(kind)s AS VARCHAR), flipped.refund, refunded.balance_micros,
           CAST(%(kind)s AS VARCHAR) || ':' || flipped.idempotency_key,
           CAST(%(hold_id)s AS INTEGER),
           flipped.api_key_id, flipped.purpose, CAST(%(now)s AS TIMESTAMPTZ)
    FROM flipped, refunded
)
SELECT flipped.user_id, flipped.api_key_id, flipped.amount_micros, flipped.idempotency_key,
       flipped.purpose, flipped.created_at, refunded.balance_micros
FROM flipped, refunded
"""


@dataclass(frozen=True)
class HoldOutcome:
    """What the hold statement did: an earlier hold's id, or the new hold, or neither."""

    existing_id: int | None
    capped: bool
    balance_after: int | None
    hold_id: int | None


@dataclass(frozen=True)
class Flip:
    """A hold this statement settled: its fields and the balance after the entry."""

    user_id: int
    api_key_id: int | None
    amount_micros: int
    idempotency_key: str
    purpose: str
    created_at: datetime
    balance_after: int


def hold_in_one_statement(
    session: Session,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    api_key_id: int | None,
    purpose: str,
    now: datetime,
) -> HoldOutcome:
    row = (
        _driver(session)
        .execute(
            _HOLD,
            {
                "user_id": user_id,
                "amount": amount,
                "key": idempotency_key,
                "api_key_id": api_key_id,
                "purpose": purpose[:64],
                "note": purpose[:500],
                "now": now,
            },
        )
        .fetchone()
    )
    existing_id, capped, balance, new_id = row
    return HoldOutcome(existing_id, bool(capped), balance, new_id)


def settle_in_one_statement(
    session: Session,
    *,
    hold_id: int,
    user_id: int | None,
    status: str,
    kind: str,
    charged: int,
    now: datetime,
) -> Flip | None:
    """Settle a held hold; None when nothing flipped (unknown, not held, or over the hold)."""
    row = (
        _driver(session)
        .execute(
            _SETTLE,
            {
                "hold_id": hold_id,
                "user_id": user_id,
                "status": status,
                "kind": kind,
                "charged": charged,
                "now": now,
            },
        )
        .fetchone()
    )
    return None if row is None else Flip(*row)


def _driver(session: Session) -> Any:
    """The session's own psycopg connection, inside the session's transaction."""
    return session.connection().connection.driver_connection
