"""DashScope adapters against the fake DashScope: CosyVoice WebSocket TTS, Qwen3-ASR, filetrans,
voice enrollment. Happy paths check what went over the wire; every fault maps to the right
platform error without a secret in it."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from typing import Any

import pytest

from api.engines.base import RecognitionRequest, SynthesisRequest
from api.engines.providers import (
    PROVIDER_KEY_REJECTED,
    DashScopeASR,
    DashScopeCosyVoiceTTS,
    DashScopeFileTranscription,
    DashScopeVoiceEnrollment,
    ProviderError,
    ProviderKeyRejectedError,
    voice_status,
)
from api.errors import InvalidInputError, UpstreamError, UpstreamTimeoutError
from tests.providers.fake_dashscope import ASR_TEXT, FRAME_SECONDS, FRAMES_PER_TEXT
from tests.providers.fake_upstream import FakeState, read_wav
from tests.providers.support import (
    OPERATOR_KEY,
    TEST_TIMEOUT,
    USER_KEY,
    WRONG_USER_KEY,
    assert_safe,
    config_for,
    speech,
)

HELLO = SynthesisRequest(text="你好，欢迎使用语音合成。", voice="longxiaochun_v2")


def tts(fake: FakeState, **kwargs: Any) -> DashScopeCosyVoiceTTS:
    return DashScopeCosyVoiceTTS(config_for(fake.base_url), **kwargs)


def commands(fake: FakeState) -> list[dict[str, Any]]:
    return list(fake.extra["commands"])


# --- CosyVoice TTS ---------------------------------------------------------------------------


def test_tts_speaks_pcm_over_the_duplex_protocol(fake_dashscope: FakeState) -> None:
    engine = DashScopeCosyVoiceTTS(
        config_for(fake_dashscope.base_url, models={"cosyvoice-v3-flash": "cosyvoice-v3-flash-x"}),
        sample_rate=16000,
    )
    request = SynthesisRequest(
        text="你好",
        voice="longxiaochun_v2",
        speed=3.0,
        pitch=0.8,
        language="cmn",
        instruction="温柔",
    )
    pcm = engine.synthesize(request)

    assert pcm.sample_rate == 16000
    assert len(pcm.samples) == FRAMES_PER_TEXT * round(16000 * FRAME_SECONDS)
    assert pcm.samples.any()
    handshake = fake_dashscope.last("/api-ws/v1/inference")
    assert handshake.headers["authorization"] == f"Bearer {OPERATOR_KEY}"
    run, cont, finish = commands(fake_dashscope)
    assert run["header"]["action"] == "run-task"
    assert run["header"]["streaming"] == "duplex"
    payload = run["payload"]
    assert payload["model"] == "cosyvoice-v3-flash-x"
    assert (payload["task_group"], payload["task"], payload["function"]) == (
        "audio",
        "tts",
        "SpeechSynthesizer",
    )
    assert payload["parameters"] == {
        "text_type": "PlainText",
        "voice": "longxiaochun_v2",
        "format": "pcm",
        "sample_rate": 16000,
        "volume": 50,
        "rate": 2.0,  # clamped to CosyVoice's 0.5–2.0
        "pitch": 0.8,
        "instruction": "温柔",
        "language_hints": ["zh"],
    }
    assert cont["header"]["action"] == "continue-task"
    assert cont["payload"] == {"input": {"text": "你好"}}
    assert finish["header"]["action"] == "finish-task"
    task_ids = {c["header"]["task_id"] for c in (run, cont, finish)}
    assert len(task_ids) == 1


def test_tts_request_rate_is_used_when_cosyvoice_supports_it(fake_dashscope: FakeState) -> None:
    request = SynthesisRequest(text="hi", voice="v", sample_rate=48000)
    assert tts(fake_dashscope).synthesize(request).sample_rate == 48000
    odd = SynthesisRequest(text="hi", voice="v", sample_rate=11025)
    assert tts(fake_dashscope).synthesize(odd).sample_rate == 24000


def test_tts_streams_frames_before_the_task_finishes(fake_dashscope: FakeState) -> None:
    fake_dashscope.hold = threading.Event()
    chunks = tts(fake_dashscope).stream(HELLO)
    first, second = next(chunks), next(chunks)
    assert not fake_dashscope.finished  # the upstream is still holding the rest back
    fake_dashscope.hold.set()
    rest = list(chunks)
    assert fake_dashscope.finished
    assert len([first, second, *rest]) == FRAMES_PER_TEXT
    assert all(chunk.sample_rate == 24000 and len(chunk.samples) for chunk in rest)


def test_tts_splits_long_text_into_continue_tasks(fake_dashscope: FakeState) -> None:
    text = "好" * 45_000
    tts(fake_dashscope).synthesize(SynthesisRequest(text=text, voice="v"))
    continues = [c for c in commands(fake_dashscope) if c["header"]["action"] == "continue-task"]
    assert [len(c["payload"]["input"]["text"]) for c in continues] == [20_000, 20_000, 5_000]


def test_tts_refuses_bad_input_before_connecting(fake_dashscope: FakeState) -> None:
    engine = tts(fake_dashscope)
    with pytest.raises(InvalidInputError):
        engine.stream(SynthesisRequest(text="  ", voice="v"))
    with pytest.raises(InvalidInputError) as too_long:
        engine.stream(SynthesisRequest(text="x" * 200_001, voice="v"))
    assert too_long.value.code == "TEXT_TOO_LONG"
    assert fake_dashscope.requests == []


def test_tts_speaks_with_a_cloned_voice_of_its_own_model(fake_dashscope: FakeState) -> None:
    engine = tts(fake_dashscope, model="cosyvoice-v3-plus")
    profile = {"voice_id": "cosyvoice-v3-plus-myvoice-1234", "target_model": "cosyvoice-v3-plus"}
    engine.synthesize(SynthesisRequest(text="hi", voice="ignored", profile=profile))
    parameters = commands(fake_dashscope)[0]["payload"]["parameters"]
    assert parameters["voice"] == "cosyvoice-v3-plus-myvoice-1234"

    other = {"voice_id": "cosyvoice-v2-x-1", "target_model": "cosyvoice-v2"}
    with pytest.raises(InvalidInputError) as mismatch:
        engine.stream(SynthesisRequest(text="hi", voice="v", profile=other))
    assert mismatch.value.code == "MODEL_VOICE_MISMATCH"


def test_tts_task_failed_names_the_provider_code_only(fake_dashscope: FakeState) -> None:
    fake_dashscope.fault = "task_failed"
    with pytest.raises(ProviderError) as failed:
        tts(fake_dashscope).synthesize(HELLO)
    assert failed.value.status == 502 and failed.value.code == "UPSTREAM_ERROR"
    assert failed.value.upstream_code == "InvalidParameter"
    assert "InvalidParameter" in failed.value.message
    assert "voice not found" not in failed.value.message  # the provider's text stays out
    assert_safe(failed.value)


@pytest.mark.parametrize("fault", ["500", "401"])
def test_tts_handshake_refusals_are_502(fake_dashscope: FakeState, fault: str) -> None:
    fake_dashscope.fault = fault
    with pytest.raises(UpstreamError) as refused:
        tts(fake_dashscope).synthesize(HELLO)
    assert refused.value.code == "UPSTREAM_ERROR"
    assert f"HTTP {fault}" in refused.value.message
    assert_safe(refused.value)


def test_tts_rejected_user_key_is_distinct(fake_dashscope: FakeState) -> None:
    config = config_for(fake_dashscope.base_url).with_user_key(WRONG_USER_KEY)
    with pytest.raises(ProviderKeyRejectedError) as rejected:
        DashScopeCosyVoiceTTS(config).synthesize(HELLO)
    assert rejected.value.code == PROVIDER_KEY_REJECTED
    assert_safe(rejected.value)
    # A good user key goes to the operator's base URL and works.
    ok = config_for(fake_dashscope.base_url).with_user_key(USER_KEY)
    assert DashScopeCosyVoiceTTS(ok).synthesize(HELLO).samples.any()
    assert fake_dashscope.last("/inference").headers["authorization"] == f"Bearer {USER_KEY}"


def test_tts_hang_is_a_bounded_504(fake_dashscope: FakeState) -> None:
    fake_dashscope.fault = "hang"
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as timed_out:
        tts(fake_dashscope).synthesize(HELLO)
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert timed_out.value.status == 504 and timed_out.value.code == "TIMEOUT"
    assert_safe(timed_out.value)


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("empty", "no audio"),
        ("negative_usage", "nonsense usage"),
        ("truncated", "closed the connection"),
        ("invalid_json", "invalid JSON"),
    ],
)
def test_tts_bad_answers_are_502(fake_dashscope: FakeState, fault: str, words: str) -> None:
    fake_dashscope.fault = fault
    with pytest.raises(UpstreamError) as bad:
        tts(fake_dashscope).synthesize(HELLO)
    assert bad.value.status == 502 and bad.value.code == "UPSTREAM_ERROR"
    assert words in bad.value.message
    assert_safe(bad.value)


def test_tts_unreachable_host_is_502() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = DashScopeCosyVoiceTTS(config_for(f"http://127.0.0.1:{port}"))
    with pytest.raises(UpstreamError) as unreachable:
        engine.synthesize(HELLO)
    assert "could not connect" in unreachable.value.message
    assert_safe(unreachable.value)


# --- Qwen3-ASR (sync) ---------------------------------------------------------------------------


def test_asr_transcribes_with_emotion(fake_dashscope: FakeState) -> None:
    engine = DashScopeASR(config_for(fake_dashscope.base_url))
    audio = speech(2.0)
    transcript = engine.transcribe(RecognitionRequest(audio=audio, language="cmn", prompt="天气"))

    assert transcript.text == ASR_TEXT
    assert transcript.language == "zh"
    assert transcript.emotion == "happy"
    assert transcript.duration_ms == 2000  # measured here, not taken from the provider
    assert transcript.usage == {"seconds": 2.0}
    assert [(s.text, s.start_ms, s.end_ms) for s in transcript.segments] == [(ASR_TEXT, 0, 2000)]
    sent = fake_dashscope.last("/generation").body
    assert sent["model"] == "qwen3-asr-flash"
    assert sent["parameters"] == {"asr_options": {"enable_itn": False, "language": "zh"}}
    system, user = sent["input"]["messages"]
    assert system == {"role": "system", "content": [{"text": "天气"}]}
    data_url = user["content"][0]["audio"]
    rate, frames = read_wav(base64.b64decode(data_url.split(",", 1)[1]))
    assert (rate, frames) == (16000, 32000)


def test_asr_cannot_translate(fake_dashscope: FakeState) -> None:
    engine = DashScopeASR(config_for(fake_dashscope.base_url))
    with pytest.raises(InvalidInputError):
        engine.transcribe(RecognitionRequest(audio=speech(), task="translate"))


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("500", UpstreamError, "HTTP 500, InternalError"),
        ("401", UpstreamError, "rejected the platform's credentials"),
        ("hang", UpstreamTimeoutError, "did not answer in time"),
        ("invalid_json", UpstreamError, "invalid JSON"),
        ("negative_usage", UpstreamError, "nonsense usage"),
    ],
)
def test_asr_faults(
    fake_dashscope: FakeState, fault: str, error_type: type[Exception], words: str
) -> None:
    fake_dashscope.fault = fault
    started = time.monotonic()
    with pytest.raises(error_type) as failed:
        DashScopeASR(config_for(fake_dashscope.base_url)).transcribe(
            RecognitionRequest(audio=speech())
        )
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert words in str(failed.value)
    assert_safe(failed.value)


def test_asr_rejected_user_key(fake_dashscope: FakeState) -> None:
    config = config_for(fake_dashscope.base_url).with_user_key(WRONG_USER_KEY)
    with pytest.raises(ProviderKeyRejectedError) as rejected:
        DashScopeASR(config).transcribe(RecognitionRequest(audio=speech()))
    assert rejected.value.upstream_status == 401
    assert rejected.value.upstream_code == "InvalidApiKey"
    assert_safe(rejected.value)


# --- file transcription (async) -----------------------------------------------------------------


def test_filetrans_polls_to_success_and_reads_the_result(fake_dashscope: FakeState) -> None:
    helper = DashScopeFileTranscription(config_for(fake_dashscope.base_url), poll_interval=0.01)
    task_id = helper.submit("https://example.com/long.mp3", language="zh", enable_itn=True)
    task = helper.wait(task_id)

    assert fake_dashscope.extra["statuses"] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert task.status == "SUCCEEDED" and task.finished
    assert task.usage_seconds == 4
    assert task.submit_time == "2025-01-01 10:00:00.000"
    (channel,) = task.transcripts
    assert channel.text == "今天天气还行吧。明天见。"
    first, second = channel.sentences
    assert (first.begin_ms, first.end_ms, first.text, first.emotion) == (
        100,
        3820,
        "今天天气还行吧。",
        "neutral",
    )
    assert first.words[0].text == "今天" and first.words[0].end_ms == 580
    assert (second.sentence_id, second.emotion, second.language) == (1, "happy", "zh")
    assert task.result_dict()["transcripts"][0]["sentences"][0] == {
        "begin_time": 100,
        "end_time": 3820,
        "text": "今天天气还行吧。",
        "sentence_id": 0,
        "language": "zh",
        "emotion": "neutral",
    }

    submitted = fake_dashscope.requests[0]
    assert submitted.headers["x-dashscope-async"] == "enable"
    assert submitted.body == {
        "model": "qwen3-asr-flash-filetrans",
        "input": {"file_url": "https://example.com/long.mp3"},
        "parameters": {
            "channel_id": [0],
            "enable_itn": True,
            "enable_words": True,
            "language": "zh",
        },
    }
    # The result URL came from the provider: it is fetched without our credentials.
    result = fake_dashscope.last(".json")
    assert "authorization" not in result.headers


def test_filetrans_failed_task_is_reported_not_raised(fake_dashscope: FakeState) -> None:
    fake_dashscope.fault = "task_failed"
    helper = DashScopeFileTranscription(config_for(fake_dashscope.base_url), poll_interval=0.01)
    fake_dashscope.fault = None
    task_id = helper.submit("https://example.com/long.mp3")
    fake_dashscope.fault = "task_failed"
    task = helper.wait(task_id)
    assert task.status == "FAILED"
    assert task.error_code == "FILE_DOWNLOAD_FAILED"
    assert task.transcripts == ()


def test_filetrans_unknown_task_and_bad_ids(fake_dashscope: FakeState) -> None:
    helper = DashScopeFileTranscription(config_for(fake_dashscope.base_url))
    assert helper.fetch("no-such-task").status == "UNKNOWN"
    with pytest.raises(InvalidInputError):
        helper.fetch("../../api/v1/other")
    with pytest.raises(InvalidInputError):
        helper.submit("file:///etc/passwd")


def test_filetrans_wait_is_bounded(fake_dashscope: FakeState) -> None:
    helper = DashScopeFileTranscription(config_for(fake_dashscope.base_url), poll_interval=0.2)
    task_id = helper.submit("https://example.com/long.mp3")
    with pytest.raises(UpstreamTimeoutError):
        helper.wait(task_id, timeout=0.1)


def test_filetrans_negative_usage_is_502(fake_dashscope: FakeState) -> None:
    helper = DashScopeFileTranscription(config_for(fake_dashscope.base_url))
    task_id = helper.submit("https://example.com/long.mp3")
    fake_dashscope.fault = "negative_usage"
    with pytest.raises(UpstreamError) as bad:
        helper.fetch(task_id)
    assert "nonsense usage" in bad.value.message


# --- voice enrollment ---------------------------------------------------------------------------


def test_voice_enrollment_lifecycle(fake_dashscope: FakeState) -> None:
    enrollment = DashScopeVoiceEnrollment(config_for(fake_dashscope.base_url))
    created = enrollment.create_voice(
        target_model="cosyvoice-v3-plus",
        prefix="myvoice",
        audio_url="https://bucket.example.com/sample.wav?sig=1",
        language_hints=["cmn"],
    )
    assert created.voice_id.startswith("cosyvoice-v3-plus-myvoice-")
    assert (created.status, created.target_model) == ("DEPLOYING", "cosyvoice-v3-plus")
    sent = fake_dashscope.last("/customization").body
    assert sent == {
        "model": "voice-enrollment",
        "input": {
            "action": "create_voice",
            "target_model": "cosyvoice-v3-plus",
            "prefix": "myvoice",
            "url": "https://bucket.example.com/sample.wav?sig=1",
            "language_hints": ["zh"],
        },
    }
    clone = created.clone_result()
    assert clone.base_voice == created.voice_id
    assert clone.profile["target_model"] == "cosyvoice-v3-plus"

    listed = enrollment.list_voices(prefix="myvoice")
    assert [voice.voice_id for voice in listed] == [created.voice_id]
    assert listed[0].created == "2025-01-01 10:00:00"

    queried = enrollment.query_voice(created.voice_id)
    assert queried.status == "OK"
    enrollment.update_voice(created.voice_id, "https://bucket.example.com/new.wav")
    assert enrollment.list_voices(prefix="myvoice")[0].status == "DEPLOYING"
    enrollment.delete_voice(created.voice_id)
    assert enrollment.list_voices(prefix="myvoice") == []
    with pytest.raises(UpstreamError) as missing:
        enrollment.query_voice(created.voice_id)
    assert "ResourceNotFound" in missing.value.message


def test_voice_enrollment_validates_input(fake_dashscope: FakeState) -> None:
    enrollment = DashScopeVoiceEnrollment(config_for(fake_dashscope.base_url))
    with pytest.raises(InvalidInputError):
        enrollment.create_voice(
            target_model="cosyvoice-v3-plus", prefix="My_Voice!", audio_url="https://x.y/a.wav"
        )
    with pytest.raises(InvalidInputError):
        enrollment.create_voice(
            target_model="cosyvoice-v3-plus", prefix="ok", audio_url="ftp://x.y/a.wav"
        )
    with pytest.raises(InvalidInputError):
        enrollment.delete_voice("a/../../b")
    assert fake_dashscope.requests == []


@pytest.mark.parametrize("fault", ["500", "401", "invalid_json"])
def test_voice_enrollment_faults(fake_dashscope: FakeState, fault: str) -> None:
    fake_dashscope.fault = fault
    enrollment = DashScopeVoiceEnrollment(config_for(fake_dashscope.base_url))
    with pytest.raises(UpstreamError) as failed:
        enrollment.list_voices()
    assert failed.value.status == 502
    assert_safe(failed.value)


def test_voice_status_mapping() -> None:
    assert voice_status("OK") == "OK"
    assert voice_status("DEPLOYING") == "DEPLOYING"
    assert voice_status("UNDEPLOYED") == "UNDEPLOYED"
    assert voice_status("failed") == "UNDEPLOYED"
    assert voice_status("SOMETHING_NEW") == "DEPLOYING"
    assert voice_status(None) == "DEPLOYING"


def test_commands_are_json_text_frames(fake_dashscope: FakeState) -> None:
    tts(fake_dashscope).synthesize(HELLO)
    # Round-trips as JSON, non-ASCII text intact.
    cont = commands(fake_dashscope)[1]
    assert json.loads(json.dumps(cont))["payload"]["input"]["text"] == HELLO.text


def test_filetrans_result_on_an_unexpected_host_is_not_fetched(fake_dashscope: FakeState) -> None:
    # The fake serves its result from its own host; a helper that only trusts another host
    # (as if the answer pointed somewhere internal) refuses to fetch it.
    config = config_for(fake_dashscope.base_url.replace("127.0.0.1", "localhost"))
    helper = DashScopeFileTranscription(config, poll_interval=0.01, result_host_suffixes=())
    task_id = helper.submit("https://example.com/long.mp3")
    with pytest.raises(UpstreamError) as refused:
        helper.wait(task_id)
    assert "unexpected host" in refused.value.message
    assert not any(r.path.endswith(".json") for r in fake_dashscope.requests)
