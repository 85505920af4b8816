"""Live text to speech: a session fed text piece by piece, spoken sentence by sentence as it
arrives, settled once at the end (seed 001's WebSocket ``/api/audio/tts/stream``).

``open_live`` validates the order once (scope, model, voice, format, sample rate, engines) and
opens one audio stream for the whole session. Then:

- ``add_text(text)``: buffers text and hands back the pieces that are ready to speak: every
  complete sentence (``api.audio.split_sentences`` decides). A piece ends where a sentence ends;
  text after the last sentence end waits for more, for ``flush()`` (the client's "end"), or for
  ``flush_tail()``, which the door calls when a message that ended with a sentence mark got no
  follow-up for a moment (one message per sentence, from a person or a dialogue system).
  The session's characters are capped (TEXT_TOO_LONG beyond ``max_characters``).
- ``speak(piece)``: holds the piece's price, then yields encoded audio sentence by sentence as
  the engine makes it. Blocking: the door iterates it from worker threads.
- ``finish_audio()`` → the encoder's last bytes; ``settle()`` → one capture of the whole
  session's price (characters spoken, priced once, never more than was held) and one history
  record with the audio stored for replay.
- ``abandon(error)``: the client went away (``None``: "cancelled") or something failed: every
  hold is released, nothing is charged, the history keeps a cancelled/failed record.

Audio is spooled to a temporary file, not kept in memory: a session may speak for hours.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from api import audio
from api.audio.text import CLOSERS, SENTENCE_ENDS
from api.billing import ledger, sweeper
from api.billing.pricing import Usage
from api.errors import DomainError, InvalidInputError
from api.history import service as history
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import (
    LONG_TEXT_LIMIT,
    Plan,
    SpeechOrder,
    _deliver,
    plan,
    render_stream,
)
from api.storage.service import store_file

logger = logging.getLogger("amphion.speech")

# Validates everything about an order but its text, which comes later.
_PROBE_TEXT = "Hello."
SUMMARY_CHARS = 500
_NEXT_WORD = "X"
DEFAULT_SAMPLE_RATE = 22050


@dataclass(frozen=True)
class LiveResult:
    """A settled session: what was spoken, for how long, at what price, where it is kept."""

    characters: int
    duration_ms: int
    cost_micros: int
    record_id: int | None
    output_key: str | None
    format: str
    sample_rate: int


class LiveSynthesis:
    """One live session; see the module docstring for its life cycle."""

    def __init__(
        self, ctx: SpeechContext, caller: Caller, speech: Plan, max_characters: int
    ) -> None:
        self._ctx, self._caller, self._plan = ctx, caller, speech
        self.order = speech.order
        self.voice_id = speech.voice_id
        self.format = speech.order.format
        self.sample_rate = speech.order.sample_rate or DEFAULT_SAMPLE_RATE
        self.content_type = audio.content_type(self.format)
        self.max_characters = max_characters
        self.received = 0  # characters accepted from the client
        self.characters = 0  # characters spoken (and held for)
        self.duration_ms = 0
        self._buffer = ""
        self._spoken: list[str] = []
        self._summary_chars = 0
        self._holds: list[tuple[int, int]] = []  # (hold id, µ¥)
        self._encoder: audio.StreamingEncoder | None = None  # opened with the first audio
        self._spool: IO[bytes] | None = None
        self._spool_path = ""
        self._lock = threading.Lock()  # settle and abandon may race (client leaving at the end)
        self._text_lock = threading.Lock()  # text comes in from one thread, flushes from another
        self._resolved = False
        self._started = time.monotonic()

    # --- text in -----------------------------------------------------------------------------

    def add_text(self, text: str) -> list[str]:
        """Take ``text`` from the client; return the pieces now ready to speak."""
        if not isinstance(text, str):
            raise InvalidInputError("content must be a string", param="content")
        count = audio.count_characters(text)
        if self.received + count > self.max_characters:
            raise InvalidInputError(
                f"A session takes at most {self.max_characters} characters",
                code="TEXT_TOO_LONG",
                param="content",
            )
        with self._text_lock:
            self.received += count
            self._buffer += text
            return self._cut(final=False)

    @property
    def tail_complete(self) -> bool:
        """The buffered text ends with a sentence mark (it may still go on: "3." "14")."""
        tail = self._buffer.rstrip()
        while tail and tail[-1] in CLOSERS:
            tail = tail[:-1]
        return bool(tail) and tail[-1] in SENTENCE_ENDS

    def flush_tail(self) -> list[str]:
        """Speak the buffered text now if it ends with a sentence mark."""
        with self._text_lock:
            return self._cut(final=True) if self.tail_complete else []

    def flush(self) -> list[str]:
        """The client is done: whatever is buffered is the last piece."""
        with self._text_lock:
            return self._cut(final=True)

    def _cut(self, *, final: bool) -> list[str]:
        if not self._buffer.strip():
            if final:
                self._buffer = ""
            return []
        if final:
            piece, self._buffer = self._buffer.strip(), ""
            return [piece]
        # A word after the buffer shows which of its sentences are complete: "Hi there. " is,
        # "Mr. " and "3." are not (yet). The rest waits for more, exactly as it was sent.
        probe = self._buffer + _NEXT_WORD
        sentences = audio.split_sentences(probe)
        if len(sentences) < 2:
            return []
        start = probe.rfind(sentences[-1])
        ready, self._buffer = self._buffer[:start].strip(), self._buffer[start:]
        return [ready] if ready else []

    # --- audio out -----------------------------------------------------------------------------

    def speak(self, piece: str) -> Iterator[bytes]:
        """Hold the piece's price, then yield its encoded audio sentence by sentence."""
        characters = audio.count_characters(piece)
        cost = self._plan.model.price.cost(Usage(characters=characters))
        self._hold(cost)
        self.characters += characters
        self._note(piece)
        order = replace(self.order, text=piece)
        speech = replace(self._plan, order=order, characters=characters, cost_micros=cost)
        for sentence in audio.split_sentences(piece):
            rendition = speech.rendition_for(sentence)
            for pcm in render_stream(self._ctx, rendition, sentence, order):
                pcm = _deliver(pcm, order)
                self.duration_ms += pcm.duration_ms
                if self._encoder is None:
                    self._encoder = audio.open_stream_encoder(self.format, self.sample_rate)
                chunk = self._encoder.feed(pcm)
                if chunk:
                    self._keep(chunk)
                    yield chunk

    def finish_audio(self) -> bytes:
        """The encoder's last bytes (send them before ``settle``)."""
        tail = self._encoder.finish() if self._encoder is not None else b""
        if tail:
            self._keep(tail)
        return tail

    def _hold(self, cost: int) -> None:
        hold_id = ledger.hold_now(
            self._ctx.db,
            self._caller.user_id,
            cost,
            idempotency_key=f"tts-live:{self._caller.request_id}:{len(self._holds)}",
            api_key_id=self._caller.api_key_id,
            purpose="tts",
        ).hold_id
        self._holds.append((hold_id, cost))

    def _note(self, piece: str) -> None:
        if self._summary_chars < SUMMARY_CHARS:
            self._spoken.append(piece[: SUMMARY_CHARS - self._summary_chars])
            self._summary_chars += len(self._spoken[-1])

    def _keep(self, chunk: bytes) -> None:
        if self._spool is None:
            handle, self._spool_path = tempfile.mkstemp(prefix="amphion-live-")
            self._spool = os.fdopen(handle, "wb")
        self._spool.write(chunk)

    # --- settlement ----------------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        return {"text": " ".join(self._spoken), "voice": self.voice_id, "stream": "websocket"}

    def settle(self) -> LiveResult:
        """Charge the session once and record it (with its audio); nothing spoken: no record."""
        with self._lock:
            if self._resolved:
                raise RuntimeError("the session is already settled or abandoned")
            try:
                result = self._settle()
            except BaseException as error:
                self._release(error)
                raise
            finally:
                self._cleanup()
            self._resolved = True
            return result

    def _settle(self) -> LiveResult:
        caller, model = self._caller, self._plan.model
        if not self._holds:
            return LiveResult(0, 0, 0, None, None, self.format, self.sample_rate)
        cost = model.price.cost(Usage(characters=self.characters))
        if self._spool is not None:
            self._spool.close()
        with self._ctx.db.write() as session:
            key = None
            if self._spool is not None:
                stored = store_file(
                    session,
                    self._ctx.store,
                    user_id=caller.user_id,
                    kind="tts",
                    ext=audio.file_extension(self.format),
                    path=Path(self._spool_path),
                    content_type=self.content_type,
                )
                key = stored.key
            remaining = cost  # one price for the whole text: never more than the holds
            for hold_id, amount in self._holds:
                taken = min(amount, remaining)
                ledger.capture(session, hold_id, taken, user_id=caller.user_id)
                remaining -= taken
            row = history.record(
                session,
                user_id=caller.user_id,
                type="tts",
                model=model.id,
                voice=self.voice_id,
                input_summary=self._summary(),
                output_key=key,
                duration_ms=self.duration_ms,
                characters=self.characters,
                cost_micros=cost - remaining,
                api_key_id=caller.api_key_id,
                request_id=caller.request_id,
                latency_ms=self.latency_ms,
            )
        return LiveResult(
            self.characters,
            self.duration_ms,
            cost - remaining,
            row.id,
            key,
            self.format,
            self.sample_rate,
        )

    def abandon(self, error: BaseException | None = None) -> None:
        """Release every hold (``error`` None: the client left, "cancelled"); idempotent."""
        with self._lock:
            if self._resolved:
                return
            try:
                self._release(error)
            finally:
                self._cleanup()
                self._resolved = True

    def _release(self, error: BaseException | None) -> None:
        if error is None:
            status, message = "cancelled", "The client closed the connection before the end"
        else:
            status = "failed"
            message = error.message if isinstance(error, DomainError) else "internal error"
        if not self._holds and not self.received:
            return
        try:
            self._release_and_record(status, message)
        except Exception:  # the database is away: this process retries after its heartbeat
            for hold_id, _amount in self._holds:
                sweeper.release_later(self._ctx.db, hold_id)
            raise

    def _release_and_record(self, status: str, message: str) -> None:
        with self._ctx.db.write() as session:
            for hold_id, _amount in self._holds:
                ledger.release(session, hold_id, user_id=self._caller.user_id)
            history.record(
                session,
                user_id=self._caller.user_id,
                type="tts",
                model=self._plan.model.id,
                voice=self.voice_id,
                input_summary=self._summary(),
                duration_ms=self.duration_ms,
                characters=self.characters,
                cost_micros=0,
                status=status,
                error=message,
                api_key_id=self._caller.api_key_id,
                request_id=self._caller.request_id,
                latency_ms=self.latency_ms,
            )

    def _cleanup(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._spool_path:
            try:
                os.unlink(self._spool_path)
            except OSError:
                logger.warning("could not remove %s", self._spool_path)
            self._spool_path = ""

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)


def open_live(
    ctx: SpeechContext,
    caller: Caller,
    order: SpeechOrder,
    *,
    max_characters: int = LONG_TEXT_LIMIT,
) -> LiveSynthesis:
    """Check the order (its text comes later) and open a session; nothing is held yet."""
    order = replace(order, sample_rate=order.sample_rate or DEFAULT_SAMPLE_RATE)
    ctx = ctx.for_caller(caller.user_id)
    speech = plan(ctx, caller, replace(order, text=_PROBE_TEXT))
    return LiveSynthesis(ctx, caller, speech, max_characters)
