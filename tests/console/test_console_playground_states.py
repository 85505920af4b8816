"""The playground's states in-process, as Reflex runs their handlers, on fake engines.

A speech run goes Generate → the player's stream (simulated here as the route runs it) → the
watcher shows the cost and a link to the stored file. Another account never reaches the first
one's cloned voice, ticket or transcript, whatever it forges; signed out, nothing runs.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reflex_components_core.core._upload import UploadFile
from sqlmodel import select

from api import audio
from api.billing.ledger import balance_of
from api.db import Database
from api.engines.base import Pcm
from api.history.models import HistoryRecord
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import open_stream
from api.speech.tickets import (
    SUCCEEDED,
    Outcome,
    redeem_ticket,
    report_outcome,
    ticket_store_for,
)
from api.voices import service as voices
from console.state import playground as playground_state
from console.state import playground_tts as tts_state
from console.state import session as session_state
from console.state import speech_access
from console.state.playground import PlaygroundState
from console.state.playground_asr import PlaygroundAsrState
from console.state.playground_sed import PlaygroundSedState
from console.state.playground_tts import STREAM_PATH, PlaygroundTtsState
from tests.console.harness import drain, signed_in_tree, substate, use_test_database
from tests.helpers import make_user
from tests.speech.conftest import fakes, speech  # noqa: F401

pytestmark = pytest.mark.anyio


@pytest.fixture
def console_env(
    db: Database,
    settings: Settings,
    speech: SpeechContext,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """The console's database and settings are the test's; speech runs on fake engines."""
    use_test_database(
        monkeypatch, db, settings, session_state, speech_access, playground_state, tts_state
    )
    yield


def wav_upload(name: str = "hello.wav") -> list[UploadFile]:
    tone = Pcm(audio.silence(1500, 16_000).samples + 3000, 16_000)
    data = audio.encode(tone, "wav")
    return [UploadFile(file=io.BytesIO(data), path=Path(name), size=len(data))]


def play(ctx: SpeechContext, db: Database, settings: Settings, ticket_id: str, user_id: int):
    """What the player's request does (``api/http/routes/playground.py``), in-process."""
    store = ticket_store_for(settings.redis_url)
    parked = redeem_ticket(store, ticket_id, user_id=user_id)
    from api.accounts.service import get_user
    from api.principal import Principal

    with db.read() as session:
        user = get_user(session, user_id)
    principal = Principal(user_id=user_id, email=user.email, role="user", via="session")
    stream = open_stream(ctx, Caller(principal, parked.request_id, source="console"), parked.order)
    assert b"".join(stream)
    report_outcome(store, parked, Outcome(SUCCEEDED, record_id=stream.record_id))


def records_of(db: Database, user_id: int) -> list[HistoryRecord]:
    with db.read() as session:
        return list(session.exec(select(HistoryRecord).where(HistoryRecord.user_id == user_id)))


def cloned_voice(db: Database, user_id: int, model: str = "cosyvoice-v3-flash") -> str:
    with db.write() as session:
        voice = voices.create_voice(
            session, user_id=user_id, prefix="mine", target_model=model, sample_key=None
        )
        voices.mark_deployed(session, voice, base_voice="piper:joe", profile={})
        return voice.voice_id


async def test_a_speech_run_from_generate_to_cost_and_file(
    db: Database,
    settings: Settings,
    speech: SpeechContext,  # noqa: F811
    console_env: None,
) -> None:
    alice = make_user(db, settings, balance_micros=1_000_000)
    root = signed_in_tree(db, settings, alice, "/playground?model=tts-1&voice=nova")
    tts = substate(root, PlaygroundTtsState)

    assert await PlaygroundTtsState.load.fn(tts) is None
    page = await root.get_state(PlaygroundState)
    assert page.loaded and page.balance == "1.0000"
    assert (tts.model, tts.voice) == ("tts-1", "nova")
    await PlaygroundTtsState.set_text.fn(tts, "Hello there.")
    assert (tts.characters, tts.estimate) == (12, "0.0013")  # ¥0.108 / 1k characters
    await PlaygroundTtsState.set_speed.fn(tts, [9.0])  # out of range: kept within bounds
    assert tts.speed == 2.0

    assert await PlaygroundTtsState.generate.fn(tts) == PlaygroundTtsState.watch
    assert tts.generating and tts.audio_src.startswith(STREAM_PATH)
    play(speech, db, settings, tts.audio_src.removeprefix(STREAM_PATH), alice)
    await drain(PlaygroundTtsState.watch.fn(tts))

    (record,) = records_of(db, alice)
    assert (record.type, record.status, record.model, record.voice) == (
        "tts",
        "succeeded",
        "tts-1",
        "nova",
    )
    assert tts.done and not tts.generating
    assert (tts.cost, tts.billed_characters) == ("0.0013", "12")
    assert tts.download_url.startswith("/files/") and "filename=speech-" in tts.download_url
    assert page.balance == "0.9987" and balance_of_user(db, alice) == 1_000_000 - 1_296
    await PlaygroundTtsState.playback_ended.fn(tts)
    assert tts.audio_src.startswith("/files/") and not tts.autoplay


def balance_of_user(db: Database, user_id: int) -> int:
    with db.read() as session:
        return balance_of(session, user_id)


