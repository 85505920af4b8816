"""Redemption codes: an admin mints N codes of ¥X; each can be redeemed once, by one user.

Codes are bearer secrets worth money, so only their keyed digest is stored and the plaintext is
shown once to whoever minted them. The format ``AMP-XXXX-XXXX-XXXX-XXXX`` uses Crockford's
base32 (no I, L, O, U) for 80 random bits that survive being read aloud or retyped.
"""

from __future__ import annotations

import secrets

from sqlalchemy import update
from sqlmodel import Session, col

from api.billing import ledger
from api.billing.models import LedgerEntry, RedemptionCode
from api.db import utcnow
from api.errors import InvalidInputError
from api.security import keyed_digest

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_CODES_PER_BATCH = 1000


def _new_code() -> str:
    body = "".join(secrets.choice(CROCKFORD) for _ in range(16))
    return "AMP-" + "-".join(body[i : i + 4] for i in range(0, 16, 4))


def normalize_code(text: str) -> str:
    """Upper-case, drop spaces, map look-alikes (O→0, I/L→1) the way Crockford intends."""
    cleaned = text.strip().upper().replace(" ", "").translate(str.maketrans("OIL", "011"))
    return cleaned


def create_codes(
    session: Session,
    *,
    amount_micros: int,
    count: int,
    secret_key: str,
    created_by: int | None = None,
    batch: str = "",
) -> list[str]:
    """Mint ``count`` codes worth ``amount_micros`` each; returns the plaintexts (shown once)."""
    if amount_micros <= 0:
        raise InvalidInputError("amount must be positive", param="amount")
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise InvalidInputError(f"count must be between 1 and {MAX_CODES_PER_BATCH}", param="count")
    codes = [_new_code() for _ in range(count)]
    for code in codes:
        session.add(
            RedemptionCode(
                code_digest=keyed_digest(secret_key, code),
                last4=code[-4:],
                amount_micros=amount_micros,
                batch=batch[:64],
                created_by=created_by,
            )
        )
    session.flush()
    return codes


def redeem(session: Session, *, user_id: int, code: str, secret_key: str) -> LedgerEntry:
    """Credit the code's amount to ``user_id``; an unknown, used or expired code is refused."""
    if not isinstance(code, str) or not 4 <= len(code) <= 64:
        raise InvalidInputError("Invalid or already used code", code="INVALID_CODE", param="code")
    digest = keyed_digest(secret_key, normalize_code(code))
    now = utcnow()
    claimed = session.execute(
        update(RedemptionCode)
        .where(
            col(RedemptionCode.code_digest) == digest,
            col(RedemptionCode.redeemed_by).is_(None),
            (col(RedemptionCode.expires_at).is_(None)) | (col(RedemptionCode.expires_at) > now),
        )
        .values(redeemed_by=user_id, redeemed_at=now)
        .returning(
            col(RedemptionCode.id), col(RedemptionCode.amount_micros), col(RedemptionCode.last4)
        )
    ).one_or_none()
    if claimed is None:
        # One answer for unknown and used codes: nothing to learn by probing.
        raise InvalidInputError("Invalid or already used code", code="INVALID_CODE", param="code")
    code_id, amount, last4 = claimed
    return ledger.credit(
        session,
        user_id,
        int(amount),
        kind="redeem",
        idempotency_key=f"redeem:{code_id}",
        note=f"code …{last4}",
    )
