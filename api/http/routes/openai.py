"""OpenAI-compatible audio API (seeds 002, 003): speech, transcriptions, translations, models.

Paths and shapes are OpenAI's, so the official SDKs work with ``base_url=…/v1``; errors are
``{"error": {"message", "type", "param", "code"}}`` (``api.http.errors`` picks that shape for
``/v1/`` paths). Differences from OpenAI, all in the caller's favour or forced by the offline
engines:

- ``POST /v1/audio/speech`` streams by default (seed 003: ``stream`` defaults to true); the
  bytes are the same file either way. ``stream_format: "sse"`` works for every model.
  ``instructions`` are refused for ``tts-1``/``tts-1-hd`` as OpenAI documents ("does not work
  with tts-1 or tts-1-hd"). ``pcm`` is 24 kHz unless ``sample_rate`` says otherwise, like
  OpenAI's. An unknown model is a 404 ``model_not_found`` (seed 003's error table).
- Transcriptions take ``stream=true`` for every model (OpenAI ignores it for whisper-1): the
  events are sent per segment, after recognition, since the engines give the whole transcript
  at once. Usage is reported the way whisper-1 reports it, ``{"type": "duration", "seconds"}``.
- ``GET /v1/models`` lists every catalog model, ``owned_by`` naming who serves it
  (``amphion-offline`` or the hosted provider).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from api.audio.text import is_cjk
from api.catalog.catalog import DEFAULT_CATALOG, ModelSpec
from api.errors import DomainError, InvalidInputError, NotFoundError
from api.http.context import AppContext
from api.http.deps import Context, CurrentPrincipal
from api.http.errors import documented_errors, error_body
from api.http.routing import Router
from api.http.speech import (
    USAGE_HEADERS,
    ClosingStreamingResponse,
    Speech,
    SpeechCall,
    StartedSpeech,
    read_upload,
    start_speech,
    stream_chunks,
)
from api.speech.recognition import (
    LANGUAGES,
    RecognitionOrder,
    RecognitionResult,
    RecognitionStream,
    recognize,
    recognize_stream,
)
from api.speech.subtitles import to_srt, to_vtt
from api.speech.synthesis import SpeechOrder, synthesize

logger = logging.getLogger("amphion.http.openai")

router = Router(prefix="/v1", tags=["openai"])

Result = TypeVar("Result")

MAX_INPUT_CHARACTERS = 4096
MAX_FILE_BYTES = 25 * 1024 * 1024  # OpenAI's upload limit (the model's own limit may be lower)
PCM_SAMPLE_RATE = 24_000  # OpenAI's pcm: 24 kHz, 16-bit little-endian, mono
NO_INSTRUCTIONS = frozenset({"tts-1", "tts-1-hd"})
OWNER_OFFLINE = "amphion-offline"

# Seed 003's table (``api.audio`` calls Opus ``audio/ogg; codecs=opus``; OpenAI says audio/opus).
SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
TranscriptFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]

# The use cases name some fields as seed 001 does; OpenAI callers know them by these names.
_PARAMS = {"text": "input", "format": "response_format", "instruction": "instructions"}

# Whisper answers verbose_json with the language's English name.
LANGUAGE_NAMES = {
    "en": "english",
    "zh": "chinese",
    "yue": "cantonese",
    "ja": "japanese",
    "ko": "korean",
    "de": "german",
    "fr": "french",
    "ru": "russian",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "ar": "arabic",
    "th": "thai",
    "vi": "vietnamese",
    "nl": "dutch",
    "pl": "polish",
    "tr": "turkish",
    "uk": "ukrainian",
    "hi": "hindi",
    "id": "indonesian",
    "sv": "swedish",
}

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ERRORS = (400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504)


def _usage_header_docs() -> dict[str, Any]:
    return {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in USAGE_HEADERS.items()
    }


def _responses(content: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": content, "description": description, "headers": _usage_header_docs()},
        **documented_errors("openai", *_ERRORS),
    }


# --- errors in OpenAI's words ------------------------------------------------------------------


def _openai_error(error: DomainError, model: str) -> DomainError:
    """The use case's error as OpenAI names it: unknown models are 404 ``model_not_found``."""
    if isinstance(error, InvalidInputError) and error.code == "INVALID_MODEL":
        return NotFoundError(
            f"The model '{model[:80]}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    if error.param in _PARAMS:
        error.param = _PARAMS[error.param]
    return error


async def _use(
    call: SpeechCall, model: str, work: Callable[..., Result], *args: Any, **kwargs: Any
) -> Result:
    """Run a use case off the event loop; its errors come out in OpenAI's words."""
    try:
        return await call.run(work, *args, **kwargs)
    except DomainError as error:
        raise _openai_error(error, model) from None


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _error_event(error: BaseException) -> dict[str, Any]:
    """An ``error`` event for a failure after the stream started (the SDKs raise on it)."""
    if isinstance(error, DomainError):
        body = error_body("/v1/", error.status, error.message, error.code, error.param)
    else:
        body = error_body("/v1/", 500, "Internal server error")
    return {"type": "error", **body}


# --- POST /v1/audio/speech ---------------------------------------------------------------------


class VoiceId(BaseModel):
    """A voice by id (OpenAI's custom-voice form): a system voice or one you cloned."""

    id: str = Field(min_length=1, max_length=200)


class SpeechRequest(BaseModel):
    model: str = Field(
        description="tts-1, tts-1-hd, gpt-4o-mini-tts, or any speech model of GET /v1/models"
    )
    input: str = Field(
        min_length=1,
        max_length=MAX_INPUT_CHARACTERS,
        description="The text, at most 4096 characters",
    )
    voice: str | VoiceId = Field(
        description="alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer, verse; "
        "any system voice of the model, or the id of a voice you cloned for it"
    )
    instructions: str | None = Field(
        None,
        max_length=MAX_INPUT_CHARACTERS,
        description="How to speak (tone, style); not for tts-1 or tts-1-hd",
    )
    response_format: SpeechFormat = Field("mp3", description="Audio format")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="0.25 to 4.0; 1.0 is normal")
    stream: bool = Field(True, description="Send audio as it is made (seed 003: default true)")
    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description='"audio": the file\'s bytes; "sse": speech.audio.delta events (base64 audio) '
        "and a final speech.audio.done with usage",
    )
    sample_rate: int | None = Field(
        None, description="8000, 16000, 22050, 24000, 44100 or 48000 (pcm defaults to 24000)"
    )
    user: str | None = Field(None, max_length=256, description="Your end user's id (accepted)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model": "tts-1",
                    "input": "The quick brown fox jumped over the lazy dog.",
                    "voice": "alloy",
                }
            ]
        }
    }


