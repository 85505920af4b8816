"""History API (seed 001 envelope): the caller's operations, paged, and one record by id."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Query

from api.history import service as history
from api.http.deps import Context, CurrentPrincipal
from api.http.errors import documented_errors
from api.http.presenters import envelope, record_public
from api.http.routes.billing import day_start
from api.http.routes.schemas import ObjectId, Page, PageSize
from api.http.routing import Router

router = Router(
    prefix="/api/history",
    tags=["history"],
    responses=documented_errors("envelope", 400, 401, 403, 404, 500),
)


@router.get("")
def list_history(
    principal: CurrentPrincipal,
    context: Context,
    page: Page = 1,
    page_size: PageSize = 20,
    type: Annotated[list[str] | None, Query(max_length=4)] = None,
    since: date | None = None,
    until: date | None = None,
) -> Any:
    """Operations newest first; filter by type (tts, asr, sed, voice) and UTC date range."""
    principal.require_scope("history")
    end = None if until is None else day_start(until + timedelta(days=1))
    with context.db.read() as session:
        rows, total = history.list_records(
            session,
            user_id=principal.user_id,
            types=type or (),
            since=day_start(since),
            until=end,
            offset=(page - 1) * page_size,
            limit=page_size,
        )
    return envelope(
        {
            "items": [record_public(r) for r in rows],
            "total": total,
            "page": page,
            "page_size": page_size,
        }
    )


@router.get("/{record_id}")
def get_record(record_id: ObjectId, principal: CurrentPrincipal, context: Context) -> Any:
    """One operation of the caller's (someone else's id is a 404)."""
    principal.require_scope("history")
    with context.db.read() as session:
        row = history.get_owned_record(session, user_id=principal.user_id, record_id=record_id)
    return envelope(record_public(row))
