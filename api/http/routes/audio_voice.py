"""Seed 001 voice cloning and voices (``/api/audio/voice``), in the ``{"code","message","data"}``
envelope: create a cloned voice from a sample (file or URL), list, read, update (new sample or
new prefix) and delete the caller's voices, and list the system voices with their previews.

A new or replaced sample is checked at once (400 INVALID_AUDIO with the reasons) and enrolled by
a job: the voice is DEPLOYING until the job makes it OK or UNDEPLOYED (with the reason). Another
user's voice id is a 404 VOICE_NOT_FOUND. The fixed paths (``system``, ``list``, ``create``) are
declared before ``{voice_id}`` so they are never read as a voice id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.engines.clone import MAX_SAMPLE_BYTES
from api.errors import InvalidInputError
from api.http.errors import documented_errors
from api.http.forms import body_docs, parse_body
from api.http.presenters import envelope
from api.http.routes.audio_asr import seed_time
from api.http.routes.files import public_base_url
from api.http.routing import Router
from api.http.speech import Speech, SpeechCall, fetch_audio
from api.speech import cloning
from api.speech.previews import Preview, voice_preview
from api.storage.service import object_url
from api.voices import service as voices
from api.voices.models import UNDEPLOYED, ClonedVoice

router = Router(prefix="/api/audio", tags=["audio: voices"])

SCOPE = "voice"
VoiceId = Annotated[str, Path(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9._-]+$")]
SystemVoiceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


# --- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateForm(_Body):
    """The multipart fields of ``voice/create`` (plus the ``file`` part, 10–60 s, ≤ 10 MB)."""

    target_model: str = Field(
        max_length=100, description="cosyvoice-v3-plus, cosyvoice-v3-flash or cosyvoice-v2"
    )
    prefix: str = Field(max_length=10, description="Letters, digits and underscores, ≤ 10")
    language_hints: list[str] | None = Field(
        default=None, max_length=10, description="Language hints: en, fr, de, ja, ko, ru …"
    )


class CreateJson(CreateForm):
    """The JSON body of ``voice/create``."""

    audio_url: str | None = Field(
        default=None, max_length=4096, description="Sample URL (or send a file as multipart)"
    )


class UpdateForm(_Body):
    """The multipart fields of a voice update (plus the ``file`` part)."""

    prefix: str | None = Field(
        default=None, max_length=10, description="A new prefix (the voice id stays)"
    )


class UpdateJson(UpdateForm):
    """A voice update: a new sample (``audio_url``), a new ``prefix``, or both."""

    audio_url: str | None = Field(default=None, max_length=4096, description="New sample URL")


def _voice_item(voice: ClonedVoice) -> dict[str, Any]:
    item = {
        "voice_id": voice.voice_id,
        "status": voice.status,
        "target_model": voice.target_model,
        "prefix": voice.prefix,
        "gmt_create": seed_time(voice.created_at),
        "gmt_modified": seed_time(voice.updated_at),
    }
    if voice.status == UNDEPLOYED:
        item["reason"] = voice.reason
    return item


# --- system voices ------------------------------------------------------------------------


@router.get("/voice/system", responses=documented_errors("envelope", 400, 401, 403, 429))
async def list_system_voices(
    call: Speech,
    model: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    language: Annotated[str | None, Query(max_length=50)] = None,
    gender: Annotated[str | None, Query(max_length=10)] = None,
) -> Any:
    """The system voices (filter by model, category, language, gender)."""
    call.caller.require(SCOPE)
    found = call.ctx.catalog.voices(
        model=model, category=category, language=language, gender=gender
    )
    return envelope([voice.public() for voice in found])


@router.get(
    "/voice/system/{voice_id}/preview",
    response_class=Response,
    responses={
        200: {"content": {"audio/mpeg": {}}, "description": "A short greeting in the voice"},
        **documented_errors("envelope", 400, 401, 403, 429, 503),
    },
)
async def preview_system_voice(voice_id: SystemVoiceId, call: Speech) -> Response:
    """A short greeting spoken by a system voice (made once, then cached; free)."""
    call.caller.require(SCOPE)
    preview: Preview = await call.run(voice_preview, call.ctx, voice_id)
    content = await call.run(call.ctx.store.get, preview.key)
    return Response(
        content,
        media_type=preview.content_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --- the caller's voices --------------------------------------------------------------------


@router.get("/voice/list", responses=documented_errors("envelope", 400, 401, 403, 429))
async def list_voices(
    call: Speech,
    prefix: Annotated[str | None, Query(max_length=10)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    """The caller's cloned voices, newest first, by prefix and target model, paged from 0."""
    call.caller.require(SCOPE)
    if model:
        found = call.ctx.catalog.find_model(model)
        model = found.id if found else model

    def page_of_voices() -> tuple[list[ClonedVoice], int]:
        with call.app.db.read() as session:
            return voices.list_voices(
                session,
                user_id=call.caller.user_id,
                prefix=prefix or None,
                model=model or None,
                offset=page * page_size,
                limit=page_size,
            )

    rows, total = await call.run(page_of_voices)
    return envelope({"total": total, "voices": [_voice_item(row) for row in rows]})


