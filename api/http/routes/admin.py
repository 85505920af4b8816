"""Admin API (administrators' sessions only): users and balances, credit, redemption codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.accounts import service as accounts
from api.billing import codes, ledger
from api.billing.money import format_yuan, parse_yuan
from api.http.deps import AdminPrincipal, Context
from api.http.errors import documented_errors
from api.http.presenters import envelope, user_public
from api.http.routes.schemas import CodesCreate, CreditChange, Page, PageSize

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses=documented_errors("envelope", 400, 401, 403, 404, 500),
)


@router.get("/users")
def list_users(
    principal: AdminPrincipal,
    context: Context,
    page: Page = 1,
    page_size: PageSize = 20,
    q: Annotated[str, Query(max_length=320)] = "",
) -> Any:
    """Every account with its balance, newest first; ``q`` filters by e-mail."""
    with context.db.read() as session:
        rows, total = accounts.list_users(
            session, query=q, offset=(page - 1) * page_size, limit=page_size
        )
    return envelope(
        {
            "items": [user_public(u) for u in rows],
            "total": total,
            "page": page,
            "page_size": page_size,
        }
    )


@router.post("/credit")
def change_credit(body: CreditChange, principal: AdminPrincipal, context: Context) -> Any:
    """Grant credit (positive amount) or adjust it (negative; never below zero), with a note."""
    amount = parse_yuan(body.amount, allow_negative=True)
    with context.db.write() as session:
        user = accounts.find_user_by_email(session, body.email)
        assert user.id is not None
        if amount > 0:
            entry = ledger.credit(
                session,
                user.id,
                amount,
                kind="grant",
                note=body.note,
                actor_user_id=principal.user_id,
            )
        else:
            entry = ledger.adjust(
                session, user.id, amount, note=body.note, actor_user_id=principal.user_id
            )
        data = {
            "email": user.email,
            "kind": entry.kind,
            "amount": format_yuan(entry.amount_micros),
            "balance": format_yuan(entry.balance_after_micros),
        }
    return envelope(data)


@router.post("/codes")
def create_codes(body: CodesCreate, principal: AdminPrincipal, context: Context) -> Any:
    """Mint redemption codes; the codes appear in this response only."""
    amount = parse_yuan(body.amount)
    with context.db.write() as session:
        minted = codes.create_codes(
            session,
            amount_micros=amount,
            count=body.count,
            secret_key=context.settings.secret_key,
            created_by=principal.user_id,
            batch=body.batch,
        )
    return envelope({"amount": format_yuan(amount), "codes": minted})
