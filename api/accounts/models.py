"""Tables of the accounts domain: users, their console sessions, one-time sign-in tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String
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