def speech_order(call: SpeechCall, body: SpeechRequest) -> SpeechOrder:
    """The use case's order for an OpenAI-dialect speech request."""
    model = call.ctx.catalog.find_model(body.model)
    instructions = (body.instructions or "").strip() or None
    if instructions and model is not None and model.id in NO_INSTRUCTIONS:
        raise InvalidInputError(
            f"instructions are not supported by {model.id}; use gpt-4o-mini-tts",
            param="instructions",
        )
    voice = body.voice.id if isinstance(body.voice, VoiceId) else body.voice
    sample_rate = body.sample_rate
    if sample_rate is None and body.response_format == "pcm":
        sample_rate = PCM_SAMPLE_RATE
    return SpeechOrder(
        model=body.model,
        text=body.input,
        voice=voice,
        format=body.response_format,
        sample_rate=sample_rate,
        speed=body.speed,
        instruction=instructions,
    )


@router.post(
    "/audio/speech",
    response_class=Response,
    responses=_responses(
        {**{ct: {} for ct in SPEECH_CONTENT_TYPES.values()}, "text/event-stream": {}},
        "The audio (chunked while it is made), or speech.audio.* events with stream_format sse",
    ),
)
async def create_speech(body: SpeechRequest, call: Speech) -> Response:
    """Generate audio from text (OpenAI's create speech; streamed unless stream is false)."""
    order = speech_order(call, body)
    media_type = SPEECH_CONTENT_TYPES[body.response_format]
    if not body.stream and body.stream_format == "audio":
        result = await _use(call, body.model, synthesize, call.ctx, call.caller, order)
        headers = await call.usage_headers(
            cost_micros=result.cost_micros,
            characters=result.characters,
            balance_micros=result.balance_micros,
        )
        return Response(result.audio, media_type=media_type, headers=headers)

    async def run(work: Callable[..., Result], *args: Any) -> Result:
        return await _use(call, body.model, work, *args)

    started = await start_speech(call, order, run)
    if body.stream_format == "sse":
        return ClosingStreamingResponse(
            stream_chunks(_speech_events(started)),
            media_type="text/event-stream",
            headers={**started.headers, **SSE_HEADERS},
        )
    return ClosingStreamingResponse(
        stream_chunks(started.audio()), media_type=media_type, headers=started.headers
    )


