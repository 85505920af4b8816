"""Seed 001 text to speech (``/api/audio/tts``) in the ``{"code","message","data"}`` envelope.

- ``POST tts/synthesize``: ``stream=false`` → JSON with a signed ``audio_url`` of the stored
  audio; ``stream=true`` → the audio itself, chunked as it is made (the first sentence leaves
  before the rest is synthesized; a client that hangs up is not charged and the engine stops).
- ``POST tts/synthesize-long``: text beyond 2000 characters, split at sentences, merged.
- ``GET tts/models``: every TTS model of the catalog in seed 001's TTSModelInfo shape, the
  seed's CosyVoice models first, each saying which engine and provider serve it.
- WebSocket ``tts/stream`` (the seed reserves it; implemented): query ``model``, ``voice``,
  ``format`` (default pcm), ``sample_rate`` (default 22050), optionally ``volume``,
  ``speech_rate``, ``pitch_rate``, ``instruction``. Credentials come in the handshake headers
  (``X-API-Key``, ``Authorization: Bearer`` or the console cookie), never the URL. The server
  answers ``{"type":"started",…}``; the client sends ``{"type":"text","content":"…"}`` messages
  and finally ``{"type":"end"}``; each sentence is synthesized as soon as it is complete and its
  audio sent as binary frames (one continuous stream of the format); the end brings
  ``{"type":"complete","characters","duration","bill","record_id","audio_url",…}`` and a normal
  close. The session is charged once, at the end; a client that leaves first pays nothing.
  Errors: ``{"type":"error","code","error_code","message"}``, then close code 4000 + the HTTP
  status (4400, 4401, 4403, 4408 idle, 4429, 4502, …; 1011 for an internal error).

Volume 0-100 (50 = unchanged) becomes a gain of 20·log10(volume/50) dB, floored at −60 dB
(volume 0: near silence). Prices, limits and ownership live in ``api/speech``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup
from fastapi import Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from starlette.websockets import WebSocketDisconnect

from api import audio
from api.accounts.service import SESSION_COOKIE
from api.billing.money import format_yuan
from api.billing.pricing import PriceUnit
from api.catalog.catalog import ModelSpec
from api.errors import (
    DomainError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from api.http.context import AppContext
from api.http.deps import resolve_principal
from api.http.errors import DEFAULT_CODES, documented_errors
from api.http.presenters import envelope
from api.http.routes.tts_common import Spoken, speak, stored_audio_url
from api.http.routing import Router
from api.http.speech import (
    USAGE_HEADERS,
    ClosingStreamingResponse,
    Speech,
    SpeechCall,
    limit_per_address,
    start_speech,
    stream_chunks,
)
from api.principal import Principal
from api.speech.common import Caller
from api.speech.live import LiveResult, LiveSynthesis, open_live
from api.speech.synthesis import LONG_TEXT_LIMIT, SpeechOrder
from api.storage.service import object_url

logger = logging.getLogger("amphion.http")

router = Router(prefix="/api/audio", tags=["audio: text to speech"])

SCOPE = "tts"
SEED_MODELS = ("cosyvoice-v3-flash", "cosyvoice-v3-plus", "cosyvoice-v2")
VOLUME_FLOOR_DB = -60.0
STREAM_FORMATS = ("mp3", "wav", "pcm", "opus")
# The WebSocket: how long a message that ends with a sentence mark waits for more before it
# is spoken ("3." + "14" is one number), and how long an idle session stays open.
FLUSH_SECONDS = 0.3
IDLE_SECONDS = 120.0
WATCH_SECONDS = 0.05
MAX_MESSAGE_CHARS = 100_000  # one text message
MAX_SESSION_CHARACTERS = LONG_TEXT_LIMIT  # what one session may speak in all

Format = Literal["mp3", "wav", "pcm", "opus"]
SampleRate = Literal[8000, 16000, 22050, 24000, 44100, 48000]
_USAGE_HEADER_DOCS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in USAGE_HEADERS.items()
}
_AUDIO_CONTENT: dict[str, dict[str, Any]] = {audio.content_type(fmt): {} for fmt in STREAM_FORMATS}
SEED_EXAMPLE: dict[str, JsonValue] = {
    "model": "cosyvoice-v3-flash",
    "voice": "longanyang",
    "text": "你好，欢迎使用语音合成服务！",
    "stream": False,
    "format": "mp3",
    "volume": 50,
    "speech_rate": 1.0,
    "pitch_rate": 1.0,
}


# --- request and response bodies --------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SpeechStyle(_Body):
    """What every seed-001 TTS request shares."""

    model: str = Field(max_length=100, description="cosyvoice-v3-flash, cosyvoice-v3-plus, …")
    voice: str = Field(max_length=200, description="A system voice id or one of your clones")
    format: Format = Field(default="mp3", description="Audio format")
    sample_rate: SampleRate = Field(default=22050, description="Sample rate in Hz")
    volume: int = Field(default=50, ge=0, le=100, description="Volume; 50 leaves it unchanged")
    speech_rate: float = Field(default=1.0, ge=0.5, le=2.0, description="Speed factor")
    pitch_rate: float = Field(default=1.0, ge=0.5, le=2.0, description="Pitch factor")
    instruction: str | None = Field(
        default=None, max_length=1000, description="Style instruction (emotion, scene)"
    )


class SynthesizeRequest(SpeechStyle):
    """Seed 001 §1.1."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"example": SEED_EXAMPLE})

    text: str = Field(description="The text, at most 2000 characters (TEXT_TOO_LONG beyond)")
    stream: bool = Field(default=False, description="true: the audio itself, chunked")


