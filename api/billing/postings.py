"""Holds and settlements as a few driver-level statements: the ledger's hot path.

``ledger.hold`` and ``ledger.capture``/``release`` are the money path of every billable call.
Written as ORM statements (look up the key, reserve the API key's spend, debit, insert the hold,
insert the entry; then flip, refund, insert) a charge cost about 4 ms of CPU here, most of it
SQLAlchemy building statements, evaluating ORM updates and flushing objects, and on PostgreSQL
ten round trips; eight writers made 150-270 charges per second. The same steps are written here
once per backend, in SQL sent on a bare driver connection (``DriverConnection``: a session's
own, inside its transaction, or ``Database.driver_write``'s, with no session at all):

- **PostgreSQL** runs data-modifying CTEs as one statement: a hold and a settlement are one
  round trip each, and ``driver_write`` runs them in autocommit, since each applies all of its
  parts or none. A hold locks and judges the account and the key first (``verdict``); the
  debit then tests the balance on the row it changes, and everything else (the key's
  reservation, the hold, the entry) follows the debit's ``RETURNING``. When the reservation
  followed the verdict instead, a debit that refused (its snapshot older than the verdict's
  locked row, after a concurrent refund) left the key's spend reserved with no hold.
- **SQLite** has no data-modifying CTEs, but a statement there is a function call: the steps run
  one by one with ``RETURNING`` (a few tens of microseconds each), and a refusal that comes
  after a step applied is rolled back by the error ``ledger`` raises.

Both report what happened and leave the decisions to ``ledger``: a hold happens only if no hold
has the idempotency key yet, the API key's cap admits it and the balance covers it, and
``ledger`` raises the matching error; a settlement flips a hold ``held → captured | released``
only from ``held`` and within the hold, gives back what was not charged (to the balance and to
the API key's reservation) and appends the entry; when nothing flipped, ``ledger`` looks at the
hold to tell a replay from a conflict. Row locks (PostgreSQL) and the single writer (SQLite)
serialize postings on one account. ORM objects a session loaded earlier are not refreshed by
these statements: ``ledger`` reads a hold again with ``populate_existing`` when it needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.db import DriverConnection, sqlite_time

# --- PostgreSQL: one statement each ---------------------------------------------------------

_PG_HOLD = """
WITH existing AS (
    SELECT id FROM holds
    WHERE user_id = CAST(%(user_id)s AS INTEGER) AND idempotency_key = CAST(%(key)s AS VARCHAR)
), account AS (
    -- Locks the account before the key (``spending_key``), in the order a settlement takes
    -- them (``refunded``, then ``unreserved``), so a hold and a settlement never deadlock.
    SELECT balance_micros FROM users
    WHERE id = CAST(%(user_id)s AS INTEGER) AND NOT EXISTS (SELECT 1 FROM existing)
    FOR UPDATE
), spending_key AS (
    SELECT spent_micros, spend_cap_micros FROM api_keys
    WHERE id = CAST(%(api_key_id)s AS INTEGER) AND NOT EXISTS (SELECT 1 FROM existing)
    FOR UPDATE
), verdict AS (
    SELECT COALESCE((SELECT balance_micros >= CAST(%(amount)s AS BIGINT) FROM account), FALSE)
               AS balance_ok,
           (CAST(%(api_key_id)s AS INTEGER) IS NULL OR CAST(%(amount)s AS BIGINT) = 0
            OR EXISTS (SELECT 1 FROM spending_key
                       WHERE spend_cap_micros IS NULL
                          OR spent_micros + CAST(%(amount)s AS BIGINT) <= spend_cap_micros))
               AS cap_ok
), debited AS (
    -- The debit has the last word on the balance: its own "balance >= amount" is tested on
    -- the row it changes (and again on the newest version, under EvalPlanQual, when another
    -- statement changed the row meanwhile). It can refuse what the verdict admitted (when the
    -- statement's snapshot predates a concurrent refund), never the other way round.
    UPDATE users SET balance_micros = balance_micros - CAST(%(amount)s AS BIGINT)
    WHERE id = CAST(%(user_id)s AS INTEGER) AND balance_micros >= CAST(%(amount)s AS BIGINT)
      AND (SELECT balance_ok AND cap_ok FROM verdict)
    RETURNING balance_micros
), capped AS (
    -- The key's reservation follows the debit itself, not the verdict: a debit that refused
    -- leaves no reservation behind, so the statement applies all of its parts or none.
    UPDATE api_keys SET spent_micros = spent_micros + CAST(%(amount)s AS BIGINT)
    WHERE id = CAST(%(api_key_id)s AS INTEGER) AND CAST(%(amount)s AS BIGINT) > 0
      AND EXISTS (SELECT 1 FROM debited)
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
       (SELECT cap_ok FROM verdict) AS cap_ok,
       (SELECT balance_micros FROM debited) AS balance,
       (SELECT id FROM held) AS hold_id
"""

_PG_SETTLE = """
WITH flipped AS (
    UPDATE holds
    SET status = CAST(%(status)s AS VARCHAR), captured_micros = CAST(%(charged)s AS BIGINT),
        settled_at = CAST(%(now)s AS TIMESTAMPTZ)
    WHERE id = CAST(%(hold_id)s AS INTEGER) AND status = 'held'
      AND (CAST(%(user_id)s AS INTEGER) IS NULL OR user_id = CAST(%(user_id)s AS INTEGER))
      AND CAST(%(charged)s AS BIGINT) <= amount_micros
    RETURNING user_id, api_key_id, amount_micros - CAST(%(charged)s AS BIGINT) AS refund,
              idempotency_key, purpose, amount_micros
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
SELECT refunded.balance_micros FROM refunded
"""


# --- SQLite: the same steps one by one ------------------------------------------------------

_SQLITE_FIND_HOLD = "SELECT id FROM holds WHERE user_id = ? AND idempotency_key = ?"
_SQLITE_RESERVE_KEY_SPEND = """
UPDATE api_keys SET spent_micros = spent_micros + ?1
WHERE id = ?2 AND (spend_cap_micros IS NULL OR spent_micros + ?1 <= spend_cap_micros)
RETURNING id
"""
_SQLITE_DEBIT = """
UPDATE users SET balance_micros = balance_micros - ?1 WHERE id = ?2 AND balance_micros >= ?1
RETURNING balance_micros
"""
_SQLITE_INSERT_HOLD = """
INSERT INTO holds (user_id, api_key_id, amount_micros, status, idempotency_key, purpose,
                   created_at)
VALUES (?, ?, ?, 'held', ?, ?, ?)
RETURNING id
"""
_SQLITE_FLIP = """
UPDATE holds SET status = ?1, captured_micros = ?2, settled_at = ?3
WHERE id = ?4 AND status = 'held' AND (?5 IS NULL OR user_id = ?5) AND ?2 <= amount_micros
RETURNING user_id, api_key_id, amount_micros - ?2, idempotency_key, purpose
"""
_SQLITE_REFUND = (
    "UPDATE users SET balance_micros = balance_micros + ? WHERE id = ? RETURNING balance_micros"
)
_SQLITE_UNRESERVE_KEY_SPEND = "UPDATE api_keys SET spent_micros = spent_micros - ? WHERE id = ?"
_SQLITE_INSERT_ENTRY = """
INSERT INTO ledger_entries (user_id, kind, amount_micros, balance_after_micros, idempotency_key,
                            hold_id, api_key_id, note, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True)
class HoldOutcome:
    """What a hold posting did: found an earlier hold, or made a new one, or neither."""

    existing_id: int | None = None
    cap_ok: bool = True  # the API key's spend cap (if any) admits the amount
    balance_after: int | None = None
    hold_id: int | None = None


def post_hold(
    target: DriverConnection,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    api_key_id: int | None,
    purpose: str,
    now: datetime,
) -> HoldOutcome:
    """Reserve ``amount`` unless a hold has the key, the key's cap or the balance refuses."""
    driver = target.connection
    if target.is_postgres:
        row = driver.execute(
            _PG_HOLD,
            {
                "user_id": user_id,
                "amount": amount,
                "key": idempotency_key,
                "api_key_id": api_key_id,
                "purpose": purpose[:64],
                "note": purpose[:500],
                "now": now,
            },
        ).fetchone()
        existing_id, cap_ok, balance, hold_id = row
        return HoldOutcome(existing_id, bool(cap_ok), balance, hold_id)
    found = driver.execute(_SQLITE_FIND_HOLD, (user_id, idempotency_key)).fetchone()
    if found is not None:
        return HoldOutcome(existing_id=found[0])
    if api_key_id is not None and amount > 0:
        reserved = driver.execute(_SQLITE_RESERVE_KEY_SPEND, (amount, api_key_id)).fetchone()
        if reserved is None:
            return HoldOutcome(cap_ok=False)
    debited = driver.execute(_SQLITE_DEBIT, (amount, user_id)).fetchone()
    if debited is None:
        return HoldOutcome()  # the reservation above is rolled back with the refusal
    stamp = sqlite_time(now)
    (hold_id,) = driver.execute(
        _SQLITE_INSERT_HOLD,
        (user_id, api_key_id, amount, idempotency_key, purpose[:64], stamp),
    ).fetchone()
    driver.execute(
        _SQLITE_INSERT_ENTRY,
        (
            user_id,
            "hold",
            -amount,
            debited[0],
            f"hold:{idempotency_key}",
            hold_id,
            api_key_id,
            purpose[:500],
            stamp,
        ),
    )
    return HoldOutcome(None, True, debited[0], hold_id)


def post_settlement(
    target: DriverConnection,
    *,
    hold_id: int,
    user_id: int | None,
    status: str,
    kind: str,
    charged: int,
    now: datetime,
) -> int | None:
    """Settle a held hold; the balance after it, or None when nothing flipped (unknown hold,
    another user's, no longer held, or ``charged`` over the hold)."""
    driver = target.connection
    if target.is_postgres:
        row = driver.execute(
            _PG_SETTLE,
            {
                "hold_id": hold_id,
                "user_id": user_id,
                "status": status,
                "kind": kind,
                "charged": charged,
                "now": now,
            },
        ).fetchone()
        return None if row is None else int(row[0])
    stamp = sqlite_time(now)
    flipped = driver.execute(_SQLITE_FLIP, (status, charged, stamp, hold_id, user_id)).fetchone()
    if flipped is None:
        return None
    owner, api_key_id, refund, idempotency_key, purpose = flipped
    (balance,) = driver.execute(_SQLITE_REFUND, (refund, owner)).fetchone()
    if api_key_id is not None and refund:
        driver.execute(_SQLITE_UNRESERVE_KEY_SPEND, (refund, api_key_id))
    driver.execute(
        _SQLITE_INSERT_ENTRY,
        (
            owner,
            kind,
            refund,
            balance,
            f"{kind}:{idempotency_key}",
            hold_id,
            api_key_id,
            purpose,
            stamp,
        ),
    )
    return int(balance)
