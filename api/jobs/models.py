"""The job table: persisted async work with a lease, in the seed's TaskStatus names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from api.db import utcnow

PENDING, RUNNING, SUCCEEDED, FAILED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED"
TERMINAL = (SUCCEEDED, FAILED)


class Job(SQLModel, table=True):
    """One unit of async work; ``PENDING → RUNNING → SUCCEEDED | FAILED``."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: str = Field(primary_key=True, sa_type=String(36))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(sa_type=String(32))
    status: str = Field(default=PENDING, sa_type=String(10))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    max_attempts: int = 3
    hold_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("holds.id"), index=True)
    )
    history_record_id: int | None = None
    lease_owner: str | None = Field(default=None, sa_type=String(64))
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    run_after: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