class SynthesizeLongRequest(SpeechStyle):
    """Seed 001 §1.3."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "model": "cosyvoice-v3-flash",
                "voice": "longanyang",
                "text": "这是一段很长的文本...(超过2000字符的内容)",
                "format": "mp3",
                "volume": 50,
                "speech_rate": 1.0,
            }
        },
    )

    text: str = Field(description="The text, beyond 2000 characters if need be")


class SynthesisData(BaseModel):
    audio_url: str
    duration: float
    format: str
    sample_rate: int
    characters: int
    bill: str
    record_id: int


class LongSynthesisData(BaseModel):
    audio_url: str
    duration: float
    format: str
    sample_rate: int
    total_characters: int
    segments: int
    bill: str
    record_id: int


class TTSModelInfo(BaseModel):
    model_id: str
    model_name: str
    description: str
    price_per_10k_chars: str | None
    features: list[str]
    price: str
    engine: str
    provider: str
    max_characters: int | None


class SynthesisEnvelope(BaseModel):
    code: int
    message: str
    data: SynthesisData


class LongSynthesisEnvelope(BaseModel):
    code: int
    message: str
    data: LongSynthesisData


class ModelsEnvelope(BaseModel):
    code: int
    message: str
    data: list[TTSModelInfo]


# --- translation to the use case -----------------------------------------------------------


def volume_db(volume: int) -> float:
    """Seed 001's 0-100 volume as the order's gain, floored (0 is near silence, not -inf)."""
    return max(audio.volume_percent_to_db(volume), VOLUME_FLOOR_DB)


def speech_order(body: SpeechStyle, text: str) -> SpeechOrder:
    return SpeechOrder(
        model=body.model,
        text=text,
        voice=body.voice,
        format=body.format,
        sample_rate=body.sample_rate,
        speed=body.speech_rate,
        pitch=body.pitch_rate,
        volume_db=volume_db(body.volume),
        instruction=body.instruction or None,
    )


def seconds(duration_ms: int) -> float:
    return round(duration_ms / 1000, 3)


def price_per_10k_chars(model: ModelSpec) -> str | None:
    """The seed's price string ("0.14335"); None for a model priced per call."""
    factor = {PriceUnit.PER_10K_CHARACTERS: 1, PriceUnit.PER_1K_CHARACTERS: 10}.get(
        model.price.unit
    )
    if factor is None:
        return None
    return format_yuan(model.price.micros * factor, places=6).rstrip("0").rstrip(".")


def tts_model_info(model: ModelSpec) -> dict[str, Any]:
    """Seed 001's TTSModelInfo, plus the price rule and what serves the model."""
    public = model.public()
    return {
        "model_id": model.id,
        "model_name": model.name,
        "description": model.description,
        "price_per_10k_chars": price_per_10k_chars(model),
        "features": list(model.features),
        "price": public["price"],
        "engine": public["engine"],
        "provider": public["provider"],
        "max_characters": model.limits.max_characters,
    }


# --- routes -------------------------------------------------------------------------------------


