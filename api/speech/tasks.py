"""Long-running use cases as persisted jobs: file transcription and voice enrolment.

Submitting checks the input, prices it, holds the credit, stores the input and queues a job in
the same breath; a worker (in-process by default, or ``amphion worker``) runs the handler. The
worker captures the hold when the job succeeds and releases it when it fails, exactly once even
if a worker dies mid-job (``api.jobs``). Handlers are idempotent: a re-run after a crash writes
the same result to the same history row and voice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from api.audio import decode as decoding
from api.billing.pricing import Usage
from api.engines.base import Pcm, Transcript
from api.errors import InvalidInputError
from api.history import service as history
from api.jobs import service as jobs
from api.jobs.handlers import JobContext, JobOutcome, register
from api.jobs.models import Job
from api.speech.common import Caller, Charge
from api.speech.context import SpeechContext
from api.speech.recognition import RecognitionOrder, load_audio, transcribe_pcm
from api.storage.service import store_bytes
from api.voices import service as voices
from api.voices.models import ClonedVoice

TRANSCRIBE = "asr.transcribe"
ENROLL = "voice.enroll"
CLONE_SAMPLE_MAX_BYTES = 10 * 1024 * 1024
TEST_SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
TEST_SENTENCE_ZH = "今天天气很好,我们一起去公园散步吧。"


@dataclass(frozen=True)
class Submitted:
    job_id: str
    record_id: int
    status: str = "PENDING"


def _context() -> SpeechContext:
    from api.speech.runtime import get_speech_context

    return get_speech_context()


# --- file transcription ----------------------------------------------------------------------


def submit_transcription(
    ctx: SpeechContext, caller: Caller, data: bytes, order: RecognitionOrder, *, ext: str = "wav"
) -> Submitted:
    """Queue an async transcription (seed 001 ``asr/transcribe``); billed per decoded second."""
    model = ctx.catalog.model(order.model, kind="asr")
    pcm = load_audio(data, model)
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "asr", cost)
    summary = order.source or {"bytes": len(data)}
    try:
        with ctx.db.write() as session:
            stored = store_bytes(
                session, ctx.store, user_id=caller.user_id, kind="asr", ext=ext, data=data
            )
            job = jobs.submit_job(
                session,
                user_id=caller.user_id,
                kind=TRANSCRIBE,
                payload={"key": stored.key, "order": asdict(order)},
                hold_id=charge.hold_id,
                max_attempts=ctx.settings.job_max_attempts,
            )
            record = history.record(
                session,
                user_id=caller.user_id,
                type="asr",
                model=model.id,
                input_summary=summary,
                duration_ms=pcm.duration_ms,
                cost_micros=cost,
                status="pending",
                api_key_id=caller.api_key_id,
                request_id=caller.request_id,
                job_id=job.id,
            )
            job.payload = {**job.payload, "record_id": record.id}
            session.add(job)
    except BaseException as error:
        charge.fail(error)
        raise
    charge.resolved = True  # the worker settles it from here on
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
        "usage": {"seconds": -(-transcript.duration_ms // 1000)},
    }


@register(TRANSCRIBE)
def run_transcription(job: JobContext) -> JobOutcome:
    ctx = _context()
    order = RecognitionOrder(**job.payload["order"])
    model = ctx.catalog.model(order.model, kind="asr")
    pcm = decoding.decode(ctx.store.get(job.payload["key"])).pcm
    transcript = transcribe_pcm(ctx, model, pcm, order)
    emotion = ctx.engines.emotion("prosody-heuristic").analyze(
        pcm, transcript=transcript.text, language=transcript.language
    )
    result = transcription_result(transcript, emotion.top)
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
        record_id = int(job.payload["record_id"])
        history.update_record(
            session, record_id, status="succeeded", output_text=transcript.text
        )
    cost = model.price.cost(Usage(audio_ms=pcm.duration_ms))
    return JobOutcome(
        result={**result, "transcription_key": stored.key},
        charge_micros=cost,
        history_record_id=record_id,
    )


# --- voice enrolment -----------------------------------------------------------------------


def submit_voice(
    ctx: SpeechContext,
    caller: Caller,
    data: bytes,
    *,
    prefix: str,
    target_model: str,
    language_hints: list[str] | None = None,
    ext: str = "wav",
    replace_voice_id: str | None = None,
) -> ClonedVoice:
    """Create (or re-sample) a cloned voice: DEPLOYING now, OK or UNDEPLOYED when checked."""
    model = ctx.catalog.model(target_model, kind="tts")
    enrollment = ctx.catalog.model("voice-enrollment", kind="clone")
    if len(data) > CLONE_SAMPLE_MAX_BYTES:
        raise InvalidInputError("Sample must be at most 10 MB", code="INVALID_AUDIO")
    decoding.decode(data, max_seconds=enrollment.limits.max_audio_seconds or 60)
    voices.check_prefix(prefix)
    cost = enrollment.price.cost(Usage())
    charge = Charge.hold(ctx.db, caller, "voice", cost)
    try:
        with ctx.db.write() as session:
            stored = store_bytes(
                session, ctx.store, user_id=caller.user_id, kind="voice", ext=ext, data=data
            )
            if replace_voice_id:
                voice = voices.get_owned_voice(
                    session, user_id=caller.user_id, voice_id=replace_voice_id
                )
                voices.restart_deployment(session, voice, sample_key=stored.key)
            else:
                voice = voices.create_voice(
                    session,
                    user_id=caller.user_id,
                    prefix=prefix,
                    target_model=model.id,
                    sample_key=stored.key,
                    language_hints=language_hints,
                )
            record = history.record(
                session,
                user_id=caller.user_id,
                type="voice",
                model=model.id,
                voice=voice.voice_id,
                input_summary={"prefix": voice.prefix},
                cost_micros=cost,
                status="pending",
                api_key_id=caller.api_key_id,
                request_id=caller.request_id,
            )
            job = jobs.submit_job(
                session,
                user_id=caller.user_id,
                kind=ENROLL,
                payload={"voice_pk": voice.id, "record_id": record.id},
                hold_id=charge.hold_id,
                max_attempts=ctx.settings.job_max_attempts,
            )
            voices.set_job(session, voice, job.id)
            record.job_id = job.id
            session.add(record)
    except BaseException as error:
        charge.fail(error)
        raise
    charge.resolved = True
    return voice


@register(ENROLL)
def run_enrollment(job: JobContext) -> JobOutcome:
    ctx = _context()
    with ctx.db.read() as session:
        voice = session.get(ClonedVoice, job.payload["voice_pk"])
    if voice is None or voice.sample_key is None:  # deleted while queued: nothing to do
        return JobOutcome(result={"status": "DELETED"}, charge_micros=0)
    sample = decoding.decode(ctx.store.get(voice.sample_key))
    engine = ctx.engines.clone("world-styling")
    reasons = _sample_problems(engine, sample.pcm, sample.source_sample_rate)
    status, reason, base, profile = "UNDEPLOYED", "; ".join(reasons), "", {}
    if not reasons:
        language = "zh" if "zh" in voice.language_hints else None
        enrolled = engine.enroll(sample.pcm, language=language)
        ok, reason = _intelligible(ctx, engine, enrolled.base_voice, enrolled.profile, language)
        status = "OK" if ok else "UNDEPLOYED"
        base, profile = enrolled.base_voice, enrolled.profile
    with ctx.db.write() as session:
        current = session.get(ClonedVoice, voice.id)
        if current is not None and current.sample_key == voice.sample_key:
            if status == "OK":
                voices.mark_deployed(session, current, base_voice=base, profile=profile)
            else:
                voices.mark_undeployed(session, current, reason=reason or "sample refused")
        history.update_record(
            session, int(job.payload["record_id"]), status="succeeded", output_text=status
        )
    return JobOutcome(
        result={"voice_id": voice.voice_id, "status": status, "reason": reason or None},
        charge_micros=None,
        history_record_id=int(job.payload["record_id"]),
    )


def _sample_problems(engine: Any, pcm: Pcm, source_rate: int) -> list[str]:
    check = getattr(engine, "check_sample", None)
    if check is None:
        return []
    return list(check(pcm, source_sample_rate=source_rate))


def _intelligible(
    ctx: SpeechContext, engine: Any, base_voice: str, profile: dict[str, Any], language: str | None
) -> tuple[bool, str]:
    verify = getattr(engine, "verify", None)
    if verify is None:
        return True, ""
    from api.engines.base import SynthesisRequest

    tts_name, _, tts_voice = base_voice.partition(":")
    tts = ctx.engines.tts(tts_name)
    sentence = TEST_SENTENCE_ZH if language == "zh" else TEST_SENTENCE

    def speak(text: str) -> Pcm:
        return tts.synthesize(SynthesisRequest(text=text, voice=tts_voice))

    outcome = verify(profile, speak, sentence) if _takes_sentence(verify) else verify(
        profile, speak
    )
    ok, reason = bool(outcome[0]), str(outcome[1] or "")
    return ok, reason


def _takes_sentence(function: Any) -> bool:
    import inspect

    return len(inspect.signature(function).parameters) >= 3


def job_view(job: Job) -> dict[str, Any]:
    """What callers see of a job (seed 001's task shape is built by its door from this)."""
    return {
        "task_id": job.id,
        "task_status": job.status,
        "submit_time": job.created_at,
        "scheduled_time": job.started_at,
        "end_time": job.finished_at,
        "result": job.result,
        "error": job.error,
    }
