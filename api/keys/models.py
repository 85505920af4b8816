"""The API key table: digest, display hints, limits and lifecycle of each key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from api.db import utcnow


class ApiKey(SQLModel, table=True):
    """An API key; the plaintext is shown once at issue and never stored."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("spent_micros >= 0", name="spent_non_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(sa_type=String(100))
    digest: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    head: str = Field(sa_type=String(8))  # "sk-ab": shown in masked form
    last4: str = Field(sa_type=String(4))
    scopes: str = Field(sa_type=String(100))  # comma-separated, see api.keys.scopes
    spend_cap_micros: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Held plus captured spend through this key; checked against the cap when holding.
    spent_micros: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    rpm_limit: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
