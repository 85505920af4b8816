"""Clone wizard, My voices and voice library states in-process, as Reflex runs their handlers.

Alice makes a voice through the wizard's handlers. Bob, signed in on his own websocket, sends
Alice's voice id to every My voices handler that takes one (rename, replace sample, delete):
each answers "not found" and nothing of Alice's changes or shows. The library's preview is
free, and made once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import reflex as rx
from sqlmodel import select

from api.billing.ledger import balance_of
from api.db import Database
from api.engines.clone import SAMPLE_PROBLEM_CODES, SampleAssessment, SampleProblem
from api.history.models import HistoryRecord
from api.settings import Settings
from api.speech.context import SpeechContext
from api.voices.models import ClonedVoice
from console.state import session as session_state
from console.state import speech_access
from console.state.clone import CloneState, check_rows, problem_rows
from console.state.my_voices import MyVoicesState
from console.state.voice_library import VoiceLibraryState
from tests.console.harness import drain, signed_in_tree, substate, use_test_database
from tests.helpers import make_user
from tests.speech.conftest import FUNDS, Fakes, fakes, run_jobs, speech  # noqa: F401
from tests.speech.test_speech_cloning import sample_wav

pytestmark = pytest.mark.anyio


@pytest.fixture
def console_env(
    db: Database,
    settings: Settings,
    speech: SpeechContext,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """The console's process-wide database and settings are the test's; the speech context
    (``speech``, on fake engines) is the one every handler and the job runner use."""
    use_test_database(monkeypatch, db, settings, session_state, speech_access)
    yield


def upload(data: bytes, name: str = "sample.wav") -> list[rx.UploadFile]:
    return [rx.UploadFile(file=io.BytesIO(data), path=Path(name), size=len(data))]


def voices_of(db: Database, user_id: int) -> list[ClonedVoice]:
    with db.read() as session:
        return list(session.exec(select(ClonedVoice).where(ClonedVoice.user_id == user_id)))


async def clone_through_the_wizard(
    db: Database, settings: Settings, user_id: int, prefix: str
) -> tuple[CloneState, str]:
    wizard = substate(signed_in_tree(db, settings, user_id, "/voices/clone"), CloneState)
    await CloneState.load.fn(wizard)
    assert wizard.loaded and wizard.step == 1 and wizard.models[0]["id"] == "cosyvoice-v3-plus"
    await drain(CloneState.handle_sample.fn(wizard, upload(sample_wav())))
    assert wizard.sample_usable and [row["verdict"] for row in wizard.checks] == ["ok"] * 5
    await CloneState.to_details.fn(wizard)
    assert wizard.step == 1  # no consent yet
    await CloneState.set_consent.fn(wizard, True)
    await CloneState.to_details.fn(wizard)
    assert wizard.step == 2
    await drain(
        CloneState.create_voice.fn(wizard, {"prefix": prefix, "target_model": "cosyvoice-v2"})
    )
    assert wizard.step == 3 and wizard.status == "DEPLOYING"
    assert wizard.voice_id.startswith(f"cosyvoice-v2-{prefix}-")
    run_jobs(db, settings)
    return wizard, wizard.voice_id


async def test_the_wizard_refuses_a_bad_sample_and_makes_a_voice_from_a_good_one(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings, balance_micros=FUNDS)
    wizard = substate(signed_in_tree(db, settings, alice, "/voices/clone"), CloneState)
    await CloneState.load.fn(wizard)
    await CloneState.set_consent.fn(wizard, True)
    await drain(CloneState.handle_sample.fn(wizard, upload(b"RIFF" + b"\0" * 100, "bad.wav")))
    assert wizard.sample_checked and not wizard.sample_usable and wizard.problems
    assert wizard.problems[0]["zh"].startswith("无法识别")
    await CloneState.to_details.fn(wizard)
    assert wizard.step == 1

    wizard, voice_id = await clone_through_the_wizard(db, settings, alice, "alice")
    [voice] = voices_of(db, alice)
    assert voice.voice_id == voice_id and voice.status == "OK"
    assert wizard.playground_href == f"/playground?model=cosyvoice-v2&voice={voice_id}"


async def test_another_user_cannot_see_rename_replace_or_delete_a_voice(
    console_env: None, db: Database, settings: Settings
) -> None:
    alice = make_user(db, settings, balance_micros=FUNDS)
    bob = make_user(db, settings, balance_micros=FUNDS)
    _, voice_id = await clone_through_the_wizard(db, settings, alice, "alice")
    [before] = voices_of(db, alice)

    mine = substate(signed_in_tree(db, settings, bob, "/voices"), MyVoicesState)
    await MyVoicesState.load.fn(mine)
    assert mine.rows == [] and mine.used == 0 and voice_id not in repr(mine.get_delta())

    await MyVoicesState.open_rename.fn(mine, voice_id, "alice")
    toast = await MyVoicesState.save_rename.fn(mine, {"prefix": "stolen"})
    assert "not found" in repr(toast).lower()
    await MyVoicesState.open_replace.fn(mine, voice_id)
    await drain(MyVoicesState.replace_sample.fn(mine, upload(sample_wav())))
    toast = await MyVoicesState.delete_voice.fn(mine, voice_id)
    assert "not found" in repr(toast).lower()

    [after] = voices_of(db, alice)
    assert (after.prefix, after.status, after.sample_key) == ("alice", "OK", before.sample_key)
    assert mine.rows == [] and voices_of(db, bob) == []
    with db.read() as session:  # Bob was charged nothing, nothing was recorded for him
        assert balance_of(session, bob) == FUNDS
        assert not session.exec(select(HistoryRecord).where(HistoryRecord.user_id == bob)).all()

    # Alice, on her own list, can do all of it.
    hers = substate(signed_in_tree(db, settings, alice, "/voices"), MyVoicesState)
    await MyVoicesState.load.fn(hers)
    assert [row["voice_id"] for row in hers.rows] == [voice_id] and hers.used == 1
    await MyVoicesState.open_rename.fn(hers, voice_id, "alice")
    await MyVoicesState.save_rename.fn(hers, {"prefix": "renamed"})
    assert hers.rows[0]["prefix"] == "renamed"
    await MyVoicesState.open_replace.fn(hers, voice_id)
    await drain(MyVoicesState.replace_sample.fn(hers, upload(sample_wav())))
    assert hers.rows[0]["status"] == "DEPLOYING"
    run_jobs(db, settings)
    await MyVoicesState.delete_voice.fn(hers, voice_id)
    assert hers.rows == [] and voices_of(db, alice) == []


async def test_the_wizard_tries_only_the_voice_it_made(
    console_env: None,
    db: Database,
    settings: Settings,
    fakes: Fakes,  # noqa: F811
) -> None:
    alice = make_user(db, settings, balance_micros=FUNDS)
    wizard, voice_id = await clone_through_the_wizard(db, settings, alice, "alice")
    wizard.status = "OK"  # what the status loop sets once the job is done
    await drain(CloneState.try_voice.fn(wizard))
    assert wizard.try_audio.startswith("/files/audio/tts/") and wizard.try_cost != ""
    with db.read() as session:
        spoken = session.exec(select(HistoryRecord).where(HistoryRecord.type == "tts")).all()
    assert [(row.user_id, row.voice) for row in spoken] == [(alice, voice_id)]


async def test_library_filters_and_a_free_preview_made_once(
    console_env: None,
    db: Database,
    settings: Settings,
    fakes: Fakes,  # noqa: F811
) -> None:
    alice = make_user(db, settings, balance_micros=FUNDS)
    library = substate(signed_in_tree(db, settings, alice, "/voices/library"), VoiceLibraryState)
    await VoiceLibraryState.load.fn(library)
    everything = library.total
    assert everything == len(library.cards) >= 20

    await VoiceLibraryState.set_gender.fn(library, "female")
    assert 0 < library.total < everything
    assert all(card["gender_en"] == "Female" for card in library.cards)
    await VoiceLibraryState.set_search.fn(library, "coral")
    assert [card["voice_id"] for card in library.cards] == ["coral"]
    await VoiceLibraryState.clear_filters.fn(library)
    assert library.total == everything

    requests = len(fakes.espeak.requests) + len(fakes.piper.requests)
    await drain(VoiceLibraryState.play_preview.fn(library, "coral"))
    first_url = library.preview_url
    assert library.preview_voice == "coral" and first_url.startswith("/files/audio/previews/")
    made = len(fakes.espeak.requests) + len(fakes.piper.requests)
    assert made > requests
    await drain(VoiceLibraryState.play_preview.fn(library, "coral"))
    assert len(fakes.espeak.requests) + len(fakes.piper.requests) == made  # kept, not remade
    await drain(VoiceLibraryState.play_preview.fn(library, "no-such-voice"))
    assert library.preview_voice == "coral"
    with db.read() as session:
        assert balance_of(session, alice) == FUNDS  # previews are free


def test_every_sample_problem_has_chinese_words_and_unmeasured_checks_are_skipped() -> None:
    for code in SAMPLE_PROBLEM_CODES:
        problem = SampleProblem(code, "english", 1.0)
        assert problem_rows_of(problem)[0]["zh"] != "english", code
    silent = SampleAssessment(12.0, 16000, -120.0, None, None, (SampleProblem("silent", "x"),))
    verdicts = {row["key"]: row["verdict"] for row in check_rows(silent)}
    assert verdicts == {
        "length": "ok",
        "rate": "ok",
        "loudness": "fail",
        "speech": "skip",
        "continuous": "skip",
    }


def problem_rows_of(problem: SampleProblem) -> list[dict[str, str]]:
    return problem_rows(SampleAssessment(0.0, 0, None, None, None, (problem,)))