@router.get(
    "/tts/models",
    responses={200: {"model": ModelsEnvelope}, **documented_errors("envelope", 400, 401, 403, 429)},
)
async def list_tts_models(call: Speech) -> Any:
    """The text-to-speech models (seed 001's first), with price, features and serving engine."""
    call.caller.require(SCOPE)
    models = call.ctx.catalog.models("tts")
    ordered = sorted(models, key=lambda m: SEED_MODELS.index(m.id) if m.id in SEED_MODELS else 9)
    return envelope([tts_model_info(model) for model in ordered])


@router.post(
    "/tts/synthesize",
    response_class=Response,
    responses={
        200: {
            "description": "stream=false: the envelope with a signed audio_url; "
            "stream=true: the audio itself, chunked as it is made",
            "headers": _USAGE_HEADER_DOCS,
            "model": SynthesisEnvelope,
            "content": _AUDIO_CONTENT,
        },
        **documented_errors("envelope", 400, 401, 403, 413, 429, 500, 502, 503, 504),
    },
)
async def synthesize_speech(body: SynthesizeRequest, request: Request, call: Speech) -> Response:
    """Turn text (≤ 2000 characters) into speech: a stored file's URL, or streamed audio."""
    order = speech_order(body, body.text)
    if body.stream:
        return await _streamed(call, order)
    spoken = await speak(call, order)
    return _spoken_response(request, call, spoken, characters=spoken.result.characters)


@router.post(
    "/tts/synthesize-long",
    responses={
        200: {
            "model": LongSynthesisEnvelope,
            "description": "The merged audio's signed URL, segments and bill",
            "headers": _USAGE_HEADER_DOCS,
        },
        **documented_errors("envelope", 400, 401, 403, 413, 429, 500, 502, 503, 504),
    },
)
async def synthesize_long_speech(
    body: SynthesizeLongRequest, request: Request, call: Speech
) -> Any:
    """Turn long text into one audio file: split at sentences, synthesized, merged."""
    spoken = await speak(call, speech_order(body, body.text), long=True)
    result = spoken.result
    return _spoken_response(
        request, call, spoken, total_characters=result.characters, segments=result.segments
    )


def _spoken_response(request: Request, call: SpeechCall, spoken: Spoken, **counts: int) -> Any:
    """Seed 001's TTSResponse (or its long-text variant, by ``counts``) with usage headers."""
    result = spoken.result
    data = {
        "audio_url": stored_audio_url(request, call, spoken),
        "duration": seconds(result.duration_ms),
        "format": result.format,
        "sample_rate": result.sample_rate,
        **counts,
        "bill": format_yuan(result.cost_micros),
        "record_id": result.record_id,
    }
    return JSONResponse(envelope(data), headers=spoken.headers)


async def _streamed(call: SpeechCall, order: SpeechOrder) -> Response:
    """Chunked audio: the first piece is made before answering, the rest as it comes."""
    started = await start_speech(call, order)
    return ClosingStreamingResponse(
        stream_chunks(started.audio()),
        media_type=started.stream.content_type,
        headers=started.headers,
    )


# --- WebSocket: live synthesis ---------------------------------------------------------------


class StreamParams(SpeechStyle):
    """The WebSocket's query parameters (seed 001 §1.4: pcm by default)."""

    format: Format = Field(default="pcm", description="Audio format of the binary frames")


class IdleTimeoutError(DomainError):
    """The client sent nothing for too long while nothing was being spoken."""

    status, code = 408, "IDLE_TIMEOUT"


def _stream_params(websocket: WebSocket) -> StreamParams:
    raw: dict[str, Any] = dict(websocket.query_params)
    if "sample_rate" in raw:
        with suppress(ValueError):
            raw["sample_rate"] = int(raw["sample_rate"])
    try:
        return StreamParams.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first.get("loc", ())) or None
        if first.get("type") == "missing":
            raise InvalidInputError(f"Missing query parameter: {name}", param=name) from None
        raise InvalidInputError(f"Invalid {name}: {first.get('msg')}", param=name) from None


def _authenticate(websocket: WebSocket, context: AppContext) -> Principal:
    """The handshake's credentials, under the same per-IP and per-key limits as HTTP calls."""
    limit_per_address(websocket, context)
    headers = websocket.headers
    if not (headers.get("x-api-key") or headers.get("authorization")):
        if websocket.cookies.get(SESSION_COOKIE):
            _check_origin(websocket, context)
    return resolve_principal(websocket, context)


