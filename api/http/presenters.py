"""Turn domain rows into the JSON shapes of the account API (money as 4-decimal strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.accounts.models import User
from api.accounts.service import AccountSummary
from api.billing.models import LedgerEntry
from api.billing.money import format_yuan
from api.db import utcnow
from api.history.models import HistoryRecord
from api.keys.models import ApiKey
from api.keys.service import mask


def iso(moment: datetime | None) -> str | None:
    """``2026-11-22T03:56:31Z``: UTC, second precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def envelope(data: Any = None, message: str = "success") -> dict[str, Any]:
    """Seed 001's success envelope."""
    return {"code": 200, "message": message, "data": data}


def user_public(user: User | AccountSummary) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "balance": format_yuan(user.balance_micros),
        "created_at": iso(user.created_at),
    }


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"


def key_public(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "key_masked": mask(key.head, key.last4),
        "scopes": key.scopes.split(","),
        "status": key_status(key),
        "spend_cap": None if key.spend_cap_micros is None else format_yuan(key.spend_cap_micros),
        "spent": format_yuan(key.spent_micros),
        "rpm_limit": key.rpm_limit,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
    }


def entry_public(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "amount": format_yuan(entry.amount_micros),
        "balance_after": format_yuan(entry.balance_after_micros),
        "hold_id": entry.hold_id,
        "api_key_id": entry.api_key_id,
        "note": entry.note,
        "created_at": iso(entry.created_at),
    }


def record_public(row: HistoryRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "model": row.model,
        "voice": row.voice,
        "input": row.input_summary,
        "output_key": row.output_key,
        "output_text": row.output_text,
        "duration": None if row.duration_ms is None else row.duration_ms / 1000,
        "characters": row.characters,
        "bill": format_yuan(row.cost_micros),
        "status": row.status,
        "error": row.error,
        "api_key_id": row.api_key_id,
        "source": "api" if row.api_key_id is not None else "console",
        "request_id": row.request_id,
        "latency_ms": row.latency_ms,
        "job_id": row.job_id,
        "created_at": iso(row.created_at),
    }
