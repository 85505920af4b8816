"""Speech to text and speech emotion: ``recognize`` (sync) and ``analyze_emotion``.

The chargeable quantity is the duration of the audio as *this server* decodes it, never a
number from the client or an upstream. Audio is probed by content, not by its file name.
Both read top to bottom: resolve the model → decode and check the audio → price → hold → run
the engine(s) → capture + history in one transaction; any failure releases the hold.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

from api import audio
from api.audio import Decoded
from api.billing.pricing import Usage
from api.catalog.catalog import ModelSpec
from api.engines.base import (
    EmotionResult,
    Pcm,
    RecognitionRequest,
    Segment,
    Transcript,
    transcribe_segments,
)
from api.engines.timing import engine_time
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
    balance_micros: int | None = None  # the balance right after the charge (saves a read)


@dataclass(frozen=True)
class EmotionAnalysis:
    result: EmotionResult
    duration_ms: int
    cost_micros: int
    record_id: int
    model: str
    balance_micros: int | None = None  # the balance right after the charge (saves a read)


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
    with engine_time():
        return engine.transcribe(_request(pcm, order, model))


def _request(pcm: Pcm, order: RecognitionOrder, model: ModelSpec) -> RecognitionRequest:
    return RecognitionRequest(
        audio=to_asr_rate(pcm),
        language=check_language(order.language),
        languages=model.languages,
        prompt=order.prompt[:2000] if order.prompt else None,
        task=order.task,
        word_timestamps=order.word_timestamps,
    )


def _open(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> tuple[ModelSpec, Pcm, Charge, dict[str, Any]]:
    """Check, decode and price the audio, and hold its cost (shared by both ways to recognise)."""
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
    return model, pcm, charge, summary


def recognize(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> RecognitionResult:
    """Transcribe (or translate) one audio file, billed per second of decoded audio."""
    ctx = ctx.for_caller(caller.user_id)
    model, pcm, charge, summary = _open(ctx, caller, data, order)
    try:
        transcript = transcribe_pcm(ctx, model, pcm, order)
        emotion = None
        if order.with_emotion:
            with engine_time():
                emotion = ctx.engines.emotion(EMOTION_ENGINE).analyze(
                    pcm, transcript=transcript.text, language=transcript.language
                )
        record_id = charge.settle(
            model=model.id,
            input_summary=summary,
            output_text=transcript.text,
            duration_ms=pcm.duration_ms,
        )
    except BaseException as error:
        charge.fail(error, model=model.id, input_summary=summary, duration_ms=pcm.duration_ms)
        raise
    return RecognitionResult(
        transcript,
        pcm.duration_ms,
        charge.amount_micros,
        record_id,
        model.id,
        emotion,
        charge.balance_after_micros,
    )


class RecognitionStream:
    """Segments handed out as the recogniser decodes them; settles when it ends.

    The hold is taken when the stream is opened (the cost is known from the decoded duration).
    Reading to the end captures it and records the history; stopping early — a client that
    hangs up — stops the decoding and releases the hold. ``result`` is set at the end.
    """

    def __init__(
        self,
        ctx: SpeechContext,
        model: ModelSpec,
        pcm: Pcm,
        order: RecognitionOrder,
        charge: Charge,
        summary: dict[str, Any],
    ) -> None:
        self._ctx, self._model, self._pcm, self._order = ctx, model, pcm, order
        self._charge, self._summary = charge, summary
        self.result: RecognitionResult | None = None
        self._started = False

    def __iter__(self) -> Generator[Segment, None, None]:
        if self._started:
            raise RuntimeError("a recognition stream can be read once")
        self._started = True
        model, pcm = self._model, self._pcm
        failure = {
            "model": model.id,
            "input_summary": self._summary,
            "duration_ms": pcm.duration_ms,
        }
        engine = self._ctx.engines.asr(model.engine_name)
        segments = transcribe_segments(engine, _request(pcm, self._order, model))
        try:
            while True:
                with engine_time():
                    try:
                        segment = next(segments)
                    except StopIteration as finished:
                        transcript: Transcript = finished.value
                        break
                yield segment
            record_id = self._charge.settle(
                model=model.id,
                input_summary=self._summary,
                output_text=transcript.text,
                duration_ms=pcm.duration_ms,
            )
        except BaseException as error:
            segments.close()
            self._charge.fail(None if isinstance(error, GeneratorExit) else error, **failure)
            if isinstance(error, GeneratorExit):
                return
            raise
        self.result = RecognitionResult(
            transcript,
            pcm.duration_ms,
            self._charge.amount_micros,
            record_id,
            model.id,
            balance_micros=self._charge.balance_after_micros,
        )

    @property
    def cost_micros(self) -> int:
        return self._charge.amount_micros

    @property
    def duration_ms(self) -> int:
        return self._pcm.duration_ms

    def close(self) -> None:
        """Give up before reading (the response was never sent): release the hold."""
        if not self._started:
            self._charge.fail(None)


def recognize_stream(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> RecognitionStream:
    """Validate, decode, price and hold now; the segments come when the stream is read."""
    ctx = ctx.for_caller(caller.user_id)
    model, pcm, charge, summary = _open(ctx, caller, data, order)
    return RecognitionStream(ctx, model, pcm, order, charge, summary)


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
        with engine_time():
            result = ctx.engines.emotion(model.engine).analyze(
                pcm,
                transcript=transcript.text if transcript else None,
                language=transcript.language if transcript else None,
            )
        record_id = charge.settle(
            model=model.id,
            input_summary=summary,
            output_text=result.top,
            duration_ms=pcm.duration_ms,
        )
    except BaseException as error:
        charge.fail(error, model=model.id, input_summary=summary, duration_ms=pcm.duration_ms)
        raise
    return EmotionAnalysis(
        result, pcm.duration_ms, cost, record_id, model.id, charge.balance_after_micros
    )


def _words_for_valence(ctx: SpeechContext, pcm: Pcm) -> Transcript | None:
    if pcm.duration_ms > VALENCE_MAX_MS:
        return None
    engine = ctx.engines.asr(VALENCE_RECOGNISER)
    with engine_time():
        return engine.transcribe(RecognitionRequest(audio=to_asr_rate(pcm)))
