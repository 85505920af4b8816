"""The ledger: every change of a balance is an immutable entry, written with the balance update.

Spending is two-phase. ``hold`` reserves the most a piece of work can cost before it starts,
with one atomic ``UPDATE … WHERE balance >= :amount`` (so concurrent holds can never overdraw);
``capture`` settles the hold at the real cost once the work succeeded and gives back the rest;
``release`` gives back everything when it failed. A hold resolves exactly once: the status flip
``held → captured | released`` is itself a guarded ``UPDATE``, and every entry carries an
idempotency key unique per user, so a replayed capture or release changes nothing.

Functions take a Session and never commit; an error raised here rolls the caller's whole
transaction back, so a failed step leaves no partial write. Holds and settlements, the hot path
of every billable call, are posted in driver-level SQL (``api.billing.postings``: one statement
each on PostgreSQL); this module decides what their outcome means. ``hold_now``,
``capture_now`` and ``release_now`` post one as a transaction of its own on the bare driver
connection (``Database.driver_write``), for a request whose hold or settlement is the only
write of its moment.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlmodel import Session, col

from api.accounts.models import User
from api.billing import postings
from api.billing.models import HOLD_CAPTURED, HOLD_RELEASED, Hold, LedgerEntry
from api.billing.money import format_yuan
from api.db import Database, DriverConnection, utcnow
from api.errors import (
    ConflictError,
    InsufficientBalanceError,
    InvalidInputError,
    NotFoundError,
    SpendCapExceededError,
)

CREDIT_KINDS = ("signup_bonus", "grant", "redeem")
MAX_IDEMPOTENCY_KEY = 255


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInputError("idempotency key must be 1–255 characters", param="idempotency_key")


def _entry_by_key(session: Session, user_id: int, idempotency_key: str) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry).where(
            col(LedgerEntry.user_id) == user_id, col(LedgerEntry.idempotency_key) == idempotency_key
        )
    ).scalar_one_or_none()


def _change_balance(session: Session, user_id: int, delta: int) -> int | None:
    """Apply ``delta`` atomically unless it would go below zero; the new balance, or None."""
    statement = (
        update(User)
        .where(col(User.id) == user_id)
        .values(balance_micros=col(User.balance_micros) + delta)
        .returning(col(User.balance_micros))
    )
    if delta < 0:
        statement = statement.where(col(User.balance_micros) >= -delta)
    return session.execute(statement).scalar_one_or_none()


def _append(
    session: Session,
    *,
    user_id: int,
    kind: str,
    amount: int,
    balance_after: int,
    idempotency_key: str | None,
    hold_id: int | None = None,
    api_key_id: int | None = None,
    actor_user_id: int | None = None,
    note: str = "",
) -> LedgerEntry:
    entry = LedgerEntry(
        user_id=user_id,
        kind=kind,
        amount_micros=amount,
        balance_after_micros=balance_after,
        idempotency_key=idempotency_key,
        hold_id=hold_id,
        api_key_id=api_key_id,
        actor_user_id=actor_user_id,
        note=note[:500],
    )
    session.add(entry)
    session.flush()
    return entry


def credit(
    session: Session,
    user_id: int,
    amount: int,
    *,
    kind: str = "grant",
    idempotency_key: str | None = None,
    note: str = "",
    actor_user_id: int | None = None,
) -> LedgerEntry:
    """Add credit (sign-up bonus, admin grant, redeemed code); replaying a key is a no-op."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"not a credit kind: {kind}")
    if amount <= 0:
        raise InvalidInputError("amount must be positive", param="amount")
    if idempotency_key is not None:
        _check_key(idempotency_key)
        existing = _entry_by_key(session, user_id, idempotency_key)
        if existing is not None:
            return existing
    balance = _change_balance(session, user_id, amount)
    if balance is None:
        raise NotFoundError("User not found")
    return _append(
        session,
        user_id=user_id,
        kind=kind,
        amount=amount,
        balance_after=balance,
        idempotency_key=idempotency_key,
        actor_user_id=actor_user_id,
        note=note,
    )


