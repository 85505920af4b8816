"""What every speech route shares, whatever its dialect.

- ``SpeechCall``: the speech context and the authenticated caller of one request, a way to run
  the blocking use cases off the event loop, and the usage headers of a billable response.
- Audio inputs: an uploaded file read with a size cap, base64 checked for size before it is
  decoded, a URL fetched through the SSRF-safe fetcher.
- ``stream_chunks``: a blocking iterator (a speech stream, SSE events) turned into an async body
  that stops the work and closes the iterator when the client goes away.

Routes only translate their dialect to and from the use cases in ``api/speech``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request, UploadFile
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.requests import HTTPConnection
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.billing import ledger
from api.billing.money import format_yuan
from api.engines.timing import EngineClock
from api.errors import InvalidInputError, PayloadTooLargeError
from api.http.context import AppContext
from api.http.deps import (
    authenticate,
    client_ip,
    request_id,
    resolve_principal,
)
from api.http.offload import offload
from api.http.shutdown import current_drain
from api.http.threaded import ThreadedIterator
from api.principal import Principal
from api.ratelimit import enforce
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import SpeechOrder, SpeechStream, open_stream

Result = TypeVar("Result")
Item = TypeVar("Item")

READ_CHUNK = 1024 * 1024
# Response headers of billable calls (also listed in the OpenAPI description).
USAGE_HEADERS = {
    "X-Request-Id": "The request's id (yours if you sent a sane X-Request-Id, else ours)",
    "X-Billed-Characters": "Characters billed (text to speech)",
    "X-Billed-Seconds": "Seconds of audio billed (recognition, emotion)",
    "X-Cost": "What this call cost, in yuan with four decimals",
    "X-Balance-Remaining": "The account balance after this call, in yuan",
    "X-Gateway-Overhead-Ms": "Time the gateway spent outside the engine, in milliseconds",
    "Server-Timing": "engine;dur=… (ms inside engines), gateway;dur=… (ms outside them): "
    "what a browser's network panel shows",
}


@dataclass
class SpeechCall:
    """One speech request: who calls, with which collaborators, since when."""

    app: AppContext
    caller: Caller
    started: float
    clock: EngineClock

    @property
    def ctx(self) -> SpeechContext:
        return self.app.speech

    @property
    def principal(self) -> Principal:
        return self.caller.principal

    async def run(self, work: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """Run blocking work (engines, database) in a worker thread; the clock goes along."""
        return await offload(self.clock.run, functools.partial(work, *args, **kwargs))

    def balance_micros(self) -> int:
        return ledger.balance_now(self.app.db, self.caller.user_id)

    async def usage_headers(
        self,
        *,
        cost_micros: int,
        characters: int | None = None,
        duration_ms: int | None = None,
        balance_micros: int | None = None,
    ) -> dict[str, str]:
        """The usage headers of a billable response (``balance_micros`` saves a read)."""
        if balance_micros is None:
            balance_micros = await self.run(self.balance_micros)
        engine_ms, overhead_ms = self.timing_ms()
        headers = {
            "X-Cost": format_yuan(cost_micros),
            "X-Balance-Remaining": format_yuan(balance_micros),
            "X-Gateway-Overhead-Ms": f"{overhead_ms:.1f}",
            "Server-Timing": f"engine;dur={engine_ms:.1f}, gateway;dur={overhead_ms:.1f}",
        }
        if characters is not None:
            headers["X-Billed-Characters"] = str(characters)
        if duration_ms is not None:
            headers["X-Billed-Seconds"] = f"{duration_ms / 1000:.3f}"
        return headers

    def timing_ms(self) -> tuple[float, float]:
        """(ms spent inside engines, ms since the request arrived that were not)."""
        engine = self.clock.seconds
        outside = time.perf_counter() - self.started - engine
        return engine * 1000, max(outside, 0.0) * 1000


def limit_per_address(connection: HTTPConnection, app: AppContext) -> None:
    """The per-address limit of speech calls (429 with Retry-After beyond it)."""
    per_ip = app.settings.ip_requests_per_minute
    if per_ip:
        address = client_ip(connection, app)
        verdict = app.limiter.hit(f"rpm:ip:{address}", limit=per_ip, window=60)
        enforce(verdict, "Too many requests from this address; slow down")


async def get_speech_call(request: Request) -> SpeechCall:
    """Count the call against its address's limit and authenticate it: on the event loop when
    neither needs I/O (the usual case: in-process limits, a recently verified key), else in a
    worker thread. A thread hop costs more CPU than the check itself (bench rows B1, B2).

    The app's context is read from the request, not asked for as ``Depends(get_context)``: each
    dependency level costs FastAPI's solver CPU on every speech call (bench row B6)."""
    app: AppContext = request.app.state.context
    started = getattr(request.state, "started", None) or time.perf_counter()
    if app.limiter.in_process:
        limit_per_address(request, app)
        principal = await authenticate(request, app)
    else:
        principal = await anyio.to_thread.run_sync(_limit_and_resolve, request, app)
    return SpeechCall(app, Caller(principal, request_id(request)), started, EngineClock())


