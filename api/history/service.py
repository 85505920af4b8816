"""History: write one record per billable operation; page through them; aggregate usage by day.

Functions take a Session and never commit. Records are read back only together with their
owner, so someone else's record id is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from api.errors import ConflictError, InvalidInputError, NotFoundError
from api.history.models import RECORD_STATUSES, RECORD_TYPES, HistoryRecord
from api.storage.base import ObjectStore
from api.storage.service import delete_owned_object

MAX_INPUT_SUMMARY = 4000
UsageGroup = Literal["type", "model", "key"]


def _summary(input_summary: dict[str, Any]) -> dict[str, Any]:
    """Keep the stored input summary small: long texts are cut, the shape is kept."""
    text = json.dumps(input_summary, ensure_ascii=False, default=str)
    if len(text) <= MAX_INPUT_SUMMARY:
        return input_summary
    trimmed = {
        key: (value[:500] + "…" if isinstance(value, str) and len(value) > 500 else value)
        for key, value in input_summary.items()
    }
    return trimmed


def record(session: Session, **fields: Any) -> HistoryRecord:
    """Append one operation to the user's history (``record_fields``'s fields)."""
    row = HistoryRecord(**record_fields(**fields))
    session.add(row)
    session.flush()
    return row


def record_fields(
    *,
    user_id: int,
    type: str,
    model: str = "",
    voice: str = "",
    input_summary: dict[str, Any] | None = None,
    output_key: str | None = None,
    output_text: str | None = None,
    duration_ms: int | None = None,
    characters: int | None = None,
    cost_micros: int = 0,
    status: str = "succeeded",
    error: str | None = None,
    api_key_id: int | None = None,
    request_id: str = "",
    latency_ms: int | None = None,
    job_id: str | None = None,
) -> dict[str, Any]:
    """The checked fields of a history row, not yet written (``record``, or
    ``DriverConnection.insert(HistoryRecord, ...)`` inside a settlement)."""
    if type not in RECORD_TYPES:
        raise ValueError(f"unknown history type {type!r}")
    if status not in RECORD_STATUSES:
        raise ValueError(f"unknown history status {status!r}")
    return {
        "user_id": user_id,
        "type": type,
        "model": model[:64],
        "voice": voice[:128],
        "input_summary": _summary(input_summary or {}),
        "output_key": output_key,
        "output_text": output_text,
        "duration_ms": duration_ms,
        "characters": characters,
        "cost_micros": cost_micros,
        "status": status,
        "error": error[:500] if error else None,
        "api_key_id": api_key_id,
        "request_id": request_id[:64],
        "latency_ms": latency_ms,
        "job_id": job_id,
    }


def update_record(session: Session, record_id: int, **changes: Any) -> HistoryRecord:
    """Fill in what an async operation learned later (status, output, cost)."""
    row = session.get(HistoryRecord, record_id)
    if row is None:
        raise NotFoundError("Record not found")
    for name, value in changes.items():
        if not hasattr(row, name) or name in {"id", "user_id", "created_at"}:
            raise ValueError(f"cannot change {name}")
        setattr(row, name, value)
    session.add(row)
    session.flush()
    return row


def get_owned_record(session: Session, *, user_id: int, record_id: int) -> HistoryRecord:
    row = session.get(HistoryRecord, record_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError("Record not found", code="RECORD_NOT_FOUND")
    return row


def delete_record(
    session: Session, *, user_id: int, record_id: int, store: ObjectStore | None = None
) -> None:
    """Remove one of the user's records (and, given ``store``, the audio it produced).

    Only history goes: the ledger entries of the operation stay, so the balance and every past
    charge are unchanged. A record whose job is still queued or running is refused, because
    the job fills that record in when it ends.
    """
    row = get_owned_record(session, user_id=user_id, record_id=record_id)
    if row.status in ("pending", "running"):
        raise ConflictError("This operation is still running", code="RECORD_IN_PROGRESS")
    output_key = row.output_key
    session.delete(row)
    session.flush()
    if store is not None and output_key:
        try:
            delete_owned_object(session, store, user_id=user_id, key=output_key)
        except NotFoundError:
            pass  # already gone, or never recorded as the user's: nothing of theirs to remove


def _conditions(
    user_id: int,
    types: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    api_key_id: int | None = None,
) -> list[ColumnElement[bool]]:
    for record_type in types:
        if record_type not in RECORD_TYPES:
            raise InvalidInputError(f"type must be one of {', '.join(RECORD_TYPES)}", param="type")
    conditions: list[ColumnElement[bool]] = [col(HistoryRecord.user_id) == user_id]
    if types:
        conditions.append(col(HistoryRecord.type).in_(list(types)))
    if since is not None:
        conditions.append(col(HistoryRecord.created_at) >= since)
    if until is not None:
        conditions.append(col(HistoryRecord.created_at) < until)
    if api_key_id is not None:
        conditions.append(col(HistoryRecord.api_key_id) == api_key_id)
    return conditions


def list_records(
    session: Session,
    *,
    user_id: int,
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    api_key_id: int | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[HistoryRecord], int]:
    """One page of a user's records, newest first, and the total matching."""
    conditions = _conditions(user_id, types, since, until, api_key_id)
    total = session.execute(
        select(func.count()).select_from(HistoryRecord).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(HistoryRecord)
        .where(*conditions)
        .order_by(col(HistoryRecord.created_at).desc(), col(HistoryRecord.id).desc())
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


def _group_column(group_by: UsageGroup) -> Any:
    """The column usage is grouped by: a type, a model, or an API key (None = console)."""
    column = {
        "type": col(HistoryRecord.type),
        "model": col(HistoryRecord.model),
        "key": col(HistoryRecord.api_key_id),
    }.get(group_by)
    if column is None:
        raise InvalidInputError("group_by must be type, model or key", param="group_by")
    return column


def _succeeded(
    user_id: int, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """A user's succeeded operations in a period: only they count as usage."""
    conditions = _conditions(user_id, (), since, until)
    conditions.append(col(HistoryRecord.status) == "succeeded")
    return conditions


def _usage_sums() -> tuple[Any, Any, Any, Any]:
    """calls, characters, duration (ms) and cost (µ¥) of a group, 0 for none."""
    return (
        func.count(),
        func.coalesce(func.sum(col(HistoryRecord.characters)), 0),
        func.coalesce(func.sum(col(HistoryRecord.duration_ms)), 0),
        func.coalesce(func.sum(col(HistoryRecord.cost_micros)), 0),
    )


@dataclass(frozen=True)
class UsageRow:
    """One day of usage for one group (a type, a model, or an API key; None = console)."""

    day: str
    group: str | int | None
    calls: int
    characters: int
    duration_ms: int
    cost_micros: int


def daily_usage(
    session: Session,
    *,
    user_id: int,
    since: datetime,
    until: datetime | None = None,
    group_by: UsageGroup = "type",
) -> list[UsageRow]:
    """Succeeded operations per UTC day and group, oldest day first (for charts)."""
    group_column = _group_column(group_by)
    # date() exists on both SQLite and PostgreSQL; CAST(... AS DATE) does not work on SQLite.
    day = func.date(col(HistoryRecord.created_at)).label("day")
    rows = session.execute(
        select(day, group_column, *_usage_sums())
        .where(*_succeeded(user_id, since, until))
        .group_by(day, group_column)
        .order_by(day)
    ).all()
    return [
        UsageRow(str(d), g, int(n), int(chars), int(ms), int(cost))
        for d, g, n, chars, ms, cost in rows
    ]


@dataclass(frozen=True)
class UsageTotal:
    """Succeeded operations of one group (a type, a model, or an API key; None = console)."""

    group: str | int | None
    calls: int
    characters: int
    duration_ms: int
    cost_micros: int


def usage_totals(
    session: Session,
    *,
    user_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: UsageGroup = "model",
) -> list[UsageTotal]:
    """Succeeded operations per group over a period, the costliest group first."""
    group_column = _group_column(group_by)
    calls, characters, duration_ms, cost = _usage_sums()
    rows = session.execute(
        select(group_column, calls, characters, duration_ms, cost)
        .where(*_succeeded(user_id, since, until))
        .group_by(group_column)
        .order_by(cost.desc(), calls.desc())
    ).all()
    return [
        UsageTotal(group, int(n), int(chars), int(ms), int(micros))
        for group, n, chars, ms, micros in rows
    ]
