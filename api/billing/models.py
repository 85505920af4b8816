"""Tables of the billing domain: holds, the append-only ledger, redemption codes.

Every amount is an integer number of micro-yuan (µ¥; ¥1 = 1,000,000 µ¥). A ledger entry's
``amount_micros`` is its effect on the balance, so ``users.balance_micros`` always equals the sum
of the user's entries: a hold takes the reserved amount, a capture gives back what was reserved
but not charged, a release gives back the whole hold.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from api.db import utcnow

ENTRY_KINDS = ("signup_bonus", "grant", "redeem", "hold", "capture", "release", "adjustment")
HOLD_HELD, HOLD_CAPTURED, HOLD_RELEASED = "held", "captured", "released"


def _user_fk() -> Column[int]:
    # No index of its own: the table's unique (user_id, idempotency_key) index answers lookups
    # by user and the cascade, and a second index on the money path cost an insert per posting
    # (migration 0005).
    return Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class Hold(SQLModel, table=True):
    """Credit reserved before work starts; resolved exactly once by a capture or a release."""

    __tablename__ = "holds"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_holds_user_key"),
        CheckConstraint("amount_micros >= 0", name="amount_non_negative"),
        CheckConstraint(
            "captured_micros IS NULL OR captured_micros <= amount_micros", name="capture_within"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    api_key_id: int | None = Field(default=None, index=True)
    amount_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    captured_micros: int | None = Field(default=None, sa_column=Column(BigInteger))
    status: str = Field(default=HOLD_HELD, sa_type=String(10))
    idempotency_key: str = Field(sa_type=String(255))
    purpose: str = Field(default="", sa_type=String(64))
    created_at: datetime = Field(default_factory=utcnow)
    settled_at: datetime | None = None


class LedgerEntry(SQLModel, table=True):
    """One immutable change of a balance; corrections are new entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_ledger_entries_user_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    kind: str = Field(sa_type=String(16))
    amount_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    idempotency_key: str | None = Field(default=None, sa_type=String(255))
    hold_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("holds.id"), index=True)
    )
    api_key_id: int | None = None
    actor_user_id: int | None = None  # the admin behind a grant or adjustment
    note: str = Field(default="", sa_type=String(500))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class RedemptionCode(SQLModel, table=True):
    """A code worth a fixed amount, redeemable once; only its digest is stored."""

    __tablename__ = "redemption_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_digest: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    last4: str = Field(sa_type=String(4))
    amount_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    batch: str = Field(default="", sa_type=String(64))
    created_by: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    redeemed_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    redeemed_at: datetime | None = None