def _limit_and_resolve(request: Request, app: AppContext) -> Principal:
    limit_per_address(request, app)
    return resolve_principal(request, app)


Speech = Annotated[SpeechCall, Depends(get_speech_call)]


# --- audio inputs ----------------------------------------------------------------------------


def _too_large(limit: int, what: str = "The audio file") -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{what} is larger than {limit / 1024 / 1024:g} MB")


async def read_upload(upload: UploadFile | StarletteUploadFile, limit: int) -> bytes:
    """The uploaded file's bytes, refused (413) as soon as it passes ``limit``."""
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def decode_base64_audio(text: str, limit: int, *, param: str = "audio_base64") -> bytes:
    """Decode base64 audio (a ``data:`` URL prefix is allowed) after checking its size."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    text = "".join(text.split())
    if len(text) // 4 * 3 > limit:  # refused before a byte is decoded
        raise _too_large(limit)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInputError(
            f"{param} is not valid base64", code="INVALID_AUDIO", param=param
        ) from error


async def fetch_audio(call: SpeechCall, url: str, limit: int, *, param: str = "audio_url") -> bytes:
    """Download audio from a caller's URL through the SSRF-safe fetcher."""
    from api.http.fetch import fetch_url

    fetched = await fetch_url(url, call.app.settings, max_bytes=limit, param=param)
    return fetched.data


# --- streamed bodies -------------------------------------------------------------------------


def stream_chunks(items: Iterable[Item]) -> ThreadedIterator[Item]:
    """Hand out a blocking iterator's items, made one at a time in one worker thread.

    When the client goes away the response is cancelled: the item being made is finished (a
    thread cannot be interrupted), no further item is asked for, and the iterator is closed —
    a speech stream then releases its hold instead of charging for audio never sent. Closing
    also reaches a stream that was never read (its ``close``), so no hold outlives a response
    that was never sent.
    """
    return ThreadedIterator(items)


@dataclass
class StartedSpeech:
    """A speech stream whose first audio is made: what a streamed TTS response sends."""

    stream: SpeechStream
    first: bytes | None
    chunks: Iterator[bytes]
    headers: dict[str, str]

    def audio(self) -> Iterator[bytes]:
        """The first chunk, then the rest as it is made; closing it closes the stream."""
        try:
            if self.first is not None:
                yield self.first
                yield from self.chunks
        finally:
            self.close()

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
        self.stream.close()


async def start_speech(
    call: SpeechCall,
    order: SpeechOrder,
    run: Callable[..., Awaitable[Any]] | None = None,
    *,
    long: bool = False,
) -> StartedSpeech:
    """Hold, and make the first audio before answering.

    An engine that fails at once is then a normal error response (the hold released), not a
    200 cut short; the usage headers go out up front (TTS cost is known from the characters).
    ``run`` is ``call.run`` or a dialect's wrapper of it that renames errors; ``long`` takes the
    long-text limit (the stream speaks sentence by sentence either way).
    """
    run = run or call.run
    opening = functools.partial(open_stream, long=long) if long else open_stream
    # One thread hop for the hold, the first audio and the balance (each hop costs more CPU
    # than a small step); what it opened is kept here, so that a wait cancelled meanwhile
    # still closes it.
    opened: list[StartedSpeech] = []

    def open_and_start() -> tuple[StartedSpeech, int]:
        stream = opening(call.ctx, call.caller, order)
        started = StartedSpeech(stream, None, iter(stream), {})
        opened.append(started)
        started.first = next(started.chunks, None)
        # Read last, right before the 200: a database that went away since the hold makes
        # this a clean 503 (the hold released) instead of a stream cut at its settlement.
        return started, call.balance_micros()

    try:
        started, balance = await run(open_and_start)
        started.headers = await call.usage_headers(
            cost_micros=started.stream.cost_micros,
            characters=started.stream.characters,
            balance_micros=balance,
        )
    except BaseException:
        if opened:
            with anyio.CancelScope(shield=True):
                await call.run(opened[0].close)
        raise
    return started


class ClosingStreamingResponse(StreamingResponse):
    """A streamed response whose body iterator is always closed, also when the client left.

    Starlette stops iterating on a disconnect but leaves closing the generator to the garbage
    collector; closing it here runs ``stream_chunks``'s clean-up (release the hold) at once.
    A stream still running when the server's shutdown grace ends is cut the same way (see
    ``api.http.shutdown``): the client gets a broken response, not a short one that looks whole.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with current_drain().stream_scope():
                await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