def adjust(
    session: Session,
    user_id: int,
    amount: int,
    *,
    note: str,
    actor_user_id: int | None = None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """An admin correction of either sign; a negative one can never take the balance below 0."""
    if amount == 0:
        raise InvalidInputError("amount must not be zero", param="amount")
    if idempotency_key is not None:
        _check_key(idempotency_key)
        existing = _entry_by_key(session, user_id, idempotency_key)
        if existing is not None:
            return existing
    balance = _change_balance(session, user_id, amount)
    if balance is None:
        if session.get(User, user_id) is None:
            raise NotFoundError("User not found")
        raise InsufficientBalanceError("The adjustment would take the balance below zero")
    return _append(
        session,
        user_id=user_id,
        kind="adjustment",
        amount=amount,
        balance_after=balance,
        idempotency_key=idempotency_key,
        actor_user_id=actor_user_id,
        note=note,
    )


def hold(
    session: Session,
    user_id: int,
    amount: int,
    *,
    idempotency_key: str,
    api_key_id: int | None = None,
    purpose: str = "",
) -> Hold:
    """Reserve ``amount`` µ¥; the same key returns the existing hold instead of reserving twice.

    Raises InsufficientBalanceError when the balance cannot cover it and SpendCapExceededError
    when the API key's spend cap would be passed.
    """
    target = DriverConnection.of(session)
    posted = _post_hold(target, user_id, amount, idempotency_key, api_key_id, purpose)
    if posted.replayed:
        existing = session.get(Hold, posted.hold_id, populate_existing=True)
        assert existing is not None
        return existing
    return Hold(
        id=posted.hold_id,
        user_id=user_id,
        api_key_id=api_key_id,
        amount_micros=amount,
        idempotency_key=idempotency_key,
        purpose=purpose[:64],
        created_at=posted.created_at,
    )


def hold_now(
    db: Database,
    user_id: int,
    amount: int,
    *,
    idempotency_key: str,
    api_key_id: int | None = None,
    purpose: str = "",
) -> PostedHold:
    """``hold`` as a transaction of its own, without a session (``Database.driver_write``):
    how a request reserves credit before its engine runs. Returns the posting, not a row
    object: the hold's id (the earlier hold's for a replay) and the balance right after it."""
    # Autocommit on PostgreSQL: the hold is one statement that applies all of its parts or
    # none (``postings``); on SQLite, a transaction under the writer lock.
    with db.driver_write() as target:
        return _post_hold(target, user_id, amount, idempotency_key, api_key_id, purpose)


@dataclass(frozen=True)
class PostedHold:
    hold_id: int
    replayed: bool  # the key was used before: ``hold_id`` is the earlier hold, nothing changed
    created_at: datetime
    balance_after_micros: int | None = None  # None for a replay, which changed nothing


def _post_hold(
    target: DriverConnection,
    user_id: int,
    amount: int,
    idempotency_key: str,
    api_key_id: int | None,
    purpose: str,
) -> PostedHold:
    """Post a hold, or find the earlier one with the same key; raises (and so rolls back) when
    the cap or the balance refuses."""
    _check_key(idempotency_key)
    if amount < 0:
        raise InvalidInputError("amount must not be negative", param="amount")
    now = utcnow()
    outcome = postings.post_hold(
        target,
        user_id=user_id,
        amount=amount,
        idempotency_key=idempotency_key,
        api_key_id=api_key_id,
        purpose=purpose,
        now=now,
    )
    if outcome.existing_id is not None:
        return PostedHold(outcome.existing_id, True, now)
    if not outcome.cap_ok:
        raise SpendCapExceededError("This API key has reached its spend cap")
    if outcome.hold_id is None:
        raise InsufficientBalanceError("Insufficient balance")
    return PostedHold(outcome.hold_id, False, now, outcome.balance_after)


@dataclass(frozen=True)
class Settlement:
    """How a hold ended: the status, what was charged, and whether this call did it."""

    hold_id: int
    status: str
    charged_micros: int
    settled_now: bool
    # The account's balance right after this settlement (None for a replay, which changed
    # nothing): billable responses report it without reading the balance again.
    balance_after_micros: int | None = None


def _post_settlement(
    target: DriverConnection, hold_id: int, user_id: int | None, status: str, charged: int
) -> Settlement | None:
    """Flip a held hold to ``status``; None when nothing flipped (see ``_unsettled``)."""
    if charged < 0:
        raise ValueError(f"capture of {charged} µ¥ is negative")
    kind = "capture" if status == HOLD_CAPTURED else "release"
    balance = postings.post_settlement(
        target,
        hold_id=hold_id,
        user_id=user_id,
        status=status,
        kind=kind,
        charged=charged,
        now=utcnow(),
    )
    return None if balance is None else Settlement(hold_id, status, charged, True, balance)


def _unsettled(
    session: Session, hold_id: int, user_id: int | None, status: str, charged: int
) -> Settlement:
    """Nothing flipped: a replay (the same settlement, changing nothing), or say what is wrong."""
    current = session.get(Hold, hold_id, populate_existing=True)  # the session's copy may be old
    if current is None or (user_id is not None and current.user_id != user_id):
        raise NotFoundError("Hold not found")
    if charged > current.amount_micros:
        raise ValueError(f"capture of {charged} µ¥ outside the hold of {current.amount_micros} µ¥")
    if current.status != status:
        raise ConflictError(f"Hold {hold_id} was already {current.status}")
    return Settlement(hold_id, current.status, current.captured_micros or 0, False)


def _settle(
    session: Session, hold_id: int, user_id: int | None, status: str, charged: int
) -> Settlement:
    settled = _post_settlement(DriverConnection.of(session), hold_id, user_id, status, charged)
    return settled or _unsettled(session, hold_id, user_id, status, charged)


def _settle_now(
    db: Database,
    hold_id: int,
    user_id: int | None,
    status: str,
    charged: int,
    also: Callable[[DriverConnection], None] | None,
) -> Settlement:
    with db.driver_write(transaction=also is not None) as target:
        settled = _post_settlement(target, hold_id, user_id, status, charged)
        if settled and also is not None:
            also(target)
    if settled:
        return settled
    with db.read() as session:
        return _unsettled(session, hold_id, user_id, status, charged)


def capture(
    session: Session, hold_id: int, amount: int, *, user_id: int | None = None
) -> Settlement:
    """Charge ``amount`` (at most the hold) and give back the rest; a replay changes nothing."""
    return _settle(session, hold_id, user_id, HOLD_CAPTURED, amount)


def capture_now(
    db: Database,
    hold_id: int,
    amount: int,
    *,
    user_id: int | None = None,
    also: Callable[[DriverConnection], None] | None = None,
) -> Settlement:
    """``capture`` as a transaction of its own, without a session (``Database.driver_write``);
    ``also`` writes more in the same transaction when the capture happened (not on a replay)."""
    return _settle_now(db, hold_id, user_id, HOLD_CAPTURED, amount, also)


def release(session: Session, hold_id: int, *, user_id: int | None = None) -> Settlement:
    """Give the whole hold back (the work failed); a replay changes nothing."""
    return _settle(session, hold_id, user_id, HOLD_RELEASED, 0)


def release_now(
    db: Database,
    hold_id: int,
    *,
    user_id: int | None = None,
    also: Callable[[DriverConnection], None] | None = None,
) -> Settlement:
    """``release`` as a transaction of its own, without a session (``Database.driver_write``);
    ``also`` as for ``capture_now``."""
    return _settle_now(db, hold_id, user_id, HOLD_RELEASED, 0, also)


def balance_now(db: Database, user_id: int) -> int:
    """The balance, in one statement on the bare driver (a usage header's read)."""
    with db.driver_read() as driver:
        row = driver.fetch_one("SELECT balance_micros FROM users WHERE id = :id", {"id": user_id})
    if row is None:
        raise NotFoundError("User not found")
    return int(row[0])


def balance_of(session: Session, user_id: int) -> int:
    value = session.execute(
        select(col(User.balance_micros)).where(col(User.id) == user_id)
    ).scalar_one_or_none()
    if value is None:
        raise NotFoundError("User not found")
    return int(value)


def list_entries(
    session: Session,
    user_id: int,
    *,
    kinds: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[LedgerEntry], int]:
    """One page of a user's entries, newest first, and the total matching."""
    conditions = _entry_conditions(user_id, kinds, since, until)
    total = session.execute(
        select(func.count()).select_from(LedgerEntry).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(LedgerEntry)
        .where(*conditions)
        .order_by(col(LedgerEntry.id).desc())
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


def _entry_conditions(
    user_id: int, kinds: Sequence[str], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(LedgerEntry.user_id) == user_id]
    if kinds:
        conditions.append(col(LedgerEntry.kind).in_(list(kinds)))
    if since is not None:
        conditions.append(col(LedgerEntry.created_at) >= since)
    if until is not None:
        conditions.append(col(LedgerEntry.created_at) < until)
    return conditions


def holds_by_id(session: Session, user_id: int, hold_ids: Sequence[int]) -> dict[int, Hold]:
    """The user's holds among ``hold_ids`` (to describe a page of entries); others are left out."""
    if not hold_ids:
        return {}
    rows = session.execute(
        select(Hold).where(col(Hold.user_id) == user_id, col(Hold.id).in_(list(hold_ids)))
    ).scalars()
    return {int(row.id): row for row in rows if row.id is not None}


@dataclass(frozen=True)
class Spend:
    """What was charged (captured holds) for one group: a day and purpose, or an API key."""

    day: str
    purpose: str
    api_key_id: int | None
    calls: int
    charged_micros: int


def _captured(user_id: int, since: datetime | None, until: datetime | None) -> list[Any]:
    conditions: list[Any] = [col(Hold.user_id) == user_id, col(Hold.status) == HOLD_CAPTURED]
    if since is not None:
        conditions.append(col(Hold.settled_at) >= since)
    if until is not None:
        conditions.append(col(Hold.settled_at) < until)
    return conditions


def spend_by_day(
    session: Session, user_id: int, *, since: datetime | None = None, until: datetime | None = None
) -> list[Spend]:
    """Charges per UTC day (of settlement) and purpose (tts, asr, …), oldest day first.

    A charge is a captured hold's final amount, which is what the hold and capture entries of
    the ledger add up to; held (unsettled) and released reservations are not spend.
    """
    day = func.date(col(Hold.settled_at)).label("day")
    rows = session.execute(
        select(day, col(Hold.purpose), func.count(), func.sum(col(Hold.captured_micros)))
        .where(*_captured(user_id, since, until))
        .group_by(day, col(Hold.purpose))
        .order_by(day, col(Hold.purpose))
    ).all()
    return [Spend(str(d), str(p), None, int(n), int(m or 0)) for d, p, n, m in rows]


def spend_by_key(
    session: Session, user_id: int, *, since: datetime | None = None, until: datetime | None = None
) -> list[Spend]:
    """Charges per API key over a period (``api_key_id`` None: the console), largest first."""
    total = func.coalesce(func.sum(col(Hold.captured_micros)), 0)
    rows = session.execute(
        select(col(Hold.api_key_id), func.count(), total)
        .where(*_captured(user_id, since, until))
        .group_by(col(Hold.api_key_id))
        .order_by(total.desc(), func.count().desc())
    ).all()
    return [Spend("", "", key_id, int(n), int(m)) for key_id, n, m in rows]


CSV_COLUMNS = ("id", "time_utc", "kind", "amount", "balance_after", "description")


def entries_csv(
    session: Session,
    user_id: int,
    *,
    kinds: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    max_rows: int = 100_000,
) -> tuple[str, int]:
    """The user's matching entries as CSV (newest first, amounts in yuan with sign), and how many.

    Read in batches so a long ledger never sits in memory as ORM rows; ``max_rows`` bounds the
    file (the newest rows are kept).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    conditions = _entry_conditions(user_id, kinds, since, until)
    written = 0
    last_id: int | None = None
    while written < max_rows:
        batch_conditions = list(conditions)
        if last_id is not None:
            batch_conditions.append(col(LedgerEntry.id) < last_id)
        batch = list(
            session.execute(
                select(LedgerEntry)
                .where(*batch_conditions)
                .order_by(col(LedgerEntry.id).desc())
                .limit(min(1000, max_rows - written))
            ).scalars()
        )
        if not batch:
            break
        for entry in batch:
            amount = format_yuan(entry.amount_micros)
            writer.writerow(
                (
                    entry.id,
                    entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.kind,
                    amount if entry.amount_micros < 0 else f"+{amount}",
                    format_yuan(entry.balance_after_micros),
                    _csv_safe(entry.note),
                )
            )
        written += len(batch)
        last_id = batch[-1].id
    return buffer.getvalue(), written


def _csv_safe(text: str) -> str:
    """Keep a spreadsheet from running a note as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def unreconciled_users(session: Session) -> list[int]:
    """Users whose cached balance differs from the sum of their entries (should be none)."""
    sums = (
        select(
            col(LedgerEntry.user_id),
            func.coalesce(func.sum(col(LedgerEntry.amount_micros)), 0).label("s"),
        )
        .group_by(col(LedgerEntry.user_id))
        .subquery()
    )
    rows = session.execute(
        select(col(User.id))
        .outerjoin(sums, sums.c.user_id == col(User.id))
        .where(func.coalesce(sums.c.s, 0) != col(User.balance_micros))
    ).scalars()
    return [int(r) for r in rows]
