"""File transcription as an async job (seed 001 ``asr/transcribe``, the filetrans models).

``submit_transcription`` checks the model and the audio (decoded here, by content: the billed
seconds are this server's measure), holds the price, stores the file, records a pending history
row and queues the job, all in one transaction. A worker (in-process by default, or
``amphion worker``) runs ``run_transcription``; the job machinery captures the hold when it
succeeds and releases it when it fails, exactly once even if a worker dies mid-job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from api import audio
from api.billing.pricing import Usage
from api.engines.base import Transcript
from api.history import service as history
from api.jobs.handlers import JobContext, JobOutcome, register
from api.speech.common import Caller, Charge, store_audio
from api.speech.context import SpeechContext
from api.speech.recognition import (
    EMOTION_ENGINE,
    RecognitionOrder,
    check_language,
    load_audio,
    transcribe_pcm,
)
from api.speech.runtime import speech_context_for
from api.storage.service import store_bytes

TRANSCRIBE = "asr.transcribe"


@dataclass(frozen=True)
class Submitted:
    job_id: str
    record_id: int
    status: str = "PENDING"


def submit_transcription(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder
) -> Submitted:
    """Queue a transcription of ``data``; billed per second of decoded audio."""
    caller.require("asr")
    model = ctx.catalog.model(order.model, kind="asr")
    check_language(order.language)
    if model.byok:  # no own key: refused now (403), not after the file waited in the queue
        ctx.for_caller(caller.user_id).engines.asr(model.engine_name)
    decoded = load_audio(data, model)
    pcm = decoded.pcm
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "asr", cost)
    summary = order.source or {"bytes": len(data)}
    try:
        with ctx.db.write() as session:
            stored = store_audio(
                session,
                ctx.store,
                user_id=caller.user_id,
                kind="asr",
                data=data,
                fmt=decoded.format,
            )
            record, job = charge.queue_job(
                session,
                job_kind=TRANSCRIBE,
                payload={"key": stored.key, "order": asdict(order)},
                settings=ctx.settings,
                model=model.id,
                input_summary={**summary, "language": order.language or "auto"},
                duration_ms=pcm.duration_ms,
                cost_micros=cost,
            )
    except BaseException as error:
        charge.fail(error)
        raise
    charge.handed_over()
    assert record.id is not None
    return Submitted(job.id, record.id)


def transcription_result(transcript: Transcript, emotion: str | None) -> dict[str, Any]:
    """Seed 001's task result: transcripts with timed sentences (milliseconds)."""
    sentences = [
        {
            "begin_time": segment.start_ms,
            "end_time": segment.end_ms,
            "text": segment.text.strip(),
            "sentence_id": index,
            "language": transcript.language,
            "emotion": emotion or "neutral",
        }
        for index, segment in enumerate(transcript.segments)
    ]
    return {
        "transcripts": [{"channel_id": 0, "text": transcript.text, "sentences": sentences}],
        "language": transcript.language,
        "usage": {"seconds": -(-transcript.duration_ms // 1000)},
    }


@register(TRANSCRIBE)
def run_transcription(job: JobContext) -> JobOutcome:
    """Transcribe the stored file; the result JSON is stored too (seed 001's transcription_url).

    Idempotent: a re-run transcribes the same file and overwrites the same history row. A
    failure marks the history row failed before the job machinery releases the hold.
    """
    ctx = speech_context_for(job.settings, job.db).for_caller(job.user_id)
    record_id = int(job.payload["record_id"])
    try:
        order = RecognitionOrder(**job.payload["order"])
        model = ctx.catalog.model(order.model, kind="asr")
        pcm = audio.decode(ctx.store.get(job.payload["key"])).pcm
        job.heartbeat()
        transcript = transcribe_pcm(ctx, model, pcm, order)
        job.heartbeat()
        emotion = ctx.engines.emotion(EMOTION_ENGINE).analyze(
            pcm, transcript=transcript.text, language=transcript.language
        )
        result = transcription_result(transcript, emotion.top)
        cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
        with ctx.db.write() as session:
            stored = store_bytes(
                session,
                ctx.store,
                user_id=job.user_id,
                kind="asr",
                ext="json",
                data=json.dumps(result, ensure_ascii=False).encode(),
                content_type="application/json",
            )
            history.update_record(
                session,
                record_id,
                status="succeeded",
                output_text=transcript.text,
                cost_micros=cost,
            )
    except BaseException as error:
        with ctx.db.write() as session:
            history.update_record(session, record_id, status="failed", error=_message(error))
        raise
    return JobOutcome(
        result={**result, "transcription_key": stored.key},
        charge_micros=cost,
        history_record_id=record_id,
    )


def _message(error: BaseException) -> str:
    from api.errors import DomainError

    return error.message if isinstance(error, DomainError) else "The transcription failed"
