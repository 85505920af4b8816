"""Text to speech use cases on fake engines: money moves exactly once, history tells the truth."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select

from api import audio
from api.billing import ledger
from api.billing.models import Hold
from api.billing.pricing import Usage
from api.db import Database
from api.errors import (
    InsufficientBalanceError,
    InvalidInputError,
    PermissionDeniedError,
    UpstreamError,
)
from api.history.models import HistoryRecord
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import PAUSE_MS, SpeechOrder, open_stream, synthesize
from tests.speech.conftest import FUNDS, Fakes, caller_for

ENGLISH = "Hello there. This is a test of the speech platform."
CHINESE = "你好，欢迎使用语音合成服务！"


def balance(db: Database, user_id: int) -> int:
    with db.read() as session:
        return ledger.balance_of(session, user_id)


def history_of(db: Database, user_id: int) -> list[HistoryRecord]:
    with db.read() as session:
        return list(
            session.exec(select(HistoryRecord).where(HistoryRecord.user_id == user_id)).all()
        )


def holds_of(db: Database, user_id: int) -> list[Hold]:
    with db.read() as session:
        return list(session.exec(select(Hold).where(Hold.user_id == user_id)).all())


def price(speech: SpeechContext, model: str, text: str) -> int:
    rule = speech.catalog.model(model).price
    return rule.cost(Usage(characters=audio.count_characters(text)))


def test_english_speech_is_charged_once_stored_and_recorded(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], user_id: int, db: Database
) -> None:
    result = synthesize(speech, caller(), SpeechOrder(model="tts-1", voice="alloy", text=ENGLISH))

    cost = price(speech, "tts-1", ENGLISH)
    assert cost > 0 and result.cost_micros == cost
    assert balance(db, user_id) == FUNDS - cost
    decoded = audio.decode(result.audio)
    assert decoded.format == "mp3" and result.content_type == "audio/mpeg"
    expected_ms = fakes.piper.duration_ms(ENGLISH)
    assert abs(decoded.pcm.duration_ms - expected_ms) <= 60  # the MP3 frame grid
    assert [request.voice for request in fakes.piper.requests] == ["joe"]
    assert not fakes.espeak.requests
    [row] = history_of(db, user_id)
    assert (row.type, row.status, row.model, row.voice) == ("tts", "succeeded", "tts-1", "alloy")
    assert row.cost_micros == cost and row.characters == len(ENGLISH)
    assert row.output_key == result.output_key and row.id == result.record_id
    assert speech.store.get(result.output_key) == result.audio
    [hold] = holds_of(db, user_id)
    assert hold.status == "captured" and hold.captured_micros == cost


def test_each_language_is_spoken_by_the_voices_engine_for_it(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", CHINESE, voice="longanyang"))
    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", ENGLISH, voice="longanyang"))
    assert [r.voice for r in fakes.espeak.requests] == ["cmn+m7"]
    assert [r.voice for r in fakes.piper.requests] == ["joe"]


def test_mixed_text_is_spoken_language_by_language_and_english_reaches_its_engine_whole(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    english = f"{ENGLISH}\n\nA second paragraph.  It ends here."
    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", english, voice="longanyang"))
    assert [r.text for r in fakes.piper.requests] == [english]
    assert not fakes.espeak.requests

    fakes.piper.requests.clear()
    mixed = f"{CHINESE}{ENGLISH} 再见。"
    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", mixed, voice="longanyang"))
    assert [r.text for r in fakes.espeak.requests] == [CHINESE, "再见。"]
    assert [r.text for r in fakes.piper.requests] == [ENGLISH]


def test_the_model_default_voice_is_used_when_none_is_named(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    result = synthesize(speech, caller(), SpeechOrder("Qwen3-TTS", ENGLISH, format="wav"))
    assert result.format == "wav" and result.content_type == "audio/wav"
    assert fakes.piper.requests  # "default" speaks English with Piper


@pytest.mark.parametrize("fmt", ["mp3", "wav", "pcm", "opus", "aac", "flac"])
def test_every_format_and_rate_comes_out_as_asked(
    speech: SpeechContext, caller: Callable[[], Caller], fmt: str
) -> None:
    # Six seconds: ADTS AAC always carries 1024 samples of encoder priming, which a
    # decoder cannot know to drop; on a clip this long that stays well inside 2 %.
    order = SpeechOrder("tts-1", ENGLISH * 2, voice="alloy", format=fmt, sample_rate=16000)
    result = synthesize(speech, caller(), order)
    assert result.sample_rate == 16000
    if fmt == "pcm":
        pcm = audio.decode_pcm(result.audio, 16000)
    else:
        decoded = audio.decode(result.audio)
        pcm = decoded.pcm
        assert decoded.source_sample_rate == 16000
    assert abs(pcm.duration_ms - result.duration_ms) <= result.duration_ms * 0.02


def test_speed_pitch_and_volume_reach_the_engine_or_the_pipeline(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    order = SpeechOrder("tts-1", ENGLISH, voice="alloy", speed=2.0, pitch=1.5, volume_db=-6.0)
    result = synthesize(speech, caller(), order)
    [request] = fakes.piper.requests
    assert (request.speed, request.pitch) == (2.0, 1.5)  # the fake does both natively
    assert abs(result.duration_ms - fakes.piper.duration_ms(ENGLISH, 2.0)) <= 5


def test_a_voice_style_multiplies_the_requested_pitch(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", CHINESE, voice="longjielidou"))
    assert fakes.espeak.requests[0].pitch == 1.5


def test_long_text_is_split_spoken_in_order_and_joined_with_pauses(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    sentences = [f"Sentence number {index} is here." for index in range(150)]
    text = " ".join(sentences)
    assert len(text) > 2000
    with pytest.raises(InvalidInputError) as refused:
        synthesize(speech, caller(), SpeechOrder("cosyvoice-v3-flash", text, voice="longanyang"))
    assert refused.value.code == "TEXT_TOO_LONG"
    assert balance(db, user_id) == FUNDS and not history_of(db, user_id)

    order = SpeechOrder("cosyvoice-v3-flash", text, voice="longanyang", format="wav")
    result = synthesize(speech, caller(), order, long=True)
    spoken = [request.text for request in fakes.piper.requests]
    assert result.segments == len(spoken) >= 2
    assert all(len(part) <= 2000 for part in spoken)
    assert " ".join(spoken) == text  # every sentence, in order, none twice
    speech_ms = sum(fakes.piper.duration_ms(part) for part in spoken)
    pauses_ms = PAUSE_MS * (len(spoken) - 1)
    assert abs(result.duration_ms - (speech_ms + pauses_ms)) <= 10
    assert result.cost_micros == price(speech, "cosyvoice-v3-flash", text)


def test_an_engine_failure_releases_the_hold_and_records_the_failure(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    fakes.piper.fail = UpstreamError("engine down")
    with pytest.raises(UpstreamError):
        synthesize(speech, caller(), SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    assert balance(db, user_id) == FUNDS
    [hold] = holds_of(db, user_id)
    assert hold.status == "released"
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros, row.error) == ("failed", 0, "engine down")


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (SpeechOrder("no-such-model", ENGLISH), "INVALID_MODEL"),
        (SpeechOrder("Zipformer-SED", ENGLISH), "INVALID_MODEL"),
        (SpeechOrder("tts-1", ENGLISH, voice="nobody"), "INVALID_VOICE"),
        (SpeechOrder("tts-1", ENGLISH, voice="longanyang"), "MODEL_VOICE_MISMATCH"),
        (SpeechOrder("tts-1", "   "), "INVALID_INPUT"),
        (SpeechOrder("tts-1", ENGLISH, format="ogg"), "INVALID_INPUT"),
        (SpeechOrder("tts-1", ENGLISH, sample_rate=12345), "INVALID_INPUT"),
        (SpeechOrder("tts-1", ENGLISH, speed=5.0), "INVALID_INPUT"),
        (SpeechOrder("tts-1", ENGLISH, pitch=0.1), "INVALID_INPUT"),
        (SpeechOrder("tts-1", "x" * 4097), "TEXT_TOO_LONG"),
    ],
)
def test_bad_orders_are_refused_before_any_money_moves(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    user_id: int,
    order: SpeechOrder,
    code: str,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        synthesize(speech, caller(), order)
    assert refused.value.code == code
    assert balance(db, user_id) == FUNDS and not holds_of(db, user_id)


def test_a_short_balance_is_refused(
    speech: SpeechContext, db: Database, settings: object, fakes: Fakes
) -> None:
    from tests.helpers import make_user

    poor = make_user(db, settings, balance_micros=1)  # type: ignore[arg-type]
    with pytest.raises(InsufficientBalanceError):
        synthesize(speech, caller_for(poor), SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    assert not fakes.piper.requests and not history_of(db, poor)


def test_a_key_without_the_tts_scope_is_refused(
    speech: SpeechContext, user_id: int, fakes: Fakes
) -> None:
    asr_only = caller_for(user_id, api_key_id=None, scopes={"asr"})
    with pytest.raises(PermissionDeniedError):
        synthesize(speech, asr_only, SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    assert not fakes.piper.requests


# --- streaming --------------------------------------------------------------------------------


def test_a_stream_read_to_the_end_is_charged_once_with_its_audio_kept(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    stream = open_stream(speech, caller(), SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    assert balance(db, user_id) == FUNDS - price(speech, "tts-1", ENGLISH)  # held up front
    chunks = list(stream)
    assert len(chunks) >= 2  # one sentence at a time, not the whole text at the end
    assert len(fakes.piper.requests) == 2
    body = b"".join(chunks)
    assert abs(audio.decode(body).pcm.duration_ms - fakes.piper.duration_ms(ENGLISH)) <= 80
    assert balance(db, user_id) == FUNDS - price(speech, "tts-1", ENGLISH)
    [row] = history_of(db, user_id)
    assert row.status == "succeeded" and row.id == stream.record_id
    assert row.output_key is not None and speech.store.get(row.output_key) == body


def test_a_stream_closed_early_costs_nothing_and_stops_the_engine(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    text = " ".join(f"Sentence {n}." for n in range(20))
    stream = open_stream(speech, caller(), SpeechOrder("tts-1", text, voice="alloy", format="pcm"))
    chunks = iter(stream)
    next(chunks)
    chunks.close()  # what a web server does when the client hangs up
    assert len(fakes.piper.requests) == 1  # the remaining sentences were never synthesized
    assert balance(db, user_id) == FUNDS
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros) == ("cancelled", 0)
    [hold] = holds_of(db, user_id)
    assert hold.status == "released"


def test_a_stream_never_read_releases_its_hold(
    speech: SpeechContext, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    stream = open_stream(speech, caller(), SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    stream.close()
    assert balance(db, user_id) == FUNDS


def test_an_engine_failing_mid_stream_charges_nothing(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    fakes.piper.fail_after_chunks = 1
    stream = open_stream(speech, caller(), SpeechOrder("tts-1", ENGLISH, voice="alloy"))
    received = []
    with pytest.raises(UpstreamError):
        for chunk in stream:
            received.append(chunk)
    assert received  # the first sentence was already on its way
    assert balance(db, user_id) == FUNDS
    [row] = history_of(db, user_id)
    assert row.status == "failed"
