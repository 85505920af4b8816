"""Operator use cases: accounts with their balances, credit grants and adjustments, codes.

Both admin doors (``/api/admin`` and the console's admin page) call these, so the rules live
once: every function checks the caller's role itself (an admin session, never an API key),
whatever the door already checked, and each credit change records who made it and why.
Functions take a Session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from api.accounts import service as accounts
from api.accounts.models import User
from api.billing import codes, ledger
from api.errors import InvalidInputError
from api.principal import Principal

MAX_NOTE = 500
MAX_PAGE = 100


@dataclass(frozen=True)
class CreditChange:
    """What a grant or adjustment did: to whom, which kind, by how much, and the new balance."""

    user_id: int
    email: str
    kind: str
    amount_micros: int
    balance_after_micros: int
    note: str


def list_accounts(
    session: Session, admin: Principal, *, query: str = "", offset: int = 0, limit: int = 20
) -> tuple[list[User], int]:
    """One page of accounts (newest first), optionally those whose e-mail contains ``query``."""
    admin.require_admin()
    limit = max(1, min(limit, MAX_PAGE))
    return accounts.list_users(session, query=query.strip(), offset=max(0, offset), limit=limit)


def change_credit(
    session: Session, admin: Principal, *, email: str, amount_micros: int, note: str
) -> CreditChange:
    """Grant credit (a positive amount) or adjust it (negative; never below zero), with a note."""
    admin.require_admin()
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInputError(f"note must be at most {MAX_NOTE} characters", param="note")
    user = accounts.find_user_by_email(session, email)
    assert user.id is not None
    if amount_micros > 0:
        entry = ledger.credit(
            session, user.id, amount_micros, kind="grant", note=note, actor_user_id=admin.user_id
        )
    else:
        entry = ledger.adjust(
            session, user.id, amount_micros, note=note, actor_user_id=admin.user_id
        )
    return CreditChange(
        user_id=user.id,
        email=user.email,
        kind=entry.kind,
        amount_micros=entry.amount_micros,
        balance_after_micros=entry.balance_after_micros,
        note=entry.note,
    )


def mint_codes(
    session: Session,
    admin: Principal,
    *,
    amount_micros: int,
    count: int,
    secret_key: str,
    batch: str = "",
) -> list[str]:
    """Redemption codes worth ``amount_micros`` each; the plaintexts exist only in this answer."""
    admin.require_admin()
    return codes.create_codes(
        session,
        amount_micros=amount_micros,
        count=count,
        secret_key=secret_key,
        created_by=admin.user_id,
        batch=batch.strip(),
    )
