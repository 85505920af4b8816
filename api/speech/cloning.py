"""Voice cloning: ``create_voice`` and ``replace_sample`` (async enrolment jobs), ``rename_voice``
and ``delete_voice``.

Creating a voice reads top to bottom: check the target model, the quota and the prefix → decode
the sample by content and check it against seed 001's audio requirements (10–60 s, ≤10 MB,
≥16 kHz, 5 s of continuous clear speech, not silence or noise) — a refused sample is a 400
INVALID_AUDIO with the reasons, before anything is stored or charged → hold the enrolment price →
store the sample, create the voice (DEPLOYING), record the history row and queue the job, in one
transaction. The job (``run_enrollment``) profiles the sample, styles a test sentence with the
profile and has it transcribed: the voice becomes OK only when the styled speech is understood,
UNDEPLOYED with the reason otherwise. The enrolment is charged only when the voice becomes OK.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from api import audio
from api.audio import Decoded
from api.billing.pricing import Usage
from api.catalog.catalog import Catalog, ModelSpec
from api.engines.base import CloneEngine, Pcm, SynthesisRequest
from api.engines.clone import MAX_SAMPLE_BYTES, SampleAssessment, SampleProblem, assess_sample
from api.errors import DomainError, InvalidInputError
from api.history import service as history
from api.jobs.handlers import JobContext, JobOutcome, register
from api.speech.common import Caller, Charge, store_audio
from api.speech.context import SpeechContext
from api.speech.runtime import speech_context_for
from api.storage.service import get_owned_object
from api.voices import service as voices
from api.voices.models import OK, ClonedVoice

logger = logging.getLogger("amphion.speech")

ENROLL = "voice.enroll"
ENROLLMENT_MODEL = "voice-enrollment"
FAILED_REASON = "The voice could not be processed; try again, or record another sample."


@dataclass(frozen=True)
class VoiceSubmitted:
    voice: ClonedVoice
    record_id: int
    job_id: str


def _clone_engine(ctx: SpeechContext) -> CloneEngine:
    return ctx.engines.clone(ctx.catalog.model(ENROLLMENT_MODEL, kind="clone").engine)


def inspect_sample(data: bytes) -> tuple[Decoded, list[str]]:
    """Decode a sample by content and list what is wrong with it (empty: usable)."""
    decoded, found = _assess(data)
    return decoded, [problem.message for problem in found.problems]


def assess_upload(data: bytes) -> SampleAssessment:
    """The console's instant check of a sample: its length, rate and loudness, and every
    reason ``create_voice`` would refuse it (an unreadable file is one such reason)."""
    try:
        return _assess(data)[1]
    except DomainError as unreadable:
        problem = SampleProblem("unreadable", unreadable.message)
        return SampleAssessment(0.0, 0, None, None, None, (problem,))


def _assess(data: bytes) -> tuple[Decoded, SampleAssessment]:
    if len(data) > MAX_SAMPLE_BYTES:
        size = len(data) / 1024 / 1024
        problem = SampleProblem(
            "too_large", f"The file is {size:.1f} MB; a sample may be at most 10 MB.", size
        )
        return _nothing(), SampleAssessment(0.0, 0, None, None, None, (problem,))
    decoded = audio.decode(data, max_seconds=600)
    found = assess_sample(
        decoded.pcm, size_bytes=len(data), source_sample_rate=decoded.source_sample_rate
    )
    return decoded, found


def _nothing() -> Decoded:
    return Decoded(Pcm.empty(16000), "wav", 16000, 1, 0.0)


# Seed 001 names these three as the models a cloned voice is made for; they come first.
_SEED_TARGETS = ("cosyvoice-v3-plus", "cosyvoice-v3-flash", "cosyvoice-v2")


def clone_target_models(catalog: Catalog) -> list[ModelSpec]:
    """The models a cloned voice can be made for: every speech model (a cloned voice speaks
    through the styling engine whatever serves the model), seed 001's first."""
    speech_models = catalog.models("tts")
    first = [model for name in _SEED_TARGETS for model in speech_models if model.id == name]
    return first + [model for model in speech_models if model not in first]


def keep_sample(ctx: SpeechContext, user_id: int, data: bytes) -> str:
    """Keep a sample that passed the instant check until the voice is created (the console's
    wizard asks for a name and model in between); returns its object key, owned by the user."""
    decoded, found = _assess(data)
    if found.problems:
        raise InvalidInputError(
            " ".join(problem.message for problem in found.problems),
            code="INVALID_AUDIO",
            param="file",
        )
    with ctx.db.write() as session:
        stored = store_audio(
            session, ctx.store, user_id=user_id, kind="upload", data=data, fmt=decoded.format
        )
        return stored.key