async def test_another_account_never_reaches_the_first_ones_voice_or_ticket(
    db: Database,
    settings: Settings,
    speech: SpeechContext,  # noqa: F811
    console_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_user(db, settings, balance_micros=1_000_000)
    bob = make_user(db, settings, balance_micros=1_000_000)
    alices_voice = cloned_voice(db, alice)

    mine = substate(signed_in_tree(db, settings, alice, "/playground"), PlaygroundTtsState)
    await PlaygroundTtsState.load.fn(mine)
    assert alices_voice in {v["voice_id"] for v in mine.own_voices}
    await PlaygroundTtsState.set_voice.fn(mine, alices_voice)
    await PlaygroundTtsState.set_text.fn(mine, "你好。")
    await PlaygroundTtsState.generate.fn(mine)
    alices_ticket = mine.audio_src.removeprefix(STREAM_PATH)

    # Bob, even with a link to Alice's voice, is offered only his own and the system's.
    theirs = substate(
        signed_in_tree(db, settings, bob, f"/playground?voice={alices_voice}"), PlaygroundTtsState
    )
    await PlaygroundTtsState.load.fn(theirs)
    assert alices_voice not in json.dumps(theirs._voices) and theirs.voice != alices_voice
    await PlaygroundTtsState.set_voice.fn(theirs, alices_voice)
    assert theirs.voice != alices_voice
    # A forged voice is refused by the use case itself; nothing is parked or held.
    theirs.voice = alices_voice
    await PlaygroundTtsState.set_text.fn(theirs, "Hello.")
    answer = await PlaygroundTtsState.generate.fn(theirs)
    assert "Unknown voice" in str(answer) and theirs.audio_src == ""
    # A forged ticket: the watcher learns nothing of Alice's run.
    monkeypatch.setattr(tts_state, "WATCH_LIMIT_SECONDS", 0.3)
    monkeypatch.setattr(tts_state, "POLL_SECONDS", 0.05)
    theirs._ticket = alices_ticket
    play(speech, db, settings, alices_ticket, alice)
    await drain(PlaygroundTtsState.watch.fn(theirs))
    assert not theirs.done and theirs.cost == "" and theirs.download_url == ""
    assert records_of(db, bob) == [] and balance_of_user(db, bob) == 1_000_000
    # Alice's own watcher sees her run.
    await drain(PlaygroundTtsState.watch.fn(mine))
    assert mine.done and [r.voice for r in records_of(db, alice)] == [alices_voice]


async def test_signed_out_nothing_runs(db: Database, settings: Settings, console_env: None) -> None:
    root = signed_in_tree(db, settings, None, "/playground")
    tts = substate(root, PlaygroundTtsState)
    assert "/signin" in str(await PlaygroundTtsState.load.fn(tts))
    tts.text = "Hello."
    assert "/signin" in str(await PlaygroundTtsState.generate.fn(tts))
    assert tts.audio_src == ""
    asr = substate(root, PlaygroundAsrState)
    assert "/signin" in str(await PlaygroundAsrState.transcribe_upload.fn(asr, wav_upload()))
    assert asr._pending == "" and not asr.busy
    assert await PlaygroundAsrState.download.fn(asr, "srt") is None


async def test_recognition_and_emotion_are_billed_and_stay_with_their_account(
    db: Database, settings: Settings, console_env: None
) -> None:
    alice = make_user(db, settings, balance_micros=1_000_000)
    bob = make_user(db, settings, balance_micros=1_000_000)
    root = signed_in_tree(db, settings, alice, "/playground")
    asr = substate(root, PlaygroundAsrState)
    await PlaygroundAsrState.load.fn(asr)
    assert "faster-whisper-base" in {m["id"] for m in asr.models}
    assert "qwen3-asr-flash-filetrans" not in {m["id"] for m in asr.models}  # a job, not a call

    run = await PlaygroundAsrState.transcribe_upload.fn(asr, wav_upload())
    assert run == PlaygroundAsrState.run_transcription and asr.busy
    kept = Path(asr._pending)
    assert kept.exists()
    await drain(PlaygroundAsrState.run_transcription.fn(asr))
    assert not kept.exists() and not asr.busy
    assert asr.text == "Hello world. This is a test." and asr.segments
    assert asr.emotion and asr.cost == "0.0003"  # 1.5 s at ¥0.0002 / s
    srt = await PlaygroundAsrState.download.fn(asr, "srt")
    args = {str(name): value._var_value for name, value in srt.args}
    assert args["filename"] == "transcript.srt"
    body = base64.b64decode(args["url"].removeprefix("data:text/plain;base64,")).decode()
    assert "00:00:00,000 -->" in body and "Hello world" in body
    assert await PlaygroundAsrState.download.fn(asr, "../../etc/passwd") is None

    sed = substate(root, PlaygroundSedState)
    await PlaygroundSedState.load.fn(sed)
    assert await PlaygroundSedState.analyze_upload.fn(sed, wav_upload()) is not None
    await drain(PlaygroundSedState.run_analysis.fn(sed))
    assert len(sed.scores) == 7 and sed.top and sed.cost == "0.0050"
    assert {r.type for r in records_of(db, alice)} == {"asr", "sed"}
    assert balance_of_user(db, alice) == 1_000_000 - 300 - 5_000

    # Bob's tab has no transcript of Alice's, and a forged file path is not a run of hers.
    other = substate(signed_in_tree(db, settings, bob, "/playground"), PlaygroundAsrState)
    assert "Transcribe something first" in str(await PlaygroundAsrState.download.fn(other, "txt"))
    assert records_of(db, bob) == []
