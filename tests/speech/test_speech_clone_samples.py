"""The console's side of cloning: the instant sample check, the models a voice can be made
for, and a checked sample kept (for its owner only) until the wizard creates the voice."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlmodel import select

from api import audio
from api.db import Database
from api.engines.base import Pcm
from api.engines.clone import assess_sample
from api.errors import InvalidInputError, NotFoundError
from api.settings import Settings
from api.speech import cloning
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.storage.models import StoredObject
from api.voices.models import ClonedVoice
from tests.helpers import make_user
from tests.speech.conftest import FUNDS, caller_for, run_jobs
from tests.speech.test_speech_cloning import sample_wav


def _wav(seconds: float, *, amplitude: float = 0.0, rate: int = 16000) -> bytes:
    samples = (amplitude * 32767 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.int16)
    return audio.encode(Pcm(samples, rate), "wav")


def test_a_clear_sample_measures_well_and_has_no_problem() -> None:
    found = cloning.assess_upload(sample_wav())
    assert found.usable and found.problems == ()
    assert 11 < found.duration_seconds < 13
    assert found.sample_rate == 16000
    assert found.loudness_dbfs is not None and -30 < found.loudness_dbfs < 0
    assert found.speech_ratio is not None and found.speech_ratio > 0.6
    assert found.longest_speech_seconds is not None and found.longest_speech_seconds >= 5


def test_short_silent_unreadable_and_oversized_samples_each_say_why() -> None:
    speech = audio.decode(sample_wav()).pcm
    four_seconds = Pcm(speech.samples[: 4 * speech.sample_rate], speech.sample_rate)
    short = cloning.assess_upload(audio.encode(four_seconds, "wav"))
    assert [problem.code for problem in short.problems] == ["too_short"]
    assert short.problems[0].value == pytest.approx(4.0, abs=0.05)
    assert "10–60 s" in short.problems[0].message

    silent = cloning.assess_upload(_wav(12))
    assert [problem.code for problem in silent.problems] == ["silent"]
    assert silent.loudness_dbfs is not None and silent.loudness_dbfs < -45

    unreadable = cloning.assess_upload(b"%PDF-1.7 not a sound at all" * 10)
    assert [problem.code for problem in unreadable.problems] == ["unreadable"]
    assert unreadable.problems[0].message

    oversized = cloning.assess_upload(b"\0" * (11 * 1024 * 1024))
    assert [problem.code for problem in oversized.problems] == ["too_large"]
    assert oversized.problems[0].value == pytest.approx(11.0)


def test_a_low_sample_rate_is_named_with_its_rate() -> None:
    pcm = audio.decode(sample_wav()).pcm
    found = assess_sample(audio.resample(pcm, 8000))
    assert "low_sample_rate" in [problem.code for problem in found.problems]
    assert found.sample_rate == 8000


def test_clone_targets_are_every_speech_model_seed_001s_first(speech: SpeechContext) -> None:
    targets = [model.id for model in cloning.clone_target_models(speech.catalog)]
    assert targets[:3] == ["cosyvoice-v3-plus", "cosyvoice-v3-flash", "cosyvoice-v2"]
    assert sorted(targets) == sorted(model.id for model in speech.catalog.models("tts"))
    assert len(set(targets)) == len(targets)


def test_a_kept_sample_becomes_a_voice_and_is_then_dropped(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    key = cloning.keep_sample(speech, user_id, sample_wav())
    assert speech.store.exists(key)

    submitted = cloning.create_voice_from_kept_sample(
        speech, caller(), key, prefix="kept", target_model="cosyvoice-v2"
    )
    assert submitted.voice.voice_id.startswith("cosyvoice-v2-kept-")
    assert not speech.store.exists(key)
    with db.read() as session:
        assert session.exec(select(StoredObject).where(StoredObject.key == key)).first() is None
    run_jobs(db, settings)
    with db.read() as session:
        voice = session.exec(select(ClonedVoice)).one()
    assert voice.status == "OK"


def test_a_bad_sample_is_not_kept(speech: SpeechContext, user_id: int) -> None:
    with pytest.raises(InvalidInputError) as refused:
        cloning.keep_sample(speech, user_id, _wav(12))
    assert refused.value.code == "INVALID_AUDIO"


def test_another_users_kept_sample_cannot_be_used_or_dropped(
    speech: SpeechContext, db: Database, settings: Settings, user_id: int
) -> None:
    key = cloning.keep_sample(speech, user_id, sample_wav())
    intruder = make_user(db, settings, balance_micros=FUNDS)
    with pytest.raises(NotFoundError):
        cloning.create_voice_from_kept_sample(
            speech, caller_for(intruder), key, prefix="stolen", target_model="cosyvoice-v2"
        )
    cloning.forget_sample(speech, intruder, key)  # not theirs: nothing happens
    assert speech.store.exists(key)
    with db.read() as session:
        assert not session.exec(select(ClonedVoice)).all()
    cloning.forget_sample(speech, user_id, key)
    assert not speech.store.exists(key)