def forget_sample(ctx: SpeechContext, user_id: int, key: str) -> None:
    """Drop a kept sample (another sample was chosen, or the voice was made from it)."""
    with ctx.db.write() as session:
        _forget_object(ctx, session, user_id, key)


def _kept_sample(ctx: SpeechContext, user_id: int, key: str) -> bytes:
    with ctx.db.read() as session:
        get_owned_object(session, user_id=user_id, key=key)  # someone else's key: not found
    return ctx.store.get(key)


def create_voice_from_kept_sample(
    ctx: SpeechContext, caller: Caller, key: str, *, prefix: str, target_model: str
) -> VoiceSubmitted:
    """``create_voice`` with a sample kept by ``keep_sample``, which is dropped once used."""
    data = _kept_sample(ctx, caller.user_id, key)
    submitted = create_voice(ctx, caller, data, prefix=prefix, target_model=target_model)
    forget_sample(ctx, caller.user_id, key)
    return submitted


def _checked_sample(data: bytes) -> Decoded:
    decoded, problems = inspect_sample(data)
    if problems:
        raise InvalidInputError(" ".join(problems), code="INVALID_AUDIO", param="file")
    return decoded


def create_voice(
    ctx: SpeechContext,
    caller: Caller,
    data: bytes,
    *,
    prefix: str,
    target_model: str,
    language_hints: list[str] | None = None,
) -> VoiceSubmitted:
    """A new cloned voice, DEPLOYING until its enrolment job has checked it."""
    caller.require("voice")
    model = ctx.catalog.model(target_model, kind="tts")
    voices.check_prefix(prefix)
    hints = voices.check_language_hints(language_hints)
    decoded = _checked_sample(data)

    def new_voice(session: Any, sample_key: str) -> ClonedVoice:
        return voices.create_voice(
            session,
            user_id=caller.user_id,
            prefix=prefix,
            target_model=model.id,
            sample_key=sample_key,
            language_hints=hints,
        )

    return _enroll(ctx, caller, data, decoded, new_voice)


def replace_sample(
    ctx: SpeechContext, caller: Caller, voice_id: str, data: bytes
) -> VoiceSubmitted:
    """Seed 001's voice update: a new sample, enrolled again (DEPLOYING until checked)."""
    caller.require("voice")
    with ctx.db.read() as session:
        voices.get_owned_voice(session, user_id=caller.user_id, voice_id=voice_id)  # 404 first
    decoded = _checked_sample(data)

    def same_voice(session: Any, sample_key: str) -> ClonedVoice:
        voice = voices.get_owned_voice(session, user_id=caller.user_id, voice_id=voice_id)
        old_key = voice.sample_key
        voices.restart_deployment(session, voice, sample_key=sample_key)
        if old_key and old_key != sample_key:
            _forget_object(ctx, session, caller.user_id, old_key)
        return voice

    return _enroll(ctx, caller, data, decoded, same_voice)


def _enroll(
    ctx: SpeechContext, caller: Caller, data: bytes, decoded: Decoded, voice_for: Any
) -> VoiceSubmitted:
    enrollment = ctx.catalog.model(ENROLLMENT_MODEL, kind="clone")
    cost = enrollment.price.cost(Usage(audio_ms=decoded.pcm.duration_ms))
    charge = Charge.hold(ctx.db, caller, "voice", cost)
    try:
        with ctx.db.write() as session:
            stored = store_audio(
                session,
                ctx.store,
                user_id=caller.user_id,
                kind="voice",
                data=data,
                fmt=decoded.format,
            )
            voice: ClonedVoice = voice_for(session, stored.key)
            record, job = charge.queue_job(
                session,
                job_kind=ENROLL,
                payload={"voice_pk": voice.id, "sample_key": stored.key, "cost_micros": cost},
                settings=ctx.settings,
                model=voice.target_model,
                voice=voice.voice_id,
                input_summary={"prefix": voice.prefix, "sample_seconds": decoded.duration_seconds},
                duration_ms=decoded.pcm.duration_ms,
            )
            voices.set_job(session, voice, job.id)
    except BaseException as error:
        charge.fail(error)
        raise
    charge.handed_over()  # the worker settles the hold when the job ends
    assert record.id is not None
    return VoiceSubmitted(voice, record.id, job.id)


def _forget_object(ctx: SpeechContext, session: Any, user_id: int, key: str) -> None:
    from api.storage.service import delete_owned_object

    try:
        delete_owned_object(session, ctx.store, user_id=user_id, key=key)
    except DomainError:  # already gone: nothing to forget
        pass