def _check_origin(websocket: WebSocket, context: AppContext) -> None:
    """A console cookie is only good from our own pages (no cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return  # not a browser
    allowed = {websocket.headers.get("host", "")}
    if context.settings.public_base_url:
        allowed.add(urlsplit(context.settings.public_base_url).netloc)
    if urlsplit(origin).netloc not in allowed:
        raise PermissionDeniedError(
            "Cross-site WebSocket connections cannot use the console cookie"
        )


def _base_url(websocket: WebSocket, context: AppContext) -> str:
    if context.settings.public_base_url:
        return context.settings.public_base_url.rstrip("/")
    base = str(websocket.base_url).rstrip("/")
    return "https" + base[3:] if base.startswith("wss") else "http" + base[2:]


@router.websocket("/tts/stream")
async def stream_speech(websocket: WebSocket) -> None:
    """Live text to speech: text messages in, audio frames out, billed once at the end."""
    await websocket.accept()
    context: AppContext = websocket.app.state.context
    try:
        principal = await anyio.to_thread.run_sync(_authenticate, websocket, context)
        params = _stream_params(websocket)
        caller = Caller(principal, request_id=f"ws-{uuid.uuid4().hex}")
        order = speech_order(params, "")
        live = await anyio.to_thread.run_sync(
            lambda: open_live(context.speech, caller, order, max_characters=MAX_SESSION_CHARACTERS)
        )
    except DomainError as error:
        await _refuse(websocket, error)
        return
    except Exception:
        logger.exception("could not open a TTS WebSocket session")
        await _refuse(websocket, None)
        return
    await LiveSession(websocket, context, live).run()


async def _refuse(websocket: WebSocket, error: DomainError | None) -> None:
    """Tell the client what went wrong, then close (4000 + status; 1011 for a bug)."""
    if error is None:
        body: dict[str, Any] = {
            "type": "error",
            "code": 500,
            "error_code": DEFAULT_CODES[500],
            "message": "Internal server error",
        }
        close_code, reason = 1011, DEFAULT_CODES[500]
    else:
        body = {
            "type": "error",
            "code": error.status,
            "error_code": error.code,
            "message": error.message,
        }
        if isinstance(error, RateLimitedError):
            body["retry_after"] = error.retry_after
        close_code, reason = 4000 + error.status, error.code
    with suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_json(body)
        await websocket.close(close_code, reason=reason[:120])


class LiveSession:
    """One WebSocket session. A reader takes the client's messages and cuts their text into
    pieces; a watcher speaks a buffered sentence the client left waiting and closes an idle
    session; a speaker turns the pieces into audio frames, in order. Whichever fails or sees
    the client leave stops all three, and the session is abandoned (nothing charged) unless it
    settled. The socket is closed only after the reader stopped: an ASGI server may not send a
    close frame while a receive is pending (granian does not)."""

    def __init__(self, websocket: WebSocket, context: AppContext, live: LiveSynthesis) -> None:
        self.websocket, self.context, self.live = websocket, context, live
        self.failure: BaseException | None = None
        self.gone = False
        self.completed = False
        self.ended = False  # the client sent "end"
        self.busy = False
        self.queued = 0
        self.last_message = self.last_activity = time.monotonic()
        self.cutting = anyio.Lock()  # pieces are queued in the order the text came

    async def run(self) -> None:
        live, websocket = self.live, self.websocket
        send, receive = anyio.create_memory_object_stream[str](max_buffer_size=math.inf)
        try:
            await websocket.send_json(self._started())
            async with anyio.create_task_group() as group:
                group.start_soon(self._guard, group, self._read, send)
                group.start_soon(self._guard, group, self._watch, send)
                group.start_soon(self._guard, group, self._speak, receive, group)
        except (WebSocketDisconnect, OSError):
            self.gone = True
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(live.abandon, None if self.gone else self.failure)
        if self.completed:
            with suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.close(1000)
        elif self.failure is not None and not self.gone:
            error = self.failure if isinstance(self.failure, DomainError) else None
            await _refuse(websocket, error)

    def _started(self) -> dict[str, Any]:
        live = self.live
        return {
            "type": "started",
            "model": live.order.model,
            "voice": live.voice_id,
            "format": live.format,
            "sample_rate": live.sample_rate,
            "content_type": live.content_type,
            "max_characters": live.max_characters,
        }

    async def _guard(self, group: TaskGroup, work: Any, *args: Any) -> None:
        try:
            await work(*args)
        except (WebSocketDisconnect, OSError):
            self.gone = True
            group.cancel_scope.cancel()
        except Exception as error:
            if not isinstance(error, DomainError):
                logger.exception("TTS WebSocket session failed")
            if self.failure is None:
                self.failure = error
            group.cancel_scope.cancel()

    async def _read(self, pieces: ObjectSendStream[str]) -> None:
        """Take messages until "end", then only watch for the client leaving."""
        live = self.live
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if self.ended:
                continue  # after "end" nothing more is taken
            self.last_message = self.last_activity = time.monotonic()
            kind, content = self._parse(message)
            async with self.cutting:
                if kind == "text":
                    await self._queue(
                        pieces, await anyio.to_thread.run_sync(live.add_text, content)
                    )
                else:
                    await self._queue(pieces, await anyio.to_thread.run_sync(live.flush))
                    self.ended = True
                    await pieces.aclose()

    async def _watch(self, pieces: ObjectSendStream[str]) -> None:
        """Speak a sentence left waiting after a short pause; close a session left idle."""
        live = self.live
        while not self.ended:
            await anyio.sleep(WATCH_SECONDS)
            now = time.monotonic()
            if live.tail_complete and now - self.last_message >= FLUSH_SECONDS:
                async with self.cutting:
                    if not self.ended:
                        await self._queue(pieces, await anyio.to_thread.run_sync(live.flush_tail))
            elif not (self.busy or self.queued) and now - self.last_activity >= IDLE_SECONDS:
                raise IdleTimeoutError(
                    f'Nothing received for {IDLE_SECONDS:g} s; send {{"type":"end"}} to finish'
                )

    async def _queue(self, pieces: ObjectSendStream[str], ready: list[str]) -> None:
        for piece in ready:
            self.queued += 1
            await pieces.send(piece)

    @staticmethod
    def _parse(message: Mapping[str, Any]) -> tuple[str, str]:
        raw = message.get("text")
        if raw is None and message.get("bytes") is not None:
            try:
                raw = message["bytes"].decode("utf-8")
            except UnicodeDecodeError:
                raw = ""
        try:
            parsed = json.loads(raw or "")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or parsed.get("type") not in ("text", "end"):
            raise InvalidInputError(
                'Send {"type":"text","content":"…"} messages, then {"type":"end"}',
                code="INVALID_MESSAGE",
            )
        if parsed["type"] == "end":
            return "end", ""
        content = parsed.get("content")
        if not isinstance(content, str):
            raise InvalidInputError("content must be a string", param="content")
        if len(content) > MAX_MESSAGE_CHARS:
            raise InvalidInputError(
                f"One message takes at most {MAX_MESSAGE_CHARS} characters",
                code="TEXT_TOO_LONG",
                param="content",
            )
        return "text", content

    async def _speak(self, pieces: ObjectReceiveStream[str], group: TaskGroup) -> None:
        """Speak each piece as it comes; after "end": the last bytes and the bill."""
        live, websocket = self.live, self.websocket
        async with pieces:
            async for piece in pieces:
                self.busy = True
                self.queued -= 1
                async with contextlib.aclosing(stream_chunks(live.speak(piece))) as chunks:
                    async for chunk in chunks:
                        await websocket.send_bytes(chunk)
                self.busy = False
                self.last_activity = time.monotonic()
        tail = await anyio.to_thread.run_sync(live.finish_audio)
        if tail:
            await websocket.send_bytes(tail)
        result = await anyio.to_thread.run_sync(live.settle)
        await websocket.send_json(self._complete(result))
        self.completed = True
        group.cancel_scope.cancel()  # stops the reader; the socket is closed after it

    def _complete(self, result: LiveResult) -> dict[str, Any]:
        url = None
        if result.output_key:
            url = object_url(
                self.context.speech.store,
                result.output_key,
                base_url=_base_url(self.websocket, self.context),
            )
        return {
            "type": "complete",
            "characters": result.characters,
            "duration": seconds(result.duration_ms),
            "format": result.format,
            "sample_rate": result.sample_rate,
            "bill": format_yuan(result.cost_micros),
            "record_id": result.record_id,
            "audio_url": url,
        }