@router.post(
    "/voice/create",
    openapi_extra=body_docs(
        CreateJson,
        CreateForm,
        file_description="The voice sample: 10–60 s of one person speaking, ≤ 10 MB",
        json_example={
            "target_model": "cosyvoice-v3-plus",
            "prefix": "myvoice",
            "audio_url": "https://your-bucket.oss-cn-beijing.aliyuncs.com/audio/sample.mp3",
        },
    ),
    responses=documented_errors("envelope", 400, 401, 403, 413, 415, 429, 503, 504),
)
async def create_voice(request: Request, call: Speech) -> Any:
    """Clone a voice from a sample (file or audio_url); DEPLOYING until its check is done."""
    call.caller.require(SCOPE)
    parsed = await parse_body(request, CreateJson, file_limit=MAX_SAMPLE_BYTES)
    body = parsed.fields
    data = await _sample(call, parsed.file, body.audio_url, multipart=parsed.multipart)
    submitted: cloning.VoiceSubmitted = await call.run(
        cloning.create_voice,
        call.ctx,
        call.caller,
        data,
        prefix=body.prefix,
        target_model=body.target_model,
        language_hints=body.language_hints,
    )
    voice = submitted.voice
    return envelope(
        {
            "voice_id": voice.voice_id,
            "status": voice.status,
            "target_model": voice.target_model,
            "record_id": submitted.record_id,
        }
    )


@router.get("/voice/{voice_id}", responses=documented_errors("envelope", 400, 401, 403, 404, 429))
async def get_voice(voice_id: VoiceId, request: Request, call: Speech) -> Any:
    """One of the caller's voices, with a signed link to its sample (others' are 404)."""
    call.caller.require(SCOPE)
    voice = await call.run(_owned_voice, call, voice_id)
    data = _voice_item(voice)
    data["language_hints"] = list(voice.language_hints or [])
    data["resource_link"] = (
        object_url(
            call.ctx.store,
            voice.sample_key,
            base_url=public_base_url(request),
            expires_in=call.app.settings.signed_url_ttl_seconds,
        )
        if voice.sample_key
        else None
    )
    return envelope(data)


@router.put(
    "/voice/{voice_id}",
    openapi_extra=body_docs(
        UpdateJson,
        UpdateForm,
        file_description="A new voice sample (10–60 s, ≤ 10 MB)",
        json_example={
            "audio_url": "https://your-bucket.oss-cn-beijing.aliyuncs.com/audio/sample.mp3"
        },
    ),
    responses=documented_errors("envelope", 400, 401, 403, 404, 413, 415, 429, 503, 504),
)
async def update_voice(voice_id: VoiceId, request: Request, call: Speech) -> Any:
    """Give a voice a new sample (file or audio_url; DEPLOYING again) and/or a new prefix."""
    call.caller.require(SCOPE)
    parsed = await parse_body(request, UpdateJson, file_limit=MAX_SAMPLE_BYTES)
    body = parsed.fields
    has_sample = parsed.file is not None or bool(body.audio_url)
    if not has_sample and not body.prefix:
        raise InvalidInputError(
            "Send a new sample (file or audio_url) or a new prefix", param="audio_url"
        )
    if body.prefix:
        voices.check_prefix(body.prefix)  # refused before the sample is replaced
    voice = await call.run(_owned_voice, call, voice_id)  # 404 before any download
    if has_sample:
        data = await _sample(call, parsed.file, body.audio_url, multipart=parsed.multipart)
        submitted = await call.run(cloning.replace_sample, call.ctx, call.caller, voice_id, data)
        voice = submitted.voice
    if body.prefix:
        voice = await call.run(cloning.rename_voice, call.ctx, call.caller, voice_id, body.prefix)
    return envelope({"voice_id": voice.voice_id, "status": voice.status, "prefix": voice.prefix})


@router.delete(
    "/voice/{voice_id}", responses=documented_errors("envelope", 400, 401, 403, 404, 429)
)
async def delete_voice(voice_id: VoiceId, call: Speech) -> Any:
    """Delete one of the caller's voices and its sample; irreversible."""
    await call.run(cloning.delete_voice, call.ctx, call.caller, voice_id)
    return envelope(None)


# --- helpers --------------------------------------------------------------------------------


def _owned_voice(call: SpeechCall, voice_id: str) -> ClonedVoice:
    with call.app.db.read() as session:
        return voices.get_owned_voice(session, user_id=call.caller.user_id, voice_id=voice_id)


async def _sample(
    call: SpeechCall, file: bytes | None, audio_url: str | None, *, multipart: bool
) -> bytes:
    """The sample's bytes: the uploaded file or the downloaded URL, exactly one of them."""
    if (file is None) == (not audio_url):
        wanted = "file" if multipart else "audio_url"
        raise InvalidInputError(f"Send exactly one voice sample: {wanted}", param=wanted)
    if file is not None:
        return file
    limit = min(MAX_SAMPLE_BYTES, call.app.settings.fetch_max_bytes)
    return await fetch_audio(call, audio_url or "", limit)
