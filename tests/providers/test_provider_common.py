"""The shared provider plumbing: configuration rules, redaction, error mapping, audio decoding."""

from __future__ import annotations

import logging
import struct

import httpx
import numpy as np
import pytest

from api.engines.base import SynthesisRequest
from api.engines.providers import (
    DashScopeCosyVoiceTTS,
    ProviderConfig,
    ProviderError,
    ProviderKeyRejectedError,
    RedactingFilter,
    redact,
)
from api.engines.providers.common import (
    Deadline,
    PcmChunker,
    ProviderHttp,
    WavStreamDecoder,
    checked_usage,
    decode_wav,
    error_for_status,
    fetch_public_json,
    provider_logger,
    wav_bytes,
)
from api.errors import UpstreamError
from tests.providers.fake_upstream import FakeState, tone, wav_file
from tests.providers.support import (
    FISH_KEY,
    OPERATOR_KEY,
    USER_KEY,
    assert_safe,
    config_for,
    speech,
)

# --- configuration -----------------------------------------------------------------------------


def test_config_never_shows_its_key() -> None:
    config = ProviderConfig("https://dashscope.aliyuncs.com/", api_key=OPERATOR_KEY)
    assert OPERATOR_KEY not in repr(config) and OPERATOR_KEY not in str(config)
    assert config.base_url == "https://dashscope.aliyuncs.com"


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://dashscope.aliyuncs.com",
        "https://user:pass@dashscope.aliyuncs.com",
        "https://dashscope.aliyuncs.com/?api_key=x",
        "dashscope.aliyuncs.com",
    ],
)
def test_config_refuses_unusable_base_urls(base_url: str) -> None:
    with pytest.raises(ValueError):
        ProviderConfig(base_url, api_key=OPERATOR_KEY)


def test_user_key_keeps_the_operator_base_url_and_models() -> None:
    operator = ProviderConfig(
        "https://api.openai.com/v1", api_key=OPERATOR_KEY, models={"tts-1": "gpt-4o-mini-tts"}
    )
    user = operator.with_user_key(f"  {USER_KEY} ")
    assert user.base_url == operator.base_url
    assert user.api_key == USER_KEY and user.key_owner == "user"
    assert user.provider_model("tts-1") == "gpt-4o-mini-tts"
    assert user.provider_model("whisper-1") == "whisper-1"
    with pytest.raises(ValueError):
        operator.with_user_key("   ")


def test_config_models_cannot_be_changed_afterwards() -> None:
    models = {"a": "b"}
    config = ProviderConfig("https://api.fish.audio", models=models)
    models["a"] = "changed"
    assert config.provider_model("a") == "b"
    with pytest.raises(TypeError):
        config.models["a"] = "c"  # type: ignore[index]


def test_provider_paths_must_be_relative() -> None:
    http = ProviderHttp("X", ProviderConfig("https://api.example.com", api_key=OPERATOR_KEY))
    for path in (
        "https://evil.example/x",
        "//evil.example/x",
        "relative",
        "/https://evil.example/x",  # a scheme after the slash is an absolute URL, not a path
        "/https:evil.example/x",
    ):
        with pytest.raises(ValueError):
            http.request("GET", path)


def test_redirects_are_errors_and_the_key_goes_nowhere_else() -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    config = ProviderConfig("https://api.example.com/v1", api_key=OPERATOR_KEY)
    http = ProviderHttp("Example", config, transport=httpx.MockTransport(upstream))
    with pytest.raises(UpstreamError) as redirected:
        http.request("POST", "/audio/speech", json={})
    assert "unexpected redirect" in redirected.value.message
    assert [str(request.url) for request in seen] == ["https://api.example.com/v1/audio/speech"]
    assert_safe(redirected.value)


def test_no_key_sends_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    http = ProviderHttp(
        "Local", ProviderConfig("http://localhost:8000/v1"), transport=httpx.MockTransport(upstream)
    )
    http.request("GET", "/models")
    assert "authorization" not in seen[0].headers


def test_result_urls_must_be_http(fake_dashscope: FakeState) -> None:
    config = config_for(fake_dashscope.base_url)
    for url in ("file:///etc/passwd", "gopher://x/", "https://user:pw@host/x.json"):
        with pytest.raises(UpstreamError):
            fetch_public_json(url, provider="DashScope", config=config)


# --- errors ------------------------------------------------------------------------------------


def test_status_mapping() -> None:
    operator = error_for_status("P", 401, "operator", "invalid_api_key")
    assert type(operator) is ProviderError and operator.code == "UPSTREAM_ERROR"
    assert operator.status == 502
    user = error_for_status("P", 403, "user")
    assert isinstance(user, ProviderKeyRejectedError) and isinstance(user, UpstreamError)
    assert user.code == "PROVIDER_KEY_REJECTED"
    assert "rate limiting" in error_for_status("P", 429, "operator").message
    assert "refused the request (HTTP 422)" in error_for_status("P", 422, "user").message


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, "12", 10**9])
def test_usage_must_make_sense(value: object) -> None:
    with pytest.raises(UpstreamError):
        checked_usage(value, provider="P", what="seconds", upper=1000)


def test_usage_may_be_absent_or_zero() -> None:
    assert checked_usage(None, provider="P", what="seconds", upper=10) is None
    assert checked_usage(0, provider="P", what="seconds", upper=10) == 0.0


