"""Seed 001 history (``GET /api/audio/history``): the caller's own speech operations, newest
first, paged, in seed 001's AudioHistoryItem shape inside the envelope.

Each item has the seed's common fields (``id``, ``type``, ``model_name``, ``input_data`` — the
input summary as a JSON *string* —, ``duration`` in seconds, ``bill``, ``created_at`` as
``2025-12-30T10:30:00`` UTC) and those of its type: ``output_url`` (tts: a signed link to the
stored audio), ``output_text`` (asr; sed: the top emotion), ``voice_id`` and ``status`` (voice:
DEPLOYING, OK or UNDEPLOYED). Beyond the seed, ``record_status`` says how the operation ended
(succeeded, failed, cancelled — a stream the client left —, pending, running), with ``error``
when it failed, and tts items carry the billed ``characters``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from api.billing.money import format_yuan
from api.history import service as history
from api.history.models import HistoryRecord
from api.http.deps import Context, CurrentPrincipal
from api.http.errors import documented_errors
from api.http.presenters import envelope
from api.http.routes.files import object_store, public_base_url
from api.http.routes.schemas import Page, PageSize
from api.http.routing import Router
from api.storage.base import ObjectStore
from api.storage.service import object_url

router = Router(prefix="/api/audio", tags=["audio: history"])

RecordType = Literal["tts", "asr", "voice", "sed"]
# A voice's enrolment record: the voice status it ended with, else its status while under way.
VOICE_STATUSES = {"pending": "DEPLOYING", "running": "DEPLOYING", "failed": "UNDEPLOYED"}


class AudioHistoryItem(BaseModel):
    id: int
    type: str
    model_name: str
    input_data: str
    output_url: str | None = None
    output_text: str | None = None
    voice_id: str | None = None
    status: str | None = None
    characters: int | None = None
    duration: float | None
    bill: str
    record_status: str
    error: str | None = None
    created_at: str


class AudioHistoryPage(BaseModel):
    items: list[AudioHistoryItem]
    total: int
    page: int
    page_size: int


class AudioHistoryEnvelope(BaseModel):
    code: int
    message: str
    data: AudioHistoryPage


def seed_datetime(moment: datetime) -> str:
    """``2025-12-30T10:30:00`` (UTC, as the seed writes it)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def history_item(row: HistoryRecord, output_url: str | None) -> dict[str, Any]:
    """One record in seed 001's AudioHistoryItem shape (the fields of its type only)."""
    item: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "model_name": row.model,
        "input_data": json.dumps(row.input_summary or {}, ensure_ascii=False),
    }
    if row.type == "tts":
        item["output_url"] = output_url
        item["characters"] = row.characters
    elif row.type in ("asr", "sed"):
        item["output_text"] = row.output_text
    elif row.type == "voice":
        item["voice_id"] = row.voice
        item["status"] = row.output_text or VOICE_STATUSES.get(row.status, row.status.upper())
    item["duration"] = None if row.duration_ms is None else row.duration_ms / 1000
    item["bill"] = format_yuan(row.cost_micros)
    item["record_status"] = row.status
    if row.error:
        item["error"] = row.error
    item["created_at"] = seed_datetime(row.created_at)
    return item


@router.get(
    "/history",
    responses={
        200: {"model": AudioHistoryEnvelope},
        **documented_errors("envelope", 400, 401, 403, 429),
    },
)
def list_audio_history(
    request: Request,
    principal: CurrentPrincipal,
    context: Context,
    store: Annotated[ObjectStore, Depends(object_store)],
    page: Page = 1,
    page_size: PageSize = 20,
    type: Annotated[RecordType | None, Query(description="tts, asr, voice or sed")] = None,
) -> Any:
    """Your speech operations newest first (tts, asr, voice, sed), paged, in seed 001's shape."""
    principal.require_scope("history")
    with context.db.read() as session:
        rows, total = history.list_records(
            session,
            user_id=principal.user_id,
            types=(type,) if type else (),
            offset=(page - 1) * page_size,
            limit=page_size,
        )
    base_url = public_base_url(request)
    items = [
        history_item(
            row,
            object_url(store, row.output_key, base_url=base_url)
            if row.type == "tts" and row.output_key
            else None,
        )
        for row in rows
    ]
    return envelope({"items": items, "total": total, "page": page, "page_size": page_size})
