"""Billing API (seed 001 envelope): ledger, daily usage, redeeming a code."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query

from api.billing import codes, ledger
from api.billing.models import ENTRY_KINDS
from api.billing.money import format_yuan
from api.db import utcnow
from api.errors import InvalidInputError
from api.history import service as history
from api.http.deps import Context, CurrentPrincipal, SessionPrincipal
from api.http.errors import documented_errors
from api.http.presenters import entry_public, envelope
from api.http.routes.schemas import Page, PageSize, Redeem
from api.http.routing import Router
from api.ratelimit import enforce

router = Router(
    prefix="/api/billing",
    tags=["billing"],
    responses=documented_errors("envelope", 400, 401, 403, 404, 429, 500),
)

REDEEM_ATTEMPTS_PER_HOUR = 20


def day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


@router.get("/ledger")
def list_ledger(
    principal: CurrentPrincipal,
    context: Context,
    page: Page = 1,
    page_size: PageSize = 20,
    kind: Annotated[list[str] | None, Query(max_length=10)] = None,
    since: date | None = None,
    until: date | None = None,
) -> Any:
    """Ledger entries, newest first; filter by kind and by UTC date (``until`` inclusive)."""
    principal.require_scope("history")
    for value in kind or []:
        if value not in ENTRY_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(ENTRY_KINDS)}", param="kind")
    end = None if until is None else day_start(until + timedelta(days=1))
    with context.db.read() as session:
        rows, total = ledger.list_entries(
            session,
            principal.user_id,
            kinds=kind or (),
            since=day_start(since),
            until=end,
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        balance = ledger.balance_of(session, principal.user_id)
    return envelope(
        {
            "items": [entry_public(e) for e in rows],
            "total": total,
            "page": page,
            "page_size": page_size,
            "balance": format_yuan(balance),
        }
    )


@router.get("/usage")
def usage(
    principal: CurrentPrincipal,
    context: Context,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    group_by: Literal["type", "model", "key"] = "type",
) -> Any:
    """Succeeded operations per UTC day for the last ``days`` days, grouped for charts."""
    principal.require_scope("history")
    today = utcnow().date()
    since = day_start(today - timedelta(days=days - 1))
    assert since is not None
    with context.db.read() as session:
        rows = history.daily_usage(
            session, user_id=principal.user_id, since=since, group_by=group_by
        )
    return envelope(
        {
            "group_by": group_by,
            "since": since.date().isoformat(),
            "days": [
                {
                    "day": row.day,
                    "group": row.group,
                    "calls": row.calls,
                    "characters": row.characters,
                    "seconds": row.duration_ms / 1000,
                    "cost": format_yuan(row.cost_micros),
                }
                for row in rows
            ],
            "total_cost": format_yuan(sum(row.cost_micros for row in rows)),
            "total_calls": sum(row.calls for row in rows),
        }
    )


@router.post("/redeem")
def redeem(body: Redeem, principal: SessionPrincipal, context: Context) -> Any:
    """Redeem a code; its value is added to the balance once."""
    enforce(
        context.limiter.hit(
            f"redeem:user:{principal.user_id}", limit=REDEEM_ATTEMPTS_PER_HOUR, window=3600
        ),
        "Too many redemption attempts; try again later",
    )
    with context.db.write() as session:
        entry = codes.redeem(
            session,
            user_id=principal.user_id,
            code=body.code,
            secret_key=context.settings.secret_key,
        )
        data = {
            "amount": format_yuan(entry.amount_micros),
            "balance": format_yuan(entry.balance_after_micros),
        }
    return envelope(data)