def _speech_events(started: StartedSpeech) -> Iterator[bytes]:
    """``speech.audio.delta`` per chunk, then ``speech.audio.done`` once the charge is settled.

    Usage counts the billed characters as input tokens; no audio tokens are counted.
    """
    try:
        for chunk in started.audio():
            audio = base64.b64encode(chunk).decode("ascii")
            yield _sse({"type": "speech.audio.delta", "audio": audio})
        usage = {
            "input_tokens": started.stream.characters,
            "output_tokens": 0,
            "total_tokens": started.stream.characters,
        }
        yield _sse({"type": "speech.audio.done", "usage": usage})
    except Exception as error:  # after the 200: say so in the stream (the hold is released)
        if not isinstance(error, DomainError):
            logger.exception("speech event stream failed")
        yield _sse(_error_event(error))


# --- POST /v1/audio/transcriptions and /v1/audio/translations -------------------------------


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def _compression_ratio(text: str) -> float:
    """Whisper's repetition check: how well the text compresses (zlib)."""
    raw = text.encode("utf-8")
    return round(len(raw) / len(zlib.compress(raw)), 4) if raw else 0.0


def _duration_usage(result: RecognitionResult) -> dict[str, Any]:
    """whisper-1's usage: the billed duration in whole seconds."""
    return {"type": "duration", "seconds": math.ceil(result.duration_ms / 1000)}


def _verbose(
    result: RecognitionResult,
    *,
    task: str,
    language: str,
    granularities: set[str],
    temperature: float,
) -> dict[str, Any]:
    transcript = result.transcript
    body: dict[str, Any] = {
        "task": task,
        "language": language,
        "duration": _seconds(result.duration_ms),
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {
                "id": segment.id,
                "seek": 0,  # the engines do not say which decoding window a segment came from
                "start": _seconds(segment.start_ms),
                "end": _seconds(segment.end_ms),
                "text": segment.text,
                "tokens": [],  # the engines do not expose token ids
                "temperature": temperature,
                "avg_logprob": segment.avg_logprob,
                "compression_ratio": _compression_ratio(segment.text),
                "no_speech_prob": segment.no_speech_prob,
            }
            for segment in transcript.segments
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": word.text, "start": _seconds(word.start_ms), "end": _seconds(word.end_ms)}
            for segment in transcript.segments
            for word in segment.words
        ]
    body["usage"] = _duration_usage(result)
    return body


def _transcript_response(
    result: RecognitionResult,
    response_format: str,
    headers: dict[str, str],
    *,
    task: str,
    granularities: set[str],
    temperature: float,
) -> Response:
    transcript = result.transcript
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n", headers=headers)
    if response_format == "srt":
        return PlainTextResponse(
            to_srt(transcript), media_type="application/x-subrip", headers=headers
        )
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(transcript), media_type="text/vtt", headers=headers)
    if response_format == "verbose_json":
        language = "english" if task == "translate" else _language_name(transcript.language)
        body = _verbose(
            result,
            task=task,
            language=language,
            granularities=granularities,
            temperature=temperature,
        )
        return JSONResponse(body, headers=headers)
    return JSONResponse(
        {"text": transcript.text, "usage": _duration_usage(result)}, headers=headers
    )