# --- redaction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {OPERATOR_KEY}",
        f"> authorization: bearer {FISH_KEY}",
        f"Incorrect API key provided: {USER_KEY}.",
        f'{{"api_key": "{FISH_KEY}"}}',
        f"x-api-key={OPERATOR_KEY}&a=b",
        f"token {FISH_KEY} expired",
    ],
)
def test_redact_removes_key_shaped_strings(text: str) -> None:
    cleaned = redact(text)
    for secret in (OPERATOR_KEY, USER_KEY, FISH_KEY):
        assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_redact_leaves_ordinary_text_and_replaces_named_secrets() -> None:
    assert redact("DashScope failed (HTTP 500, InternalError)") == (
        "DashScope failed (HTTP 500, InternalError)"
    )
    assert redact("password is hunter2", secrets=["hunter2"]) == "password is [REDACTED]"


def test_redacting_filter_cleans_args_and_tracebacks() -> None:
    record = logging.LogRecord(
        "x",
        logging.DEBUG,
        __file__,
        1,
        "> %s: %s",
        ("Authorization", f"Bearer {OPERATOR_KEY}"),
        None,
    )
    assert RedactingFilter().filter(record)
    assert OPERATOR_KEY not in record.getMessage()
    try:
        raise RuntimeError(f"boom {USER_KEY}")
    except RuntimeError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(failing)
    assert failing.exc_text and USER_KEY not in failing.exc_text


def test_provider_loggers_redact() -> None:
    logger = provider_logger("test")
    assert any(isinstance(f, RedactingFilter) for f in logger.filters)


def test_websocket_handshake_is_logged_redacted(
    fake_dashscope: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    """Proves the log check has teeth: the handshake *is* logged at DEBUG, minus the key."""
    caplog.set_level(logging.DEBUG)
    DashScopeCosyVoiceTTS(config_for(fake_dashscope.base_url)).synthesize(
        SynthesisRequest(text="hi", voice="v")
    )
    headers = [r.getMessage() for r in caplog.records if "Authorization" in r.getMessage()]
    assert headers == ["> Authorization: Bearer [REDACTED]"]


# --- audio -------------------------------------------------------------------------------------


def test_pcm_chunker_carries_split_samples() -> None:
    pcm = tone(16000, 0.01)
    chunker = PcmChunker(16000)
    pieces = [chunker.feed(pcm[i : i + 7]) for i in range(0, len(pcm), 7)]
    chunker.finish("P")
    samples = np.concatenate([p.samples for p in pieces if p is not None])
    assert samples.tobytes() == pcm


def test_pcm_chunker_reports_a_dangling_byte() -> None:
    chunker = PcmChunker(16000)
    chunker.feed(b"\x01\x02\x03")
    with pytest.raises(UpstreamError):
        chunker.finish("P")


def test_wav_decoder_streams_byte_by_byte() -> None:
    pcm = tone(22050, 0.02)
    data = wav_file(pcm, 22050, streaming_header=True)
    decoder = WavStreamDecoder("P")
    out = [decoder.feed(data[i : i + 1]) for i in range(len(data))]
    decoder.finish()
    assert decoder.sample_rate == 22050
    assert np.concatenate([p.samples for p in out if p is not None]).tobytes() == pcm


def test_wav_round_trip_and_stereo_mixdown() -> None:
    original = speech(0.5)
    assert np.array_equal(decode_wav(wav_bytes(original), "P").samples, original.samples)
    left = np.full(100, 1000, dtype="<i2")
    right = np.full(100, 3000, dtype="<i2")
    stereo = np.stack([left, right], axis=1).tobytes()
    header = (
        b"RIFF" + struct.pack("<I", 36 + len(stereo)) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 32000, 4, 16)
        + b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk, padded
        + b"data" + struct.pack("<I", len(stereo))
    )  # fmt: skip
    mixed = decode_wav(header + stereo + b"trailing junk", "P")
    assert mixed.sample_rate == 8000 and len(mixed.samples) == 100
    assert set(mixed.samples.tolist()) == {2000}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID3\x04not a wav at all",
        b"RIFF\x00\x00\x00\x00WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32),
    ],
)
def test_wav_decoder_refuses_what_it_cannot_play(data: bytes) -> None:
    with pytest.raises(UpstreamError):
        decode_wav(data, "P")


def test_a_streamed_body_is_decoded_when_compressed_and_read_as_is_when_not() -> None:
    import gzip

    audio = bytes(range(256)) * 8

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/packed"):
            headers = {"Content-Encoding": "gzip", "Content-Type": "audio/wav"}
            return httpx.Response(200, content=gzip.compress(audio), headers=headers)
        return httpx.Response(200, content=audio, headers={"Content-Type": "audio/wav"})

    http = ProviderHttp(
        "P", ProviderConfig("https://p.example"), transport=httpx.MockTransport(upstream)
    )
    for path in ("/packed", "/plain"):
        with http.stream("GET", path) as response:
            assert b"".join(http.iter_body(response, Deadline(5))) == audio


def test_answers_are_size_capped_and_decoded_once() -> None:
    import gzip

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/big"):
            return httpx.Response(200, content=b"x" * 2048)
        body = gzip.compress(b'{"ok": true}')
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    http = ProviderHttp(
        "P", ProviderConfig("https://p.example"), transport=httpx.MockTransport(upstream)
    )
    assert http.request("GET", "/small").json() == {"ok": True}
    with pytest.raises(UpstreamError) as too_big:
        http.request("GET", "/big", max_bytes=1024)
    assert "too much data" in too_big.value.message
