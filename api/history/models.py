"""The history table: one row per billable operation, the read model for history and usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from api.db import utcnow

RECORD_TYPES = ("tts", "asr", "sed", "voice")
# "cancelled": the caller went away first (a stream closed early, a voice re-sampled meanwhile).
RECORD_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")


class HistoryRecord(SQLModel, table=True):
    """What was asked, what came out, what it cost, and through which door."""

    __tablename__ = "history_records"
    __table_args__ = (
        Index("ix_history_records_user_created", "user_id", "created_at"),
        Index("ix_history_records_user_type_created", "user_id", "type", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    type: str = Field(sa_type=String(8))
    model: str = Field(default="", sa_type=String(64))
    voice: str = Field(default="", sa_type=String(128))
    input_summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    output_key: str | None = Field(default=None, sa_type=String(255))
    output_text: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: int | None = None
    characters: int | None = None
    cost_micros: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="succeeded", sa_type=String(10))
    error: str | None = Field(default=None, sa_type=String(500))
    api_key_id: int | None = Field(default=None, index=True)  # None: the console
    request_id: str = Field(default="", sa_type=String(64))
    latency_ms: int | None = None
    job_id: str | None = Field(default=None, sa_type=String(36))
    created_at: datetime = Field(default_factory=utcnow)
