"""Amphion platform dialect (seed 000): ``POST /tts/v1/audio/speech`` and
``POST /sed/v1/audio/analyze``.

Text to speech answers with the audio file itself (``audio/mpeg`` or ``audio/wav``); emotion
detection takes a multipart ``file`` (WAV, MP3 or FLAC, recognised by its content, not its name)
and answers ``{"emotions": [{"label", "score"}, …], "duration_seconds", "model"}`` with the
emotions from most to least likely. Errors are ``{"detail": "…"}`` (``api.http.errors``). Both
are billed per call at the catalog's price (¥0.0100 and ¥0.0050 by default), and successful
responses carry the usage headers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.http.errors import documented_errors
from api.http.routes.tts_common import audio_response, speak
from api.http.routing import Router
from api.http.speech import USAGE_HEADERS, Speech, read_upload
from api.speech.recognition import EmotionAnalysis, analyze_emotion
from api.speech.synthesis import SpeechOrder

router = Router(tags=["Amphion platform (seed 000)"])

DEFAULT_SED_MODEL = "Zipformer-SED"
_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in USAGE_HEADERS.items()
}


class SpeechRequest(BaseModel):
    """Seed 000's TTS body; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=100, description="Model name, e.g. Qwen3-TTS")
    input: str = Field(description="The text to speak (the model's character limit applies)")
    voice: str | None = Field(
        default=None, max_length=200, description="Voice id; the model's default when omitted"
    )
    response_format: Literal["mp3", "wav"] = Field(default="mp3", description="mp3 or wav")


class Emotion(BaseModel):
    label: str
    score: float


class EmotionReport(BaseModel):
    emotions: list[Emotion]
    duration_seconds: float
    model: str


@router.post(
    "/tts/v1/audio/speech",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/mpeg": {}, "audio/wav": {}},
            "description": "The speech as an audio file",
            "headers": _HEADERS,
        },
        **documented_errors("detail", 400, 401, 403, 429, 500, 502, 503),
    },
)
async def text_to_speech(body: SpeechRequest, call: Speech) -> Response:
    """Convert text to speech; the response body is the audio file (mp3 or wav)."""
    order = SpeechOrder(
        model=body.model, text=body.input, voice=body.voice, format=body.response_format
    )
    return audio_response(await speak(call, order))


@router.post(
    "/sed/v1/audio/analyze",
    response_model=EmotionReport,
    responses={
        200: {"description": "Emotion scores, most likely first", "headers": _HEADERS},
        **documented_errors("detail", 400, 401, 403, 413, 415, 429, 500, 502, 503),
    },
)
async def analyze_speech_emotion(
    call: Speech,
    file: Annotated[UploadFile, File(description="Audio file: wav, mp3 or flac")],
    model: Annotated[str, Form(max_length=100, description="Model name")] = DEFAULT_SED_MODEL,
) -> JSONResponse:
    """Detect the emotions in an uploaded audio file (wav / mp3 / flac)."""
    data = await read_upload(file, call.app.settings.max_request_bytes)
    analysis: EmotionAnalysis = await call.run(
        analyze_emotion, call.ctx, call.caller, data, model or DEFAULT_SED_MODEL
    )
    headers = await call.usage_headers(
        cost_micros=analysis.cost_micros,
        duration_ms=analysis.duration_ms,
        balance_micros=analysis.balance_micros,
    )
    ranked = sorted(analysis.result.scores, key=lambda item: -item[1])  # stable: ties keep order
    report = {
        "emotions": [{"label": label, "score": round(score, 4)} for label, score in ranked],
        "duration_seconds": round(analysis.duration_ms / 1000, 2),
        "model": analysis.model,
    }
    return JSONResponse(report, headers=headers)
