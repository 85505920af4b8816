"""Tables of the accounts domain: users, console sessions, sign-in tickets, own provider keys."""

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

ROLE_USER = "user"
ROLE_ADMIN = "admin"
ROLES = (ROLE_USER, ROLE_ADMIN)


class User(SQLModel, table=True):
    """A person with a console login and a prepaid balance in µ¥ (cache of the ledger sum)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("balance_micros >= 0", name="balance_non_negative"),
        CheckConstraint("role IN ('user', 'admin')", name="role_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    password_hash: str = Field(sa_type=String(255))
    role: str = Field(default=ROLE_USER, sa_type=String(16))
    is_active: bool = True
    display_name: str = Field(default="", sa_type=String(100))
    locale: str = Field(default="", sa_type=String(16))
    balance_micros: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)


def _user_fk() -> Column[int]:
    return Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser or API client; only the digest of its token is stored."""

    __tablename__ = "console_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    token_digest: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    ip: str = Field(default="", sa_type=String(64))
    user_agent: str = Field(default="", sa_type=String(255))


class SignInTicket(SQLModel, table=True):
    """A one-time, short-lived proof of a sign-in made in the console's event handler.

    The console validates credentials in-process but cannot set an HttpOnly cookie over its
    websocket; the browser trades this ticket at an HTTP route that sets the cookie.
    """

    __tablename__ = "sign_in_tickets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    ticket_digest: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    expires_at: datetime
    used_at: datetime | None = None
    ip: str = Field(default="", sa_type=String(64))
    user_agent: str = Field(default="", sa_type=String(255))


class ProviderKey(SQLModel, table=True):
    """A user's own API key for a hosted provider (seed 001's bring-your-own-key models).

    Only the sealed form is stored (``api.security.seal``, bound to the user and provider), and
    the last four characters for the settings page; the key is never shown back.
    """

    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("user_id", "provider", name="uq_provider_keys_user"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_user_fk())
    provider: str = Field(sa_type=String(32))
    sealed: str = Field(sa_type=String(1024))
    last4: str = Field(sa_type=String(4))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
