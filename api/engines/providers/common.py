"""Shared plumbing for the hosted-provider adapters: configuration, HTTP, errors, redaction, audio.

Every adapter (DashScope, OpenAI-compatible, Fish Audio) goes through this module, so the rules
that keep money and secrets safe live in one place:

**Configuration.** ``ProviderConfig`` holds a provider's base URL, API key, timeouts and model
mapping. The base URL is operator configuration only: nothing a request carries may change where
a credential is sent (research/reliability.md §2.3, litellm#24952/#37053). A user's own provider
key (seed 001's bring-your-own-key models) enters through ``ProviderConfig.with_user_key``, which
keeps the operator's base URL. ``ProviderHttp`` refuses absolute URLs for the same reason: a URL
that came back from a provider (DashScope's ``transcription_url``) is fetched with
``fetch_public_json``, which never carries credentials.

**Error mapping** (what an adapter may raise; ``api.engines.base`` allows nothing else)::

    connect error, connection reset, truncated stream   -> UpstreamError 502 UPSTREAM_ERROR
    upstream 5xx, 429, other 4xx, unexpected redirect   -> UpstreamError 502 UPSTREAM_ERROR
    invalid JSON, empty audio, undecodable audio,
    negative / absurd usage, nonsense timestamps        -> UpstreamError 502 UPSTREAM_ERROR
    DashScope task-failed                               -> UpstreamError 502 UPSTREAM_ERROR
    upstream 401/403 on the operator's key              -> UpstreamError 502 UPSTREAM_ERROR
    upstream 401/403 on a user's own key                -> ProviderKeyRejectedError, an
                                                           UpstreamError with code
                                                           PROVIDER_KEY_REJECTED (the use case
                                                           renders seed 001's 403 NO_API_KEY)
    any timeout (connect, read, write, pool, deadline)  -> UpstreamTimeoutError 504 TIMEOUT
    input the provider cannot take (too long, ...)      -> InvalidInputError 400

The 502 errors are ``ProviderError`` (a subclass of ``UpstreamError``) carrying
``upstream_status`` and ``upstream_code`` for operators. Messages name the provider and, at
most, the HTTP status and the provider's own short error code; they never carry the upstream
body (it may echo the key back), the URL, headers or the key. Exceptions are raised ``from
None`` so no httpx request object (whose headers hold the key) hangs off ``__cause__``.

**Logging.** Nothing here logs headers. ``provider_logger`` returns loggers with a
``RedactingFilter``; the DashScope WebSocket client is handed one of them, because the
``websockets`` library logs every handshake header (``Authorization`` included) at DEBUG.

**Audio.** Adapters ask providers for raw 16-bit PCM or WAV and decode it here with
``PcmChunker`` / ``WavStreamDecoder`` (stdlib only). These are private to the provider adapters;
the platform's audio pipeline is ``api.audio``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import struct
import time
import wave
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, Protocol, Self

import httpx
import numpy as np

from api.engines.base import Pcm, Transcript
from api.engines.providers.clients import OriginTransport, send
from api.errors import UpstreamError, UpstreamTimeoutError

PROVIDER_KEY_REJECTED = "PROVIDER_KEY_REJECTED"

KeyOwner = Literal["operator", "user"]

_REDACTED = "[REDACTED]"
_MAX_ERROR_BODY_BYTES = 64 * 1024
_MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # JSON answers; audio is streamed, not buffered
_KEPT_URLS = 64  # request URLs kept parsed per provider client
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


# --- errors ------------------------------------------------------------------------------------


class ProviderError(UpstreamError):
    """A provider failed or answered nonsense (502). The message is safe to show to callers."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        upstream_status: int | None = None,
        upstream_code: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message, code=code)
        self.provider = provider
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code


class ProviderKeyRejectedError(ProviderError):
    """The provider refused a *user's own* key (401/403). Seed 001 renders it as 403 NO_API_KEY."""

    code = PROVIDER_KEY_REJECTED


