"""Admin API (administrators' sessions only): users and balances, credit, redemption codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.billing import admin
from api.billing.money import format_yuan, parse_yuan
from api.http.deps import AdminPrincipal, Context
from api.http.errors import documented_errors
from api.http.presenters import envelope, user_public
from api.http.routes.schemas import CodesCreate, CreditChange, Page, PageSize
from api.http.routing import Router

router = Router(
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
        rows, total = admin.list_accounts(
            session, principal, query=q, offset=(page - 1) * page_size, limit=page_size
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
        change = admin.change_credit(
            session, principal, email=body.email, amount_micros=amount, note=body.note
        )
    data = {
        "email": change.email,
        "kind": change.kind,
        "amount": format_yuan(change.amount_micros),
        "balance": format_yuan(change.balance_after_micros),
    }
    return envelope(data)


@router.post("/codes")
def create_codes(body: CodesCreate, principal: AdminPrincipal, context: Context) -> Any:
    """Mint redemption codes; the codes appear in this response only."""
    amount = parse_yuan(body.amount)
    with context.db.write() as session:
        minted = admin.mint_codes(
            session,
            principal,
            amount_micros=amount,
            count=body.count,
            secret_key=context.settings.secret_key,
            batch=body.batch,
        )
    return envelope({"amount": format_yuan(amount), "codes": minted})
