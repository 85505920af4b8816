"""The cloned-voice table: a user's voice made from a sample, and where it is in its lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from api.db import utcnow

DEPLOYING, OK, UNDEPLOYED = "DEPLOYING", "OK", "UNDEPLOYED"
VOICE_STATUSES = (DEPLOYING, OK, UNDEPLOYED)


class ClonedVoice(SQLModel, table=True):
    """``DEPLOYING → OK | UNDEPLOYED`` (seed 001's VoiceStatus); a new sample starts over."""

    __tablename__ = "cloned_voices"
    __table_args__ = (Index("ix_cloned_voices_user_model", "user_id", "target_model"),)

    id: int | None = Field(default=None, primary_key=True)
    voice_id: str = Field(sa_column=Column(String(96), unique=True, nullable=False))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    prefix: str = Field(sa_type=String(10))
    target_model: str = Field(sa_type=String(64))
    status: str = Field(default=DEPLOYING, sa_type=String(10))
    reason: str | None = Field(default=None, sa_type=String(500))
    sample_key: str | None = Field(default=None, sa_type=String(255))
    language_hints: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    base_voice: str = Field(default="", sa_type=String(64))
    profile: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    job_id: str | None = Field(default=None, sa_type=String(36))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