def upstream_timeout(provider: str) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"{provider} did not answer in time")


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderTranscript(Transcript):
    """A ``Transcript`` with what a provider adds: the speech emotion and its reported usage.

    ``emotion`` is one of ``api.engines.base.EMOTION_LABELS`` or None; the use case reads it as
    ``getattr(transcript, "emotion", None)`` (seed 001's ``data.emotion``). ``usage`` is the
    provider's own figure (validated, never billed from).
    """

    emotion: str | None = None
    usage: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderConfig:
    """Where a provider lives, the key to use there, how long to wait, and model names.

    ``base_url`` conventions follow each provider's own SDK: DashScope and Fish Audio take the
    host root (``https://dashscope.aliyuncs.com``, ``https://api.fish.audio``), an
    OpenAI-compatible server takes the ``/v1`` root (``https://api.openai.com/v1``).

    Timeouts: ``connect``/``read``/``write`` bound each network operation (httpx semantics);
    ``total_timeout`` bounds a whole call, including a stream that keeps trickling bytes.

    ``models`` maps the platform's model ids to the provider's (``{"tts-1": "gpt-4o-mini-tts"}``);
    an id missing from it is sent unchanged. ``key_owner`` says whose key this is: a rejected
    user key is a distinct error (``ProviderKeyRejectedError``), a rejected operator key is an
    ordinary 502. An empty key sends no ``Authorization`` header (local OpenAI-compatible
    servers often need none). The key never appears in ``repr``.
    """

    base_url: str
    api_key: str = field(default="", repr=False)
    key_owner: KeyOwner = "operator"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    total_timeout: float = 120.0
    models: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("provider base_url must be an http(s) URL with a host")
        if url.userinfo or url.query or url.fragment:
            raise ValueError("provider base_url must not carry credentials, a query or a fragment")
        for name in ("connect_timeout", "read_timeout", "write_timeout", "total_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.key_owner not in ("operator", "user"):
            raise ValueError("key_owner is 'operator' or 'user'")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

    def with_user_key(self, api_key: str) -> ProviderConfig:
        """The same provider (operator base URL, timeouts, models) with a user's stored key."""
        if not api_key or not api_key.strip():
            raise ValueError("a user provider key must not be empty")
        return replace(self, api_key=api_key.strip(), key_owner="user")

    def provider_model(self, model: str) -> str:
        return self.models.get(model, model)

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.connect_timeout,
        )


class Deadline:
    """A point in time after which the whole call has failed (httpx timeouts are per operation)."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def cap(self, timeout: float) -> float:
        """``timeout`` shortened so a wait never outlives the deadline."""
        return max(0.001, min(timeout, self.remaining()))

    def check(self, provider: str) -> None:
        if self.remaining() <= 0:
            raise upstream_timeout(provider)


# --- redaction and logging ---------------------------------------------------------------------

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",;]+")
_NAMED_SECRET = re.compile(
    r"(?i)\b(authorization|x-api-key|api[-_]?key|apikey|access[-_]?token|secret|password|token)"
    r"(\"?\s*[:=]\s*\"?'?)(?!\s*(?:bearer|basic)\b)[^\s'\",;&}]+"
)
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
# Long mixed letter-and-digit runs look like keys (Fish Audio keys are 32 bare hex digits).
_LONG_TOKEN = re.compile(
    r"\b(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}\b"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and anything shaped like a credential replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
    text = _NAMED_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{_REDACTED}", text)
    text = _SK_KEY.sub(_REDACTED, text)
    return _LONG_TOKEN.sub(_REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and formatted traceback) with ``redact`` applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_REDACTING_FILTER = RedactingFilter()


def provider_logger(name: str) -> logging.Logger:
    """``api.engines.providers.<name>``, with credential redaction on every record it emits."""
    logger = logging.getLogger(f"api.engines.providers.{name}")
    if _REDACTING_FILTER not in logger.filters:
        logger.addFilter(_REDACTING_FILTER)
    return logger


_log = provider_logger("http")


# --- upstream answers --------------------------------------------------------------------------

_SAFE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


def safe_upstream_code(value: object) -> str | None:
    """A provider's own error code if it looks like one (``InvalidParameter``), else None.

    Only short identifier-like codes pass, so neither free text nor an echoed key can ride along.
    """
    if isinstance(value, str) and _SAFE_CODE.match(value) and redact(value) == value:
        return value
    return None


def _error_code_from_body(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    candidates: list[object] = [data.get("code")]
    error = data.get("error")
    if isinstance(error, dict):
        candidates += [error.get("code"), error.get("type")]
    elif isinstance(error, str):
        candidates.append(error)
    candidates.append(data.get("status"))
    for candidate in candidates:
        code = safe_upstream_code(candidate)
        if code:
            return code
    return None


def error_for_status(
    provider: str, status: int, key_owner: KeyOwner, upstream_code: str | None = None
) -> ProviderError:
    """The platform error for an upstream HTTP status that is not a success."""
    detail = f"HTTP {status}" + (f", {upstream_code}" if upstream_code else "")
    if status in (401, 403):
        if key_owner == "user":
            return ProviderKeyRejectedError(
                f"{provider} rejected the provider API key ({detail})",
                provider=provider,
                upstream_status=status,
                upstream_code=upstream_code,
            )
        message = f"{provider} rejected the platform's credentials ({detail})"
    elif status == 429:
        message = f"{provider} is rate limiting requests ({detail})"
    elif status >= 500:
        message = f"{provider} failed ({detail})"
    elif 300 <= status < 400:
        message = f"{provider} answered with an unexpected redirect ({detail})"
    else:
        message = f"{provider} refused the request ({detail})"
    return ProviderError(
        message, provider=provider, upstream_status=status, upstream_code=upstream_code
    )


def json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    """The response body as a JSON object, or a 502."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(f"{provider} answered with invalid JSON", provider=provider) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{provider} answered with unexpected JSON", provider=provider)
    return data


