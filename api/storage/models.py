"""The stored-object table: who owns each object key, so access can be checked by owner."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from api.db import utcnow


class StoredObject(SQLModel, table=True):
    """One object in the store, with its owner (None for platform-owned objects)."""

    __tablename__ = "stored_objects"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(255), unique=True, nullable=False))
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True),
    )
    kind: str = Field(sa_type=String(16))
    content_type: str = Field(default="application/octet-stream", sa_type=String(100))
    size_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