def rename_voice(ctx: SpeechContext, caller: Caller, voice_id: str, prefix: str) -> ClonedVoice:
    """Change the display prefix (the voice id stays: callers have it in their code)."""
    caller.require("voice")
    voices.check_prefix(prefix)
    with ctx.db.write() as session:
        voice = voices.get_owned_voice(session, user_id=caller.user_id, voice_id=voice_id)
        voice.prefix = prefix
        session.add(voice)
        session.flush()
        return voice


def delete_voice(ctx: SpeechContext, caller: Caller, voice_id: str) -> None:
    """Delete a cloned voice and its sample; irreversible (seed 001 §3.5)."""
    caller.require("voice")
    with ctx.db.write() as session:
        voice = voices.get_owned_voice(session, user_id=caller.user_id, voice_id=voice_id)
        sample_key = voice.sample_key
        voices.delete_voice(session, voice)
        if sample_key:
            _forget_object(ctx, session, caller.user_id, sample_key)


# --- the enrolment job -------------------------------------------------------------------------


@register(ENROLL)
def run_enrollment(job: JobContext) -> JobOutcome:
    """Profile the sample, check the styled voice is understood, deploy or refuse it.

    Idempotent: a re-run after a crash profiles the same sample and writes the same outcome.
    A voice deleted, or given a newer sample, while the job waited is left alone.
    """
    ctx = speech_context_for(job.settings, job.db)
    record_id = int(job.payload["record_id"])
    sample_key = str(job.payload["sample_key"])
    with ctx.db.read() as session:
        voice = session.get(ClonedVoice, job.payload["voice_pk"])
    if voice is None or voice.sample_key != sample_key:
        with ctx.db.write() as session:
            history.update_record(session, record_id, status="cancelled", output_text="CANCELLED")
        return JobOutcome({"status": "CANCELLED"}, charge_micros=0, history_record_id=record_id)
    try:
        base_voice, profile = _profile(ctx, voice, sample_key)
        status, reason = OK, ""
    except DomainError as refused:
        base_voice, profile, status, reason = "", {}, "UNDEPLOYED", refused.message
    except Exception:  # a bug or a broken model: say so plainly, keep the detail in the log
        logger.exception("enrolment of voice %s failed", voice.voice_id)
        base_voice, profile, status, reason = "", {}, "UNDEPLOYED", FAILED_REASON
    cost = int(job.payload.get("cost_micros", 0)) if status == OK else 0
    with ctx.db.write() as session:
        current = session.get(ClonedVoice, voice.id)
        if current is not None and current.sample_key == sample_key:
            if status == OK:
                voices.mark_deployed(session, current, base_voice=base_voice, profile=profile)
            else:
                voices.mark_undeployed(session, current, reason=reason)
        history.update_record(
            session,
            record_id,
            status="succeeded" if status == OK else "failed",
            output_text=status,
            error=reason or None,
            cost_micros=cost,
        )
    return JobOutcome(
        {"voice_id": voice.voice_id, "status": status, "reason": reason or None},
        charge_micros=cost,
        history_record_id=record_id,
    )


def _profile(ctx: SpeechContext, voice: ClonedVoice, sample_key: str) -> tuple[str, dict]:
    """Enrol the sample and verify the result; a DomainError says why the voice is refused.

    The sample passed ``check_sample`` when it was submitted (the engine checks it again)."""
    sample = audio.decode(ctx.store.get(sample_key))
    engine = _clone_engine(ctx)
    language = voice.language_hints[0] if voice.language_hints else None
    enrolled = engine.enroll(sample.pcm, language=language)
    verify = getattr(engine, "verify", None)  # hosted cloning is checked by its provider
    if verify is not None:
        speak = _base_voice_speaker(ctx, enrolled.base_voice)
        accepted, reason, _error_rate = verify(enrolled.profile, speak)
        if not accepted:
            raise InvalidInputError(f"The cloned voice failed its listening test: {reason}.")
    return enrolled.base_voice, dict(enrolled.profile)


def _base_voice_speaker(ctx: SpeechContext, base_voice: str) -> Any:
    engine_name, _, engine_voice = base_voice.partition(":")
    engine = ctx.engines.tts(engine_name)

    def speak(text: str) -> Pcm:
        # Deterministic: the verdict on a sample must not change from one run to the next.
        return engine.synthesize(
            SynthesisRequest(text=text, voice=engine_voice, deterministic=True)
        )

    return speak