def checked_usage(value: object, *, provider: str, what: str, upper: float) -> float | None:
    """Validate a usage figure the provider reported (G39): absent is fine, nonsense is a 502.

    The platform never bills from these (it measures characters and seconds itself, G7); a
    negative or absurd figure still means the answer cannot be trusted.
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or value > upper
    ):
        raise ProviderError(f"{provider} reported nonsense usage ({what})", provider=provider)
    return float(value)


def checked_seconds(value: object, *, provider: str, what: str) -> float:
    """A timestamp in seconds: finite and non-negative, else a 502."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderError(f"{provider} returned an invalid {what}", provider=provider)
    if value < 0:
        raise ProviderError(f"{provider} returned a negative {what}", provider=provider)
    return float(value)


# --- HTTP --------------------------------------------------------------------------------------


def _transport_error(provider: str, exc: httpx.HTTPError) -> UpstreamError | UpstreamTimeoutError:
    if isinstance(exc, httpx.TimeoutException):
        return upstream_timeout(provider)
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(f"could not connect to {provider}", provider=provider)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(f"the connection to {provider} broke off", provider=provider)
    return ProviderError(f"the request to {provider} failed", provider=provider)


class Breaker(Protocol):
    """What ``ProviderHttp`` needs of a circuit breaker (``api.engines.circuit.CircuitBreaker``)."""

    def check(self) -> None: ...

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


def _under(base: httpx.URL, path: str) -> httpx.URL:
    relative = httpx.URL(path.lstrip("/"))
    if not path.startswith("/") or path.startswith("//") or relative.scheme or relative.host:
        raise ValueError("provider paths are relative to the configured base URL")
    return base.copy_with(raw_path=base.raw_path + relative.raw_path)


