"""Speech to text and speech emotion: ``recognize`` (sync), ``submit_transcription`` (async job)
and ``analyze_emotion``.

The chargeable quantity is the duration of the audio as *this server* decodes it, never a
number from the client or an upstream. Audio is probed by content, not by its file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from api.audio import decode as decoding
from api.audio import effects
from api.billing.pricing import Usage
from api.catalog.catalog import ModelSpec
from api.engines.base import EmotionResult, Pcm, RecognitionRequest, Transcript
from api.errors import InvalidInputError, PayloadTooLargeError
from api.speech.common import Caller, Charge
from api.speech.context import SpeechContext

ASR_RATE = 16_000
DEFAULT_MAX_FILE_MB = 25
# Languages seed 001 lists; None means "detect".
LANGUAGES = ("zh", "yue", "en", "ja", "ko", "de", "fr", "ru", "es", "it", "pt", "ar", "th", "vi")
TRANSCRIPT_FOR_EMOTION = "faster-whisper-base"


@dataclass(frozen=True)
class RecognitionOrder:
    model: str
    language: str | None = None
    prompt: str | None = None
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = False
    with_emotion: bool = False
    source: dict[str, Any] | None = None  # what the history shows as input (URL, file name)


@dataclass(frozen=True)
class RecognitionResult:
    transcript: Transcript
    duration_ms: int
    cost_micros: int
    record_id: int
    emotion: EmotionResult | None = None


@dataclass(frozen=True)
class EmotionAnalysis:
    result: EmotionResult
    duration_ms: int
    cost_micros: int
    record_id: int
    model: str


def check_size(data: bytes, model: ModelSpec) -> None:
    limit = model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"Audio file is larger than {limit // (1024 * 1024)} MB", code="AUDIO_TOO_LARGE"
        )
    if not data:
        raise InvalidInputError("Audio file is empty", code="INVALID_AUDIO", param="file")


def load_audio(data: bytes, model: ModelSpec) -> Pcm:
    """Decode by content and enforce the model's size and duration limits."""
    check_size(data, model)
    decoded = decoding.decode(data, max_seconds=model.limits.max_audio_seconds)
    if decoded.pcm.duration_ms < 100:
        raise InvalidInputError("Audio is too short to analyse", code="INVALID_AUDIO")
    return decoded.pcm


def _check_language(language: str | None) -> str | None:
    if language in (None, "", "auto"):
        return None
    if language not in LANGUAGES:
        raise InvalidInputError(
            f"language must be one of {', '.join(LANGUAGES)}", param="language"
        )
    return language


def transcribe_pcm(
    ctx: SpeechContext, model: ModelSpec, pcm: Pcm, order: RecognitionOrder
) -> Transcript:
    """Run the model's ASR engine on decoded audio (no money involved)."""
    engine = ctx.engines.asr(model.engine)
    audio = effects.resample(pcm, ASR_RATE) if pcm.sample_rate != ASR_RATE else pcm
    return engine.transcribe(
        RecognitionRequest(
            audio=audio,
            language=_check_language(order.language),
            prompt=(order.prompt or None) and order.prompt[:2000],
            task=order.task,
            word_timestamps=order.word_timestamps,
        )
    )


def recognize(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> RecognitionResult:
    """Transcribe (or translate) one audio file, billed per second of decoded audio."""
    model = ctx.catalog.model(order.model, kind="asr")
    _check_language(order.language)
    pcm = load_audio(data, model)
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "asr", cost)
    summary = order.source or {"bytes": len(data)}
    try:
        transcript = transcribe_pcm(ctx, model, pcm, order)
        emotion = None
        if order.with_emotion:
            emotion = ctx.engines.emotion("prosody-heuristic").analyze(
                pcm, transcript=transcript.text, language=transcript.language
            )
        record = charge.settle(
            model=model.id,
            input_summary={**summary, "language": order.language or "auto"},
            output_text=transcript.text,
            duration_ms=pcm.duration_ms,
        )
    except BaseException as error:
        charge.fail(error, model=model.id, input_summary=summary, duration_ms=pcm.duration_ms)
        raise
    assert record.id is not None
    return RecognitionResult(transcript, pcm.duration_ms, cost, record.id, emotion)


def analyze_emotion(
    ctx: SpeechContext, caller: Caller, data: bytes, model_id: str = "Zipformer-SED"
) -> EmotionAnalysis:
    """Score the seven emotions of seed 000/001 for one audio file, billed per call."""
    model = ctx.catalog.model(model_id or "Zipformer-SED", kind="sed")
    pcm = load_audio(data, model)
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "sed", cost)
    summary = {"bytes": len(data)}
    try:
        transcript = _transcript_for_valence(ctx, pcm)
        result = ctx.engines.emotion(model.engine).analyze(
            pcm, transcript=transcript.text if transcript else None,
            language=transcript.language if transcript else None,
        )
        record = charge.settle(
            model=model.id,
            input_summary=summary,
            output_text=result.top,
            duration_ms=pcm.duration_ms,
        )
    except BaseException as error:
        charge.fail(error, model=model.id, input_summary=summary, duration_ms=pcm.duration_ms)
        raise
    assert record.id is not None
    return EmotionAnalysis(result, pcm.duration_ms, cost, record.id, model.id)


def _transcript_for_valence(ctx: SpeechContext, pcm: Pcm) -> Transcript | None:
    """Words carry valence (VADER/SnowNLP); short clips only, so the call stays cheap."""
    if pcm.duration_ms > 60_000:
        return None
    engine = ctx.engines.asr(TRANSCRIPT_FOR_EMOTION)
    audio = effects.resample(pcm, ASR_RATE) if pcm.sample_rate != ASR_RATE else pcm
    return engine.transcribe(RecognitionRequest(audio=audio))
