"""Speech to text and speech emotion: ``recognize`` (sync) and ``analyze_emotion``.

The chargeable quantity is the duration of the audio as *this server* decodes it, never a
number from the client or an upstream. Audio is probed by content, not by its file name.
Both read top to bottom: resolve the model → decode and check the audio → price → hold → run
the engine(s) → capture + history in one transaction; any failure releases the hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from api import audio
from api.audio import Decoded
from api.billing.pricing import Usage
from api.catalog.catalog import ModelSpec
from api.engines.base import EmotionResult, Pcm, RecognitionRequest, Transcript
from api.errors import InvalidInputError, PayloadTooLargeError
from api.speech.common import Caller, Charge
from api.speech.context import SpeechContext

ASR_RATE = 16_000
DEFAULT_MAX_FILE_MB = 25
DEFAULT_MAX_AUDIO_SECONDS = 4 * 3600
MIN_AUDIO_MS = 100
# Seed 001's languages; None (or "auto") means "detect".
LANGUAGES = ("zh", "yue", "en", "ja", "ko", "de", "fr", "ru", "es", "it", "pt", "ar", "th", "vi")
EMOTION_ENGINE = "prosody-heuristic"
# Emotion analysis reads the words for valence with a multilingual recogniser; past a minute
# of audio the prosody alone decides (the words of a long file would cost more than they add).
VALENCE_RECOGNISER = "faster-whisper-base"
VALENCE_MAX_MS = 60_000


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
    model: str
    emotion: EmotionResult | None = None


@dataclass(frozen=True)
class EmotionAnalysis:
    result: EmotionResult
    duration_ms: int
    cost_micros: int
    record_id: int
    model: str


def load_audio(data: bytes, model: ModelSpec) -> Decoded:
    """Decode by content and enforce the model's size and duration limits."""
    limit = model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024
    if len(data) > limit:
        raise PayloadTooLargeError(f"The audio file is larger than {limit // (1024 * 1024)} MB")
    if not data:
        raise InvalidInputError("The audio file is empty", code="INVALID_AUDIO", param="file")
    max_seconds = model.limits.max_audio_seconds or DEFAULT_MAX_AUDIO_SECONDS
    decoded = audio.decode(data, max_seconds=max_seconds)
    if decoded.pcm.duration_ms < MIN_AUDIO_MS:
        raise InvalidInputError(
            "The audio is too short to analyse", code="INVALID_AUDIO", param="file"
        )
    return decoded


def check_language(language: str | None) -> str | None:
    if language in (None, "", "auto"):
        return None
    if language not in LANGUAGES:
        raise InvalidInputError(f"language must be one of {', '.join(LANGUAGES)}", param="language")
    return language


def to_asr_rate(pcm: Pcm) -> Pcm:
    """The recognisers work at 16 kHz."""
    return audio.resample(pcm, ASR_RATE) if pcm.sample_rate != ASR_RATE else pcm


def transcribe_pcm(
    ctx: SpeechContext, model: ModelSpec, pcm: Pcm, order: RecognitionOrder
) -> Transcript:
    """Run the model's ASR engine on decoded audio (no money involved)."""
    engine = ctx.engines.asr(model.engine_name)
    return engine.transcribe(
        RecognitionRequest(
            audio=to_asr_rate(pcm),
            language=check_language(order.language),
            prompt=order.prompt[:2000] if order.prompt else None,
            task=order.task,
            word_timestamps=order.word_timestamps,
        )
    )


def recognize(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> RecognitionResult:
    """Transcribe (or translate) one audio file, billed per second of decoded audio."""
    caller.require("asr")
    model = ctx.catalog.model(order.model, kind="asr")
    check_language(order.language)
    pcm = load_audio(data, model).pcm
    ctx.engines.asr(model.engine_name)  # an engine that cannot load is a 503 before any hold
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "asr", cost)
    summary = {**(order.source or {"bytes": len(data)}), "language": order.language or "auto"}
    if order.task == "translate":
        summary["task"] = "translate"
    try:
        transcript = transcribe_pcm(ctx, model, pcm, order)
        emotion = None
        if order.with_emotion:
            emotion = ctx.engines.emotion(EMOTION_ENGINE).analyze(
                pcm, transcript=transcript.text, language=transcript.language
            )
        record = charge.settle(
            model=model.id,
            input_summary=summary,
            output_text=transcript.text,
            duration_ms=pcm.duration_ms,
        )
    except BaseException as error:
        charge.fail(error, model=model.id, input_summary=summary, duration_ms=pcm.duration_ms)
        raise
    assert record.id is not None
    return RecognitionResult(transcript, pcm.duration_ms, cost, record.id, model.id, emotion)


def analyze_emotion(
    ctx: SpeechContext, caller: Caller, data: bytes, model_id: str | None = None
) -> EmotionAnalysis:
    """Score the seven emotions of seeds 000/001 for one audio file."""
    caller.require("sed")
    model = ctx.catalog.model(model_id or "Zipformer-SED", kind="sed")
    pcm = load_audio(data, model).pcm
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "sed", cost)
    summary = {"bytes": len(data)}
    try:
        transcript = _words_for_valence(ctx, pcm)
        result = ctx.engines.emotion(model.engine).analyze(
            pcm,
            transcript=transcript.text if transcript else None,
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


def _words_for_valence(ctx: SpeechContext, pcm: Pcm) -> Transcript | None:
    if pcm.duration_ms > VALENCE_MAX_MS:
        return None
    engine = ctx.engines.asr(VALENCE_RECOGNISER)
    return engine.transcribe(RecognitionRequest(audio=to_asr_rate(pcm)))