class ProviderHttp:
    """One provider's HTTP client: its key is attached here and sent only to its base URL.

    Redirects are not followed (a 3xx is an error), environment proxies and ``.netrc`` are
    ignored (``trust_env=False``), and only paths relative to the configured base URL are
    accepted, so no code path can send the key to a host a request or a response chose.

    With a ``breaker`` every request goes through that provider's circuit: the clients that are
    not engines (and so not behind ``CircuitGuardedEngine``) — DashScope file transcription and
    voice enrollment, Fish cloning — are refused fast with a 503 while the provider is failing.
    """

    def __init__(
        self,
        provider: str,
        config: ProviderConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
    ):
        self.provider = provider
        self.config = config
        self.breaker = breaker
        headers = {"User-Agent": "amphion-platform"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        self._base_url = httpx.URL(config.base_url + "/")
        self._urls: dict[str, httpx.URL] = {}  # path -> URL: parsing one costs about 40 µs
        # A test's stand-in for the provider, or kept-alive connections to it (see clients.py).
        self._transport = transport or OriginTransport(self._base_url, config.httpx_timeout)

    def close(self) -> None:
        self._transport.close()

    @contextmanager
    def _sent(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """The response to one request, closed afterwards (body not read yet)."""
        headers = {**self._headers, **kwargs.pop("headers", {})}
        response = send(self._transport, method, self._url(path), headers=headers, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def _url(self, path: str) -> httpx.URL:
        """``path`` under the configured base URL (appended, as httpx's ``base_url`` does)."""
        url = self._urls.get(path)
        if url is None:
            url = _under(self._base_url, path)
            if len(self._urls) < _KEPT_URLS:  # a few fixed paths per provider, some with ids
                self._urls[path] = url
        return url

    def ready(self) -> None:
        """Refuse now (503, ``CircuitOpenError``) if the provider's circuit would refuse a call."""
        if self.breaker is not None:
            self.breaker.check()

    def request(
        self, method: str, path: str, *, max_bytes: int = _MAX_RESPONSE_BYTES, **kwargs: Any
    ) -> httpx.Response:
        """Send one request and read the whole answer within ``total_timeout`` and
        ``max_bytes``; a success comes back, anything else is a mapped platform error."""
        if self.breaker is None:
            return self._request(method, path, max_bytes=max_bytes, **kwargs)
        response: httpx.Response = self.breaker.call(
            self._request, method, path, max_bytes=max_bytes, **kwargs
        )
        return response

    def _request(self, method: str, path: str, *, max_bytes: int, **kwargs: Any) -> httpx.Response:
        deadline = Deadline(self.config.total_timeout)
        error: ProviderError | UpstreamError | UpstreamTimeoutError
        try:
            with self._sent(method, path, **kwargs) as streamed:
                body = bytearray()
                # Decoded bytes, so the cap also bounds what a compressed answer inflates to.
                for chunk in streamed.iter_bytes():
                    deadline.check(self.provider)
                    body += chunk
                    if len(body) > max_bytes:
                        raise ProviderError(
                            f"{self.provider} answered with too much data", provider=self.provider
                        )
                headers = [
                    (name, value)
                    for name, value in streamed.headers.multi_items()
                    if name.lower() not in _FRAMING_HEADERS
                ]
                response = httpx.Response(
                    streamed.status_code, headers=headers, content=bytes(body)
                )
        except httpx.HTTPError as exc:
            error = _transport_error(self.provider, exc)
        else:
            if response.is_success:
                return response
            error = error_for_status(
                self.provider,
                response.status_code,
                self.config.key_owner,
                _error_code_from_body(response.content[:_MAX_ERROR_BODY_BYTES]),
            )
        _log.info("%s request failed: %s", self.provider, error.message)
        raise error from None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """Like ``request`` but the body is read by the caller; errors while reading are mapped."""
        error: Exception | None = None
        try:
            with self._sent(method, path, **kwargs) as response:
                if not response.is_success:
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) >= _MAX_ERROR_BODY_BYTES:
                            break
                    raise error_for_status(
                        self.provider,
                        response.status_code,
                        self.config.key_owner,
                        _error_code_from_body(body[:_MAX_ERROR_BODY_BYTES]),
                    )
                yield response
        except httpx.HTTPError as exc:
            error = _transport_error(self.provider, exc)
        if error is not None:
            _log.info("%s stream failed: %s", self.provider, error)
            raise error from None

    def iter_body(self, response: httpx.Response, deadline: Deadline) -> Iterator[bytes]:
        """The body's chunks as they arrive, failing with a 504 once the deadline passes.

        A body without a ``Content-Encoding`` is read straight from the transport's stream:
        httpx's decoding and re-chunking layers would pass each piece through unchanged, at
        about a tenth of a hosted call's CPU in the provider client (six pieces a call, bench
        row B6). A compressed body goes through them, decoded."""
        stream = response.stream
        encoded = "content-encoding" in response.headers
        pieces = stream if isinstance(stream, httpx.SyncByteStream) and not encoded else None
        for chunk in pieces if pieces is not None else response.iter_bytes():
            deadline.check(self.provider)
            if chunk:
                yield chunk


class ClosingAdapter:
    """Adapters that hold a ``ProviderHttp`` (a connection pool): ``close()`` or ``with``."""

    _http: ProviderHttp

    def ready(self) -> None:
        """503 now if the provider's circuit is open (call before holding credit)."""
        self._http.ready()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def fetch_public_json(
    url: str, *, provider: str, config: ProviderConfig, max_bytes: int = 32 * 1024 * 1024
) -> dict[str, Any]:
    """GET a JSON document a provider pointed to (a result file), without any credentials.

    The URL came from the provider's answer, so it is treated as untrusted: http(s) only, no
    redirects, no environment proxies, size- and time-bounded, and no ``Authorization``.
    """
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo:
        raise ProviderError(f"{provider} returned an unusable result URL", provider=provider)
    deadline = Deadline(config.total_timeout)
    body = bytearray()
    try:
        with (
            httpx.Client(
                timeout=config.httpx_timeout, follow_redirects=False, trust_env=False
            ) as client,
            client.stream("GET", parsed) as response,
        ):
            if not response.is_success:
                raise ProviderError(
                    f"{provider} result download failed (HTTP {response.status_code})",
                    provider=provider,
                    upstream_status=response.status_code,
                )
            for chunk in response.iter_bytes():
                deadline.check(provider)
                body += chunk
                if len(body) > max_bytes:
                    raise ProviderError(f"{provider} result is too large", provider=provider)
    except httpx.HTTPError as exc:
        raise _transport_error(provider, exc) from None
    return json_object(httpx.Response(200, content=bytes(body)), provider)


# --- audio (private to the provider adapters) --------------------------------------------------


class PcmChunker:
    """Turns a byte stream of little-endian 16-bit PCM into ``Pcm`` chunks.

    Network chunks may split a sample (or a stereo frame) in two; the partial frame is carried
    over to the next chunk. Interleaved channels are mixed down to mono.
    """

    def __init__(self, sample_rate: int, *, channels: int = 1):
        self.sample_rate = sample_rate
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._carry = b""
        self.samples_out = 0

    def feed(self, data: bytes) -> Pcm | None:
        data = self._carry + data
        usable = len(data) - len(data) % self._frame_bytes
        self._carry = data[usable:]
        if usable == 0:
            return None
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
        if self.channels > 1:
            frames = samples.reshape(-1, self.channels).astype(np.int32)
            samples = np.round(frames.mean(axis=1)).astype(np.int16)
        self.samples_out += len(samples)
        return Pcm(samples, self.sample_rate)

    def finish(self, provider: str) -> None:
        """End of stream: a dangling partial sample means the audio was cut off."""
        if self._carry:
            raise ProviderError(f"{provider} returned truncated audio", provider=provider)


class WavStreamDecoder:
    """Decodes a 16-bit PCM WAV as it arrives: parses the RIFF header, then streams the samples.

    Streaming servers write an unknown (0 or 0xFFFFFFFF) ``data`` size; such a size means "until
    the end of the stream". Anything but 16-bit integer PCM is refused.
    """

    def __init__(self, provider: str):
        self.provider = provider
        self._buffer = b""
        self._chunker: PcmChunker | None = None
        self._fmt: tuple[int, int, int] | None = None  # channels, rate, bits
        self._data_left: int | None = None  # None: until the end of the stream

    @property
    def sample_rate(self) -> int | None:
        return self._fmt[1] if self._fmt else None

    @property
    def samples_out(self) -> int:
        return self._chunker.samples_out if self._chunker else 0

    def _bad(self, what: str) -> ProviderError:
        return ProviderError(f"{self.provider} returned {what}", provider=self.provider)

    def feed(self, data: bytes) -> Pcm | None:
        if self._chunker is None:
            self._buffer += data
            if not self._parse_header():
                return None
            data, self._buffer = self._buffer, b""
        assert self._chunker is not None
        if self._data_left is not None:
            data = data[: self._data_left]
            self._data_left -= len(data)
        return self._chunker.feed(data) if data else None

    def _parse_header(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 12:
            return False
        if buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE":
            raise self._bad("audio that is not WAV")
        offset = 12
        while len(buffer) >= offset + 8:
            chunk_id = buffer[offset : offset + 4]
            (size,) = struct.unpack("<I", buffer[offset + 4 : offset + 8])
            body_start = offset + 8
            if chunk_id == b"data":
                if self._fmt is None:
                    raise self._bad("a WAV without a format chunk")
                channels, rate, _bits = self._fmt
                self._chunker = PcmChunker(rate, channels=channels)
                self._data_left = None if size in (0, 0xFFFFFFFF) else size
                self._buffer = buffer[body_start:]
                return True
            if len(buffer) < body_start + size:
                return False
            if chunk_id == b"fmt ":
                if size < 16:
                    raise self._bad("a malformed WAV format chunk")
                audio_format, channels, rate = struct.unpack(
                    "<HHI", buffer[body_start : body_start + 8]
                )
                (bits,) = struct.unpack("<H", buffer[body_start + 14 : body_start + 16])
                if audio_format not in (1, 0xFFFE) or bits != 16 or channels < 1 or rate <= 0:
                    raise self._bad("WAV audio that is not 16-bit PCM")
                self._fmt = (channels, rate, bits)
            offset = body_start + size + (size & 1)
        return False

    def finish(self) -> None:
        if self._chunker is None:
            raise self._bad("no audio" if not self._buffer else "a truncated WAV header")
        self._chunker.finish(self.provider)


def decode_wav(data: bytes, provider: str) -> Pcm:
    """A whole 16-bit PCM WAV as one ``Pcm`` (mixed to mono)."""
    decoder = WavStreamDecoder(provider)
    chunk = decoder.feed(data)
    decoder.finish()
    assert decoder.sample_rate is not None
    return chunk if chunk is not None else Pcm.empty(decoder.sample_rate)


def wav_bytes(pcm: Pcm) -> bytes:
    """``pcm`` as a mono 16-bit WAV file, the upload format every provider accepts."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(pcm.sample_rate)
        out.writeframes(pcm.to_bytes())
    return buffer.getvalue()


def join_pcm(chunks: Iterable[Pcm], sample_rate: int) -> Pcm:
    """Concatenate chunks of one rate into a single ``Pcm``."""
    parts = [chunk.samples for chunk in chunks]
    if not parts:
        return Pcm.empty(sample_rate)
    return Pcm(np.concatenate(parts).astype(np.int16, copy=False), sample_rate)


@dataclass(frozen=True)
class SpeechAnswer:
    """How one provider's speech answers are read: raw 16-bit PCM at ``sample_rate`` or a
    (streaming) WAV. Text instead of audio, a cut-off answer or no audio at all is a
    ``ProviderError``."""

    provider: str
    audio_format: Literal["pcm", "wav"]
    sample_rate: int

    def chunks(
        self, http: ProviderHttp, response: httpx.Response, deadline: Deadline
    ) -> Iterator[Pcm]:
        """The answer as PCM chunks while it arrives (a streamed call)."""
        _refuse_text(response, self.provider)
        decoder: PcmChunker | WavStreamDecoder = (
            PcmChunker(self.sample_rate)
            if self.audio_format == "pcm"
            else WavStreamDecoder(self.provider)
        )
        for data in http.iter_body(response, deadline):
            pcm = decoder.feed(data)
            if pcm is not None:
                yield pcm
        if isinstance(decoder, PcmChunker):
            decoder.finish(self.provider)
        else:
            decoder.finish()
        if decoder.samples_out == 0:
            raise no_audio(self.provider)

    def whole(self, http: ProviderHttp, response: httpx.Response, deadline: Deadline) -> Pcm:
        """The answer in one piece, for a call that is not streamed: read to its end and
        decoded once, instead of decoded piece by piece into chunks that are then joined again
        (about a tenth of a hosted call's CPU in the gateway, bench row B6)."""
        _refuse_text(response, self.provider)
        data = b"".join(http.iter_body(response, deadline))
        if self.audio_format == "pcm":
            chunker = PcmChunker(self.sample_rate)
            pcm = chunker.feed(data)
            chunker.finish(self.provider)
        else:
            pcm = decode_wav(data, self.provider)
        if pcm is None or not len(pcm.samples):
            raise no_audio(self.provider)
        return pcm


def _refuse_text(response: httpx.Response, provider: str) -> None:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith(("application/json", "text/")):
        raise ProviderError(f"{provider} answered with text, not audio", provider=provider)


def no_audio(provider: str) -> ProviderError:
    return ProviderError(f"{provider} returned no audio", provider=provider)


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
