"""Fish open API dialect (seed 004): ``POST /api/open/tts``, with a JSON or MessagePack body.

The body names a voice (``reference_id``: a system voice id or alias, or one of the caller's
cloned voices), the text, and optionally speed (0.5–2.0), volume (−20..20 dB), version (``v1``,
``v2``, ``s1``, ``v3-turbo``, ``v3-hd`` — catalog aliases of the ``fish-*`` models), format
(mp3, wav, pcm), emotion (V3 versions only) and ``cache``. Without ``cache`` the answer is the
audio itself; with it, JSON with a signed link to the stored audio, the characters billed and
the balance left. Errors are ``{"error", "details", "code"}`` (``api.http.errors``); Fish answers
a short balance with 429.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgpack
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import DomainError, InvalidInputError, NotFoundError, PayloadTooLargeError
from api.http.errors import documented_errors
from api.http.routes.tts_common import Spoken, audio_response, file_name, speak, stored_audio_url
from api.http.routing import Router
from api.http.speech import USAGE_HEADERS, Speech, SpeechCall
from api.speech.synthesis import SpeechOrder

router = Router(tags=["Fish open API (seed 004)"])

MAX_BODY_BYTES = 1024 * 1024  # a TTS request is text: 10,000 characters are ~30 KB of UTF-8
JSON_TYPES = ("application/json", "text/json")
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
V3_VERSIONS = ("v3-turbo", "v3-hd")
# The emotions of V3, as the instruction the synthesis order carries to the engine ("auto": none).
EMOTION_INSTRUCTIONS = {
    "happy": "Speak in a happy, cheerful tone.",
    "sad": "Speak in a sad tone.",
    "angry": "Speak in an angry tone.",
    "fearful": "Speak in a fearful tone.",
    "disgusted": "Speak in a disgusted tone.",
    "surprised": "Speak in a surprised tone.",
    "calm": "Speak in a calm tone.",
    "fluent": "Speak fluently and naturally.",
}
# Our use cases name these fields after other dialects; Fish callers know them by these names.
FISH_PARAMS = {"voice": "reference_id", "model": "version", "volume": "volume", "text": "text"}

Version = Literal["v1", "v2", "s1", "v3-turbo", "v3-hd"]
FishEmotion = Literal[
    "happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm", "fluent", "auto"
]


class FishSpeechRequest(BaseModel):
    """Seed 004's TTS body; unknown fields are ignored and ``null`` means the default."""

    model_config = ConfigDict(extra="ignore")

    reference_id: str = Field(min_length=1, max_length=200, description="Voice model id")
    text: str = Field(description="The text to speak")
    speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking rate, 0.5–2.0")
    volume: float = Field(default=0.0, ge=-20, le=20, description="Gain in dB, −20..20")
    version: Version = Field(default="v1", description="TTS version")
    format: Literal["mp3", "wav", "pcm"] = Field(default="mp3", description="Audio format")
    emotion: FishEmotion = Field(default="auto", description="Emotion (V3 versions only)")
    cache: bool = Field(default=False, description="Store the audio and answer with its URL")


class FishCachedAudio(BaseModel):
    success: bool
    audio_url: str
    format: str
    characters_used: int
    quota_remaining: float


_BODY_SCHEMA = FishSpeechRequest.model_json_schema()
_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in {
        **USAGE_HEADERS,
        "X-Sample-Rate": "Sample rate of the audio in Hz (pcm carries no header)",
    }.items()
}


@router.post(
    "/api/open/tts",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _BODY_SCHEMA},
                "application/msgpack": {"schema": _BODY_SCHEMA},
            },
        }
    },
    responses={
        200: {
            "description": "The audio (cache=false), or a link to the stored audio (cache=true)",
            "content": {
                "audio/mpeg": {},
                "audio/wav": {},
                "audio/pcm": {},
                "application/json": {"schema": FishCachedAudio.model_json_schema()},
            },
            "headers": _HEADERS,
        },
        **documented_errors("fish", 400, 401, 403, 404, 413, 429, 500, 502, 503),
    },
)
async def fish_tts(request: Request, call: Speech) -> Response:
    """Convert text to speech with a voice model (JSON or MessagePack body)."""
    fields = _parse_body(request.headers.get("content-type", ""), await _read_body(request))
    body = _validated(fields)
    if body.emotion != "auto" and body.version not in V3_VERSIONS:
        raise InvalidInputError(
            f"emotion is supported by the V3 versions only ({', '.join(V3_VERSIONS)}), "
            f"not {body.version}",
            param="emotion",
        )
    order = SpeechOrder(
        model=body.version,
        text=body.text,
        voice=body.reference_id,
        format=body.format,
        speed=body.speed,
        volume_db=body.volume,
        instruction=EMOTION_INSTRUCTIONS.get(body.emotion),
    )
    try:
        spoken = await speak(call, order)
    except DomainError as error:
        translated = _in_fish_terms(error)
        if translated is error:
            raise
        raise translated from error
    extra = {"X-Sample-Rate": str(spoken.result.sample_rate)}
    if not body.cache:
        return audio_response(spoken, filename=file_name(spoken, "fish-tts"), extra_headers=extra)
    return JSONResponse(_cached(request, call, spoken), headers={**spoken.headers, **extra})


def _cached(request: Request, call: SpeechCall, spoken: Spoken) -> dict[str, Any]:
    return {
        "success": True,
        "audio_url": stored_audio_url(
            request, call, spoken, filename=file_name(spoken, "fish-tts")
        ),
        "format": spoken.result.format,
        "characters_used": spoken.result.characters,
        "quota_remaining": round(spoken.balance_micros / 1_000_000, 6),
    }


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        parts.append(chunk)
    return b"".join(parts)


def _too_large() -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than {MAX_BODY_BYTES // 1024} KB", code="PAYLOAD_TOO_LARGE"
    )


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """A JSON object or MessagePack map, by the Content-Type (sniffed when there is none)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        media = JSON_TYPES[0] if raw.lstrip()[:1] == b"{" else MSGPACK_TYPES[0]
    if media in MSGPACK_TYPES:
        what = "MessagePack"
        try:
            payload = msgpack.unpackb(raw, raw=False)
        except (ValueError, TypeError, msgpack.UnpackException) as error:
            raise InvalidInputError(
                "The body is not valid MessagePack", code="INVALID_BODY"
            ) from error
    elif media in JSON_TYPES or media.endswith("+json"):
        what = "JSON"
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError) as error:
            raise InvalidInputError("The body is not valid JSON", code="INVALID_BODY") from error
    else:
        raise InvalidInputError(
            "Content-Type must be application/json or application/msgpack",
            code="UNSUPPORTED_CONTENT_TYPE",
        )
    if not isinstance(payload, dict):
        raise InvalidInputError(f"The {what} body must be an object", code="INVALID_BODY")
    return payload


def _validated(fields: dict[str, Any]) -> FishSpeechRequest:
    # Fish clients send null for an unset option: it means the default, like leaving it out.
    present = {name: value for name, value in fields.items() if value is not None}
    try:
        return FishSpeechRequest.model_validate(present)
    except ValidationError as error:
        errors = [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        raise RequestValidationError(errors) from error


def _in_fish_terms(error: DomainError) -> DomainError:
    """Name fields as Fish does; a voice that cannot be found (or used) is Fish's 404."""
    if error.param in FISH_PARAMS:
        error.param = FISH_PARAMS[error.param]
    if isinstance(error, InvalidInputError) and error.code == "INVALID_VOICE":
        return NotFoundError(error.message, code="VOICE_NOT_FOUND", param="reference_id")
    return error
