"""Seed 001 speech recognition (``/api/audio/asr``): models, sync recognition, file transcription
tasks, in the ``{"code","message","data"}`` envelope.

Audio comes as an uploaded file (multipart), base64 or a URL (JSON); a URL is fetched through the
SSRF-safe fetcher. Sync recognition takes the sync models (≤ 60 s of audio for qwen3-asr-flash,
AUDIO_TOO_LONG beyond), long files go to ``transcribe`` and the async model; its task is read
back with ``task/{task_id}``. Prices, limits and ownership live in ``api/speech``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.billing.money import format_yuan
from api.catalog.catalog import ModelSpec
from api.errors import InvalidInputError, NotFoundError
from api.history import service as history
from api.http.errors import documented_errors
from api.http.forms import body_docs, parse_body
from api.http.presenters import envelope
from api.http.routes.files import public_base_url
from api.http.routing import Router
from api.http.speech import USAGE_HEADERS, Speech, SpeechCall, decode_base64_audio, fetch_audio
from api.jobs.models import FAILED, SUCCEEDED, Job
from api.jobs.service import get_owned_job
from api.speech.recognition import (
    DEFAULT_MAX_FILE_MB,
    LANGUAGES,
    RecognitionOrder,
    RecognitionResult,
    recognize,
)
from api.speech.transcription import TRANSCRIBE, Submitted, submit_transcription
from api.storage.service import object_url

router = Router(prefix="/api/audio", tags=["audio: speech recognition"])

SCOPE = "asr"
MAX_CONTEXT_CHARS = 40_000  # the seed's "≤ 10000 tokens", generously in characters
TaskId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")]
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_OR_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_USAGE_HEADER_DOCS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in USAGE_HEADERS.items()
}


def seed_time(moment: datetime | None) -> str | None:
    """Seed 001's timestamps: ``2025-01-01 10:00:00`` (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


# --- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RecognizeForm(_Body):
    """The multipart fields of ``asr/recognize`` (plus the ``file`` part)."""

    model: str = Field(max_length=100, description="qwen3-asr-flash or qwen-audio-asr")
    language: str | None = Field(
        default=None, max_length=8, description=f"One of {', '.join(LANGUAGES)}; omit to detect"
    )
    enable_itn: bool = Field(default=False, description="Inverse text normalisation (zh, en)")
    context: str | None = Field(
        default=None, max_length=MAX_CONTEXT_CHARS, description="Context prompt (domain words)"
    )


class RecognizeJson(RecognizeForm):
    """The JSON body of ``asr/recognize``: exactly one of ``audio_url`` and ``audio_base64``."""

    audio_url: str | None = Field(default=None, max_length=4096, description="Audio file URL")
    audio_base64: str | None = Field(
        default=None, description="Base64 audio (a data: URL prefix is allowed)"
    )


class TranscribeForm(_Body):
    """The multipart fields of ``asr/transcribe`` (plus the ``file`` part)."""

    model: str = Field(max_length=100, description="qwen3-asr-flash-filetrans")
    language: str | None = Field(default=None, max_length=8, description="Language; omit to detect")
    enable_itn: bool = Field(default=False, description="Inverse text normalisation (zh, en)")
    context: str | None = Field(default=None, max_length=MAX_CONTEXT_CHARS)
    channel_id: list[int] = Field(
        default_factory=lambda: [0],
        max_length=16,
        description="Audio tracks to transcribe (offline: 0, the mixed-down audio)",
    )


class TranscribeJson(TranscribeForm):
    """The JSON body of ``asr/transcribe``."""

    file_url: str | None = Field(
        default=None, max_length=4096, description="Audio file URL (required in JSON)"
    )


# --- routes ---------------------------------------------------------------------------------


@router.get(
    "/asr/models",
    responses=documented_errors("envelope", 401, 403, 429),
)
async def list_asr_models(call: Speech) -> Any:
    """The speech recognition models (sync: recognize, async: transcribe), with their engine."""
    call.caller.require(SCOPE)
    return envelope([_model_info(model) for model in call.ctx.catalog.models("asr")])


