"""Voice cloning use cases: sample checks up front, enrolment as a job, the voice in use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from api import audio
from api.db import Database
from api.engines.base import CloneResult, Pcm
from api.errors import InvalidInputError, NotFoundError
from api.settings import Settings
from api.speech import cloning
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import SpeechOrder, synthesize
from api.voices.models import ClonedVoice
from tests.engines import speech_samples as samples
from tests.speech.conftest import Fakes, caller_for, run_jobs
from tests.speech.test_speech_synthesis import history_of


@functools.cache
def sample_wav() -> bytes:
    """About 12 s of a female espeak voice reading a story, as a 16 kHz WAV."""
    speech = samples.espeak(samples.REFERENCE_STORY, "en-us+f3", rate=140)
    return audio.encode(speech, "wav", sample_rate=16000)


def voice_row(db: Database, voice_id: str) -> ClonedVoice:
    with db.read() as session:
        row = session.exec(select(ClonedVoice).where(ClonedVoice.voice_id == voice_id)).one()
    return row


def test_a_clear_sample_becomes_an_ok_voice_that_speaks(
    speech: SpeechContext,
    fakes: Fakes,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    submitted = cloning.create_voice(
        speech, caller(), sample_wav(), prefix="myvoice", target_model="cosyvoice-v3-plus"
    )
    voice_id = submitted.voice.voice_id
    assert voice_id.startswith("cosyvoice-v3-plus-myvoice-")
    assert submitted.voice.status == "DEPLOYING"

    run_jobs(db, settings)

    row = voice_row(db, voice_id)
    assert row.status == "OK" and row.reason is None
    assert row.base_voice == "piper:joe" and row.profile["duration_ms"] > 10_000
    [record] = history_of(db, user_id)
    assert (record.type, record.status, record.output_text) == ("voice", "succeeded", "OK")

    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-plus", "Hello there.", voice=voice_id))
    assert fakes.piper.requests[-1].voice == "joe"
    assert fakes.clone.applied == [row.profile]  # the styling was applied to the base voice

    # A pitch change comes after the styling (which would undo one made inside the engine).
    higher = SpeechOrder("cosyvoice-v3-plus", "Hello there.", voice=voice_id, pitch=1.5)
    result = synthesize(speech, caller(), higher)
    assert fakes.piper.requests[-1].pitch == 1.0
    tone = audio.decode(result.audio).pcm
    assert audio.dominant_frequency_hz(tone) == pytest.approx(330.0 * 1.5, rel=0.05)

    with pytest.raises(InvalidInputError) as mismatch:
        synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", "Hi.", voice=voice_id))
    assert mismatch.value.code == "MODEL_VOICE_MISMATCH"


def test_another_user_can_neither_use_nor_touch_the_voice(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
) -> None:
    from tests.helpers import make_user

    submitted = cloning.create_voice(
        speech, caller(), sample_wav(), prefix="mine", target_model="cosyvoice-v3-plus"
    )
    run_jobs(db, settings)
    voice_id = submitted.voice.voice_id
    stranger = caller_for(make_user(db, settings, balance_micros=1_000_000))
    with pytest.raises(InvalidInputError) as refused:
        synthesize(speech, stranger, SpeechOrder("cosyvoice-v3-plus", "Hi.", voice=voice_id))
    assert refused.value.code == "INVALID_VOICE"
    for attempt in (
        lambda: cloning.rename_voice(speech, stranger, voice_id, "theirs"),
        lambda: cloning.delete_voice(speech, stranger, voice_id),
        lambda: cloning.replace_sample(speech, stranger, voice_id, sample_wav()),
    ):
        with pytest.raises(NotFoundError):
            attempt()
    assert voice_row(db, voice_id).prefix == "mine"


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (
            lambda: audio.encode(samples.espeak("Hello there, how are you?", "en-us"), "wav"),
            "10–60 s",
        ),
        (lambda: audio.encode(Pcm(np.zeros(16000 * 15, np.int16), 16000), "wav"), "silent"),
        (
            lambda: audio.encode(
                audio.resample(samples.espeak(samples.REFERENCE_STORY, "en-us", rate=140), 8000),
                "wav",
            ),
            "16 kHz",
        ),
    ],
    ids=["three-seconds", "silence", "8-khz"],
)
def test_an_unusable_sample_is_refused_with_the_reason_and_nothing_kept(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    user_id: int,
    sample: Callable[[], bytes],
    reason: str,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        cloning.create_voice(
            speech, caller(), sample(), prefix="bad", target_model="cosyvoice-v3-plus"
        )
    assert refused.value.code == "INVALID_AUDIO" and reason in refused.value.message
    assert not history_of(db, user_id)
    with db.read() as session:
        assert not session.exec(select(ClonedVoice)).all()


def test_bad_names_models_and_hints_are_refused(
    speech: SpeechContext, caller: Callable[[], Caller]
) -> None:
    for options in (
        {"prefix": "has space", "target_model": "cosyvoice-v3-plus"},
        {"prefix": "x" * 11, "target_model": "cosyvoice-v3-plus"},
        {"prefix": "ok", "target_model": "qwen3-asr-flash"},
        {"prefix": "ok", "target_model": "cosyvoice-v3-plus", "language_hints": ["klingon"]},
    ):
        with pytest.raises(InvalidInputError):
            cloning.create_voice(speech, caller(), sample_wav(), **options)  # type: ignore[arg-type]


class RefusingClone:
    """A clone engine whose listening test fails, like styling that garbles the words."""

    name = "refusing"

    def enroll(self, sample: Pcm, *, language: str | None = None) -> CloneResult:
        return CloneResult("piper:joe", {"kind": "test"})

    def apply(self, speech: Pcm, profile: dict[str, Any]) -> Pcm:
        return speech

    def verify(self, profile: dict[str, Any], synthesize: Callable[[str], Pcm]) -> tuple:
        synthesize("A test sentence.")
        return False, "styled speech is not intelligible (WER 0.60)", 0.6


def test_a_voice_that_fails_its_listening_test_ends_undeployed_with_the_reason(
    speech: SpeechContext,
    fakes: Fakes,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    speech.engines.register_clone("world-styling", RefusingClone)
    submitted = cloning.create_voice(
        speech, caller(), sample_wav(), prefix="garbled", target_model="cosyvoice-v3-flash"
    )
    run_jobs(db, settings)
    row = voice_row(db, submitted.voice.voice_id)
    assert row.status == "UNDEPLOYED" and "WER 0.60" in (row.reason or "")
    # The test spoke with the base voice asking for the same audio every time: Piper's noise
    # must not decide a sample's verdict.
    [spoken] = fakes.piper.requests
    assert (spoken.text, spoken.deterministic) == ("A test sentence.", True)
    [record] = history_of(db, user_id)
    assert (record.status, record.cost_micros, record.output_text) == ("failed", 0, "UNDEPLOYED")
    with pytest.raises(InvalidInputError) as refused:
        synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", "Hi.", voice=row.voice_id))
    assert refused.value.code == "INVALID_VOICE"


def test_a_broken_engine_leaves_the_voice_undeployed_not_stuck(
    speech: SpeechContext,
    fakes: Fakes,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
) -> None:
    fakes.clone.fail = RuntimeError("segfault-ish")
    submitted = cloning.create_voice(
        speech, caller(), sample_wav(), prefix="broken", target_model="cosyvoice-v3-flash"
    )
    run_jobs(db, settings)
    row = voice_row(db, submitted.voice.voice_id)
    assert row.status == "UNDEPLOYED" and row.reason == cloning.FAILED_REASON


def test_rename_replace_and_delete(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    submitted = cloning.create_voice(
        speech, caller(), sample_wav(), prefix="first", target_model="cosyvoice-v3-flash"
    )
    run_jobs(db, settings)
    voice_id = submitted.voice.voice_id
    old_sample = voice_row(db, voice_id).sample_key
    assert cloning.rename_voice(speech, caller(), voice_id, "second").prefix == "second"

    again = cloning.replace_sample(speech, caller(), voice_id, sample_wav())
    assert again.voice.status == "DEPLOYING" and again.voice.voice_id == voice_id
    assert old_sample is not None and not speech.store.exists(old_sample)
    run_jobs(db, settings)
    row = voice_row(db, voice_id)
    assert row.status == "OK" and row.sample_key != old_sample

    cloning.delete_voice(speech, caller(), voice_id)
    with db.read() as session:
        assert not session.exec(select(ClonedVoice)).all()
    assert row.sample_key is not None and not speech.store.exists(row.sample_key)
    with pytest.raises(NotFoundError):
        cloning.delete_voice(speech, caller(), voice_id)
    assert len(history_of(db, user_id)) == 2  # two enrolments; renames and deletes are free


def test_inspect_sample_reports_every_problem_for_the_console(speech: SpeechContext) -> None:
    decoded, problems = cloning.inspect_sample(sample_wav())
    assert problems == [] and 11 < decoded.duration_seconds < 13
    _, problems = cloning.inspect_sample(b"\0" * (11 * 1024 * 1024))
    assert problems and "10 MB" in problems[0]
