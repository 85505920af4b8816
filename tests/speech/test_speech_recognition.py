"""Recognition, file transcription and emotion use cases on fake engines."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from api import audio
from api.billing.pricing import Usage
from api.db import Database
from api.engines.base import Pcm
from api.engines.fakes import tone
from api.errors import InvalidInputError, RateLimitedError, UnsupportedMediaError, UpstreamError
from api.jobs import service as jobs
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.recognition import (
    RecognitionOrder,
    analyze_emotion,
    recognize,
    recognize_stream,
)
from api.speech.transcription import submit_transcription
from tests.speech.conftest import FUNDS, Fakes, run_jobs
from tests.speech.test_speech_synthesis import balance, history_of, holds_of


def wav(seconds: float, rate: int = 16000) -> bytes:
    pcm = Pcm(tone(round(seconds * rate), rate, 220.0), rate)
    return audio.encode(pcm, "wav")


def per_second(speech: SpeechContext, model: str, ms: int) -> int:
    return speech.catalog.model(model).price.cost(Usage(audio_ms=ms))


def test_recognition_is_billed_by_the_decoded_duration(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    order = RecognitionOrder("qwen3-asr-flash", language="en", with_emotion=True)
    result = recognize(speech, caller(), wav(3.0, 44100), order)

    assert result.transcript.text == "Hello world. This is a test."
    assert result.duration_ms == 3000 and result.model == "qwen3-asr-flash"
    assert result.cost_micros == per_second(speech, "qwen3-asr-flash", 3000) > 0
    assert balance(db, user_id) == FUNDS - result.cost_micros
    [request] = fakes.asr.requests
    assert request.audio.sample_rate == 16000 and request.language == "en"
    assert result.emotion is not None and result.emotion.top == "neutral"
    [row] = history_of(db, user_id)
    assert (row.type, row.status, row.output_text) == ("asr", "succeeded", result.transcript.text)
    assert row.duration_ms == 3000 and row.cost_micros == result.cost_micros


def test_a_file_that_is_not_audio_is_refused_free(
    speech: SpeechContext, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    zipped = b"PK\x03\x04" + b"\0" * 200
    with pytest.raises(UnsupportedMediaError):
        recognize(speech, caller(), zipped, RecognitionOrder("qwen3-asr-flash"))
    with pytest.raises(InvalidInputError) as refused:
        recognize(speech, caller(), wav(1.0), RecognitionOrder("qwen3-asr-flash", language="xx"))
    assert refused.value.param == "language"
    with pytest.raises(InvalidInputError) as refused:
        recognize(speech, caller(), wav(1.0), RecognitionOrder("tts-1"))
    assert refused.value.code == "INVALID_MODEL"
    assert balance(db, user_id) == FUNDS and not holds_of(db, user_id)


def test_a_recogniser_failure_releases_the_hold(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    fakes.asr.fail = UpstreamError("upstream said no")
    with pytest.raises(UpstreamError):
        recognize(speech, caller(), wav(2.0), RecognitionOrder("whisper-1"))
    assert balance(db, user_id) == FUNDS
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros) == ("failed", 0)


def test_emotion_analysis_charges_per_call_and_reads_the_words(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    analysis = analyze_emotion(speech, caller(), wav(2.0))
    assert analysis.model == "Zipformer-SED" and analysis.cost_micros == 5000
    scores = dict(analysis.result.scores)
    assert set(scores) == {"happy", "neutral", "sad", "angry", "fearful", "surprised", "disgusted"}
    assert sum(scores.values()) == pytest.approx(1.0)
    [(_, transcript, _)] = fakes.emotion.calls
    assert transcript == fakes.asr.text
    assert balance(db, user_id) == FUNDS - 5000
    [row] = history_of(db, user_id)
    assert (row.type, row.output_text) == ("sed", "neutral")


# --- file transcription (an async job) -------------------------------------------------------


def test_a_transcription_job_is_charged_when_it_succeeds(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    order = RecognitionOrder("qwen3-asr-flash-filetrans", source={"file_url": "https://x/a.wav"})
    submitted = submit_transcription(speech, caller(), wav(4.0), order)
    cost = per_second(speech, "qwen3-asr-flash-filetrans", 4000)
    assert balance(db, user_id) == FUNDS - cost  # held while it waits
    [row] = history_of(db, user_id)
    assert row.status == "pending" and row.job_id == submitted.job_id

    run_jobs(db, settings)

    with db.read() as session:
        job = jobs.get_owned_job(session, user_id=user_id, job_id=submitted.job_id)
    assert job.status == "SUCCEEDED"
    [transcript] = job.result["transcripts"]
    assert transcript["text"] == "Hello world. This is a test."
    sentences = transcript["sentences"]
    assert [s["sentence_id"] for s in sentences] == [0, 1]
    assert 0 <= sentences[0]["begin_time"] < sentences[0]["end_time"] <= sentences[1]["end_time"]
    assert sentences[1]["end_time"] <= 4000 and sentences[0]["emotion"] == "neutral"
    assert job.result["usage"] == {"seconds": 4}
    assert speech.store.get(job.result["transcription_key"])  # the result JSON, for its URL
    assert balance(db, user_id) == FUNDS - cost
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros) == ("succeeded", cost)
    [hold] = holds_of(db, user_id)
    assert hold.status == "captured"


def test_a_failed_transcription_job_is_free_and_says_so(
    speech: SpeechContext,
    fakes: Fakes,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    fakes.asr.fail = UpstreamError("the recogniser broke")
    submitted = submit_transcription(
        speech, caller(), wav(2.0), RecognitionOrder("qwen3-asr-flash-filetrans")
    )
    run_jobs(db, settings.model_copy(update={"job_max_attempts": 1}))
    with db.read() as session:
        job = jobs.get_owned_job(session, user_id=user_id, job_id=submitted.job_id)
    assert job.status == "FAILED" and job.error == "the recogniser broke"
    assert balance(db, user_id) == FUNDS
    [row] = history_of(db, user_id)
    assert row.status == "failed" and row.error == "the recogniser broke"


def test_silence_decodes_and_is_transcribed_as_nothing_but_still_costs_its_seconds(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    fakes.asr.text = ""
    silent = audio.encode(Pcm(np.zeros(16000, dtype=np.int16), 16000), "flac")
    result = recognize(speech, caller(), silent, RecognitionOrder("qwen3-asr-flash"))
    assert result.transcript.text == "" and result.duration_ms == 1000


def test_an_ogg_upload_is_kept_under_its_own_extension(
    speech: SpeechContext, caller: Callable[[], Caller], db: Database, settings: Settings
) -> None:
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, tone(16000 * 2, 16000, 220.0), 16000, format="OGG")
    order = RecognitionOrder("qwen3-asr-flash-filetrans")
    submitted = submit_transcription(speech, caller(), buffer.getvalue(), order)
    run_jobs(db, settings)
    with db.read() as session:
        job = jobs.get_owned_job(session, user_id=caller().user_id, job_id=submitted.job_id)
    assert job.status == "SUCCEEDED" and job.payload["key"].endswith(".ogg")


def test_an_account_may_have_only_so_many_tasks_waiting(
    speech: SpeechContext,
    caller: Callable[[], Caller],
    db: Database,
    settings: Settings,
    user_id: int,
) -> None:
    speech.settings = settings.model_copy(update={"max_active_jobs_per_account": 2})
    order = RecognitionOrder("qwen3-asr-flash-filetrans")
    for _ in range(2):
        submit_transcription(speech, caller(), wav(1.0), order)
    held = balance(db, user_id)

    with pytest.raises(RateLimitedError) as refused:
        submit_transcription(speech, caller(), wav(1.0), order)
    assert refused.value.code == "TOO_MANY_TASKS" and refused.value.retry_after > 0
    assert balance(db, user_id) == held  # the refused task's hold was released
    assert len(history_of(db, user_id)) == 2

    run_jobs(db, settings)  # the two finish: room again
    submit_transcription(speech, caller(), wav(1.0), order)


def test_a_recognition_stream_hands_out_segments_and_settles_at_the_end(
    speech: SpeechContext, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    stream = recognize_stream(speech, caller(), wav(3.0), RecognitionOrder("whisper-1"))
    cost = per_second(speech, "whisper-1", 3000)
    assert balance(db, user_id) == FUNDS - cost  # held at open
    texts = [segment.text for segment in stream]
    assert texts == ["Hello world.", "This is a test."]
    assert stream.result is not None and stream.result.cost_micros == cost
    assert balance(db, user_id) == FUNDS - cost
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros) == ("succeeded", cost)


def test_the_engine_detects_only_among_the_languages_the_model_recognises(
    speech: SpeechContext, fakes: Fakes, caller: Callable[[], Caller]
) -> None:
    """The offline engine stands in for Qwen3-ASR-Flash, which has no Thai; Whisper-1 has
    every language. Both ways to recognise pass the model's list on."""
    qwen = speech.catalog.model("qwen3-asr-flash").languages
    assert "zh" in qwen and "th" not in qwen

    recognize(speech, caller(), wav(1.0), RecognitionOrder("qwen3-asr-flash"))
    list(recognize_stream(speech, caller(), wav(1.0), RecognitionOrder("qwen3-asr-flash")))
    recognize(speech, caller(), wav(1.0), RecognitionOrder("whisper-1"))

    assert [request.languages for request in fakes.asr.requests] == [qwen, qwen, ()]


def test_a_recognition_stream_left_early_charges_nothing(
    speech: SpeechContext, caller: Callable[[], Caller], db: Database, user_id: int
) -> None:
    stream = recognize_stream(speech, caller(), wav(3.0), RecognitionOrder("whisper-1"))
    segments = iter(stream)
    next(segments)
    segments.close()  # the client hung up
    assert balance(db, user_id) == FUNDS
    [row] = history_of(db, user_id)
    assert (row.status, row.cost_micros) == ("cancelled", 0)
    [hold] = holds_of(db, user_id)
    assert hold.status == "released"