def _model_info(model: ModelSpec) -> dict[str, Any]:
    public = model.public()
    return {
        "model_id": model.id,
        "model_name": model.name,
        "description": model.description,
        "call_type": model.call_type,
        "features": list(model.features),
        "engine": public["engine"],
        "provider": public["provider"],
        "price": public["price"],
        "max_audio_seconds": model.limits.max_audio_seconds,
    }


@router.post(
    "/asr/recognize",
    openapi_extra=body_docs(
        RecognizeJson,
        RecognizeForm,
        json_example={
            "model": "qwen3-asr-flash",
            "audio_url": "https://your-bucket.oss-cn-beijing.aliyuncs.com/audio/input.mp3",
            "language": "zh",
            "enable_itn": True,
        },
    ),
    responses={
        200: {"description": "The transcript, billed per second", "headers": _USAGE_HEADER_DOCS},
        **documented_errors("envelope", 400, 401, 403, 413, 415, 429, 500, 502, 503, 504),
    },
)
async def recognize_audio(request: Request, call: Speech) -> Any:
    """Recognise short audio (sync models, ≤ 60 s) sent as a file, base64 or a URL."""
    call.caller.require(SCOPE)
    parsed = await parse_body(
        request, RecognizeJson, file_limit=lambda body: _file_limit(call, body.model)
    )
    body = parsed.fields
    model = _model(call, body.model, "sync")
    sources = [
        name
        for name, given in (
            ("file", parsed.file is not None),
            ("audio_url", body.audio_url),
            ("audio_base64", body.audio_base64),
        )
        if given
    ]
    if len(sources) != 1:
        wanted = "file" if parsed.multipart else "audio_url or audio_base64"
        raise InvalidInputError(f"Send exactly one audio source: {wanted}", param=wanted)
    limit = _file_limit(call, model.id)
    source: dict[str, Any]
    if parsed.file is not None:
        data, source = parsed.file, {"file": parsed.filename or "upload", "bytes": len(parsed.file)}
    elif body.audio_url:
        data = await fetch_audio(call, body.audio_url, _fetch_limit(call, limit))
        source = {"audio_url": body.audio_url[:300]}
    else:
        data = decode_base64_audio(body.audio_base64 or "", limit)
        source = {"audio_base64": True, "bytes": len(data)}
    order = RecognitionOrder(
        model=model.id,
        language=body.language,
        prompt=body.context or None,
        with_emotion=True,
        source={**source, "enable_itn": body.enable_itn},
    )
    result: RecognitionResult = await call.run(recognize, call.ctx, call.caller, data, order)
    seconds = math.ceil(result.duration_ms / 1000)
    text = result.transcript.text
    data_out = {
        "text": text,
        "language": result.transcript.language,
        "emotion": result.emotion.top if result.emotion else "neutral",
        "duration": seconds,
        "usage": {"input_tokens": 0, "output_tokens": _tokens(text), "seconds": seconds},
        "bill": format_yuan(result.cost_micros),
        "record_id": result.record_id,
    }
    headers = await call.usage_headers(
        cost_micros=result.cost_micros,
        duration_ms=result.duration_ms,
        balance_micros=result.balance_micros,
    )
    return _json(envelope(data_out), headers)


@router.post(
    "/asr/transcribe",
    openapi_extra=body_docs(
        TranscribeJson,
        TranscribeForm,
        file_description="The audio file (a convenience: the seed sends file_url)",
        json_example={
            "model": "qwen3-asr-flash-filetrans",
            "file_url": "https://your-bucket.oss-cn-beijing.aliyuncs.com/audio/long-audio.mp3",
            "language": "zh",
            "enable_itn": True,
        },
    ),
    responses=documented_errors("envelope", 400, 401, 403, 413, 415, 429, 503, 504),
)
async def transcribe_file(request: Request, call: Speech) -> Any:
    """Queue a long-audio transcription task (async model); poll it at asr/task/{task_id}."""
    call.caller.require(SCOPE)
    parsed = await parse_body(
        request, TranscribeJson, file_limit=lambda body: _file_limit(call, body.model)
    )
    body = parsed.fields
    model = _model(call, body.model, "async")
    if set(body.channel_id) - {0}:
        raise InvalidInputError(
            "Only channel_id 0 (all tracks mixed down) is supported", param="channel_id"
        )
    if (parsed.file is None) == (not body.file_url):
        wanted = "file" if parsed.multipart else "file_url"
        raise InvalidInputError(f"Send exactly one audio source: {wanted}", param=wanted)
    source: dict[str, Any]
    if parsed.file is not None:
        data, source = parsed.file, {"file": parsed.filename or "upload", "bytes": len(parsed.file)}
    else:
        limit = _fetch_limit(call, _file_limit(call, model.id))
        data = await fetch_audio(call, body.file_url or "", limit, param="file_url")
        source = {"file_url": (body.file_url or "")[:300]}
    order = RecognitionOrder(
        model=model.id,
        language=body.language,
        prompt=body.context or None,
        with_emotion=True,
        source={**source, "enable_itn": body.enable_itn, "channel_id": [0]},
    )
    submitted: Submitted = await call.run(submit_transcription, call.ctx, call.caller, data, order)
    return envelope(
        {
            "task_id": submitted.job_id,
            "task_status": submitted.status,
            "record_id": submitted.record_id,
        }
    )