def _language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def _joined(sent: str, piece: str) -> str:
    """The delta that appends ``piece``: a space between words, none between CJK characters."""
    if not sent or (is_cjk(sent[-1]) and is_cjk(piece[0])):
        return piece
    return " " + piece


def _transcript_events(stream: RecognitionStream) -> Iterator[bytes]:
    """One ``transcript.text.delta`` per segment as the recogniser decodes it, then ``done``."""
    segments = iter(stream)
    sent = ""
    try:
        for segment in segments:
            piece = segment.text.strip()
            if piece:
                delta = _joined(sent, piece)
                sent += delta
                yield _sse({"type": "transcript.text.delta", "delta": delta})
    except DomainError as error:  # after the headers went out: an error event, nothing charged
        yield _sse(_error_event(error))
        return
    finally:
        segments.close()  # a client that left: stop decoding, release the hold
    result = stream.result
    assert result is not None
    yield _sse(
        {
            "type": "transcript.text.done",
            "text": result.transcript.text,
            "usage": _duration_usage(result),
        }
    )


def _granularities(values: list[str] | None, response_format: str) -> set[str]:
    chosen = set(values or ())
    unknown = chosen - {"word", "segment"}
    if unknown:
        raise InvalidInputError(
            "timestamp_granularities must be 'word' and/or 'segment'",
            param="timestamp_granularities",
        )
    if chosen and response_format != "verbose_json":
        raise InvalidInputError(
            "timestamp_granularities requires response_format 'verbose_json'",
            param="timestamp_granularities",
        )
    return chosen


async def _uploaded(file: UploadFile, order: RecognitionOrder) -> tuple[bytes, RecognitionOrder]:
    data = await read_upload(file, MAX_FILE_BYTES)
    source = {"file": (file.filename or "")[:200], "bytes": len(data), "dialect": "openai"}
    return data, replace(order, source=source)


async def _recognized(
    call: SpeechCall, file: UploadFile, order: RecognitionOrder
) -> tuple[RecognitionResult, dict[str, str]]:
    data, order = await _uploaded(file, order)
    result = await _use(call, order.model, recognize, call.ctx, call.caller, data, order)
    headers = await call.usage_headers(
        cost_micros=result.cost_micros,
        duration_ms=result.duration_ms,
        balance_micros=result.balance_micros,
    )
    return result, headers


_TRANSCRIPT_CONTENT: dict[str, Any] = {
    "application/json": {},
    "text/plain": {},
    "application/x-subrip": {},
    "text/vtt": {},
    "text/event-stream": {},
}

AudioFile = Annotated[
    UploadFile,
    File(description="The audio (flac, mp3, mp4, m4a, ogg, opus, wav, webm), at most 25 MB"),
]
ModelField = Annotated[str, Form(description="whisper-1, or any speech recognition model")]
PromptField = Annotated[str | None, Form(description="Text to guide the style or spelling")]
TemperatureField = Annotated[
    float, Form(ge=0.0, le=1.0, description="0 to 1; accepted and echoed in verbose_json")
]