@router.get(
    "/asr/task/{task_id}",
    responses=documented_errors("envelope", 400, 401, 403, 404, 429),
)
async def get_task(task_id: TaskId, request: Request, call: Speech) -> Any:
    """A transcription task: PENDING → RUNNING → SUCCEEDED (with the transcript) | FAILED."""
    call.caller.require(SCOPE)
    job, bill_micros = await call.run(_owned_task, call, task_id)
    data: dict[str, Any] = {
        "task_id": job.id,
        "task_status": job.status,
        "submit_time": seed_time(job.created_at),
    }
    if job.started_at is not None:
        data["scheduled_time"] = seed_time(job.started_at)
    if job.finished_at is not None:
        data["end_time"] = seed_time(job.finished_at)
    if job.status == SUCCEEDED and job.result:
        result = job.result
        url = object_url(
            call.ctx.store,
            str(result["transcription_key"]),
            base_url=public_base_url(request),
            expires_in=call.app.settings.signed_url_ttl_seconds,
        )
        data["result"] = {"transcription_url": url, "transcripts": result.get("transcripts", [])}
        data["usage"] = result.get("usage", {})
        data["bill"] = format_yuan(bill_micros)
    elif job.status == FAILED:
        data["message"] = job.error or "The transcription failed"
        data["bill"] = format_yuan(0)
    return envelope(data)


def _owned_task(call: SpeechCall, task_id: str) -> tuple[Job, int]:
    """The caller's transcription job and what it cost (other jobs are not ASR tasks: 404)."""
    with call.app.db.read() as session:
        job = get_owned_job(session, user_id=call.caller.user_id, job_id=task_id)
        if job.kind != TRANSCRIBE:
            raise NotFoundError("Task not found", code="TASK_NOT_FOUND")
        record_id = job.history_record_id or job.payload.get("record_id")
        cost = 0
        if record_id is not None and job.status == SUCCEEDED:
            row = history.get_owned_record(
                session, user_id=call.caller.user_id, record_id=int(record_id)
            )
            cost = row.cost_micros
    return job, cost


# --- helpers --------------------------------------------------------------------------------


def _model(call: SpeechCall, model_id: str, call_type: Literal["sync", "async"]) -> ModelSpec:
    model = call.ctx.catalog.model(model_id, kind="asr")
    if model.call_type != call_type:
        route = "asr/transcribe" if model.call_type == "async" else "asr/recognize"
        raise InvalidInputError(
            f"{model.id} is a {model.call_type} model: use POST /api/audio/{route}",
            code="INVALID_MODEL",
            param="model",
        )
    return model


def _file_limit(call: SpeechCall, model_id: str) -> int:
    """The model's file size limit (INVALID_MODEL for an unknown model, before any upload)."""
    model = call.ctx.catalog.model(model_id, kind="asr")
    return model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024


def _fetch_limit(call: SpeechCall, limit: int) -> int:
    return min(limit, call.app.settings.fetch_max_bytes)


def _tokens(text: str) -> int:
    """Output tokens as seed 001 shows them: CJK characters and other words."""
    return len(_CJK_OR_WORD.findall(text))


def _json(content: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(content, headers=headers)