@router.post(
    "/audio/transcriptions",
    response_class=Response,
    responses=_responses(_TRANSCRIPT_CONTENT, "The transcript in the requested format"),
)
async def create_transcription(
    call: Speech,
    file: AudioFile,
    model: ModelField,
    language: Annotated[
        str | None,
        Form(description=f"The spoken language ({', '.join(LANGUAGES)}); default: detect"),
    ] = None,
    prompt: PromptField = None,
    response_format: Annotated[
        TranscriptFormat, Form(description="json, text, srt, verbose_json or vtt")
    ] = "json",
    temperature: TemperatureField = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None,
        Form(
            alias="timestamp_granularities[]",
            description="word and/or segment (verbose_json only); may repeat",
        ),
    ] = None,
    timestamp_granularities_plain: Annotated[
        list[str] | None,
        Form(
            alias="timestamp_granularities",
            description="The same, for clients that leave out the brackets",
        ),
    ] = None,
    stream: Annotated[
        bool, Form(description="Send transcript.text.delta events, then transcript.text.done")
    ] = False,
) -> Response:
    """Transcribe audio into text in its own language (OpenAI's create transcription)."""
    values = [*(timestamp_granularities or ()), *(timestamp_granularities_plain or ())]
    granularities = _granularities(values, response_format)
    if stream and response_format not in ("json", "text"):
        raise InvalidInputError(
            "stream=true sends transcript.text events; use response_format json or text",
            param="stream",
        )
    order = RecognitionOrder(
        model=model,
        language=language,
        prompt=prompt,
        task="transcribe",
        word_timestamps="word" in granularities,
    )
    if stream:
        data, order = await _uploaded(file, order)
        opened = await _use(call, order.model, recognize_stream, call.ctx, call.caller, data, order)
        headers = await call.usage_headers(
            cost_micros=opened.cost_micros, duration_ms=opened.duration_ms
        )
        return ClosingStreamingResponse(
            stream_chunks(_transcript_events(opened)),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    result, headers = await _recognized(call, file, order)
    return _transcript_response(
        result,
        response_format,
        headers,
        task="transcribe",
        granularities=granularities,
        temperature=temperature,
    )


@router.post(
    "/audio/translations",
    response_class=Response,
    responses=_responses(
        {key: value for key, value in _TRANSCRIPT_CONTENT.items() if key != "text/event-stream"},
        "The English translation in the requested format",
    ),
)
async def create_translation(
    call: Speech,
    file: AudioFile,
    model: ModelField,
    prompt: PromptField = None,
    response_format: Annotated[
        TranscriptFormat, Form(description="json, text, srt, verbose_json or vtt")
    ] = "json",
    temperature: TemperatureField = 0.0,
) -> Response:
    """Translate speech in any language into English text (OpenAI's create translation)."""
    order = RecognitionOrder(model=model, prompt=prompt, task="translate")
    result, headers = await _recognized(call, file, order)
    return _transcript_response(
        result,
        response_format,
        headers,
        task="translate",
        granularities=set(),
        temperature=temperature,
    )


# --- GET /v1/models ----------------------------------------------------------------------------


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When the catalog defining the model was last changed")
    owned_by: str = Field(description="amphion-offline, or the hosted provider serving it")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


def _catalog_created(context: AppContext) -> int:
    path = Path(context.settings.catalog_path) if context.settings.catalog_path else DEFAULT_CATALOG
    try:
        return int(path.stat().st_mtime)
    except OSError:
        return 0


def _model_object(model: ModelSpec, created: int) -> ModelObject:
    owner = OWNER_OFFLINE if model.provider == "offline" else model.provider
    return ModelObject(id=model.id, created=created, owned_by=owner)


@router.get(
    "/models", response_model=ModelList, responses=documented_errors("openai", 401, 403, 429)
)
def list_models(principal: CurrentPrincipal, context: Context) -> ModelList:
    """Every model of the catalog: speech, recognition, emotion and voice cloning."""
    created = _catalog_created(context)
    models = context.speech.catalog.models()
    return ModelList(data=[_model_object(model, created) for model in models])


@router.get(
    "/models/{model}",
    response_model=ModelObject,
    responses=documented_errors("openai", 401, 403, 404, 429),
)
def retrieve_model(model: str, principal: CurrentPrincipal, context: Context) -> ModelObject:
    """One model by id (or alias); 404 model_not_found when there is none."""
    found = context.speech.catalog.find_model(model)
    if found is None:
        raise NotFoundError(
            f"The model '{model[:80]}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    return _model_object(found, _catalog_created(context))
