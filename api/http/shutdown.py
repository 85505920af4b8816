"""Graceful shutdown of the web server: on SIGTERM, cut streams that outlast a short grace.

Granian and uvicorn both stop listening on SIGTERM and then wait for every open response to
end, however long that takes: one slow client reading a long streamed TTS answer kept the
server up past any deadline, and a SIGKILL then left that stream's credit hold held forever.
So the app watches the signal too. :func:`install_drain` (called once per process from the
API's lifespan) chains a handler in front of the server's own one; when the signal comes:

* callbacks given to it run at once (the in-process job worker stops claiming and starts its
  own hand-back clock);
* every streamed response still running — and any that starts later — gets a deadline of
  ``STREAM_GRACE_SECONDS``. A stream that ends within it ends normally (captured, history
  "succeeded"); one still running then is cancelled, which closes its body iterator: the hold
  is released and the history row says "cancelled" (see ``ClosingStreamingResponse``).

Both servers may keep a cut stream's connection open a while longer, flushing what was already
written to a slow reader; ``amphion serve --api-only`` (granian's ``workers_kill_timeout``) and
``serve_console`` therefore end a server process still there ``SERVER_KILL_AFTER_SECONDS`` after
the signal, when holds and jobs are settled. Unstreamed requests are not cut.

Chaining works for both servers: uvicorn's handler is a plain ``signal.signal`` handler, called
after ours; granian's workers use the event loop's signal handling, which is woken through the
loop's wakeup fd whatever Python-level handler is installed. Nothing is installed off the main
thread (``signal.signal`` allows only that) or where SIGTERM has no handler at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import anyio

logger = logging.getLogger("amphion.http.shutdown")

# How long a stream may run on after SIGTERM before it is cut; well inside the 10 s an
# operator is promised, leaving time for the clean-up, the lifespan and the process exit.
STREAM_GRACE_SECONDS = 5.0
# When the server's processes are killed if still there: a cut stream's connection can linger
# while the server flushes what it had written to a slow reader; money and jobs are settled.
SERVER_KILL_AFTER_SECONDS = 8
# granian's options for every server we start, the API alone (``api.cli``) or the console
# (``console.reflex_server``): a worker that dies (a crash in an engine's native code, the OOM
# killer) is replaced instead of taking the whole server down, and its holds are released by
# the sweeper once its heartbeat is stale; granian still exits on a crash loop (a worker dying
# again within 5.5 s of its respawn). A stopping worker still there after the kill time is ended.
GRANIAN_OPTIONS: dict[str, Any] = {
    "respawn_failed_workers": True,
    "workers_kill_timeout": SERVER_KILL_AFTER_SECONDS,
}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    """The shutdown state of one process: whether it is draining, and the streams to cut."""

    def __init__(self, grace_seconds: float = STREAM_GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._since: float | None = None  # time.monotonic() of the first stop signal
        self._callbacks: list[Callable[[], None]] = []
        self._streams: set[anyio.CancelScope] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def draining(self) -> bool:
        return self._since is not None

    def on_drain(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (thread-safe, quick) when draining starts."""
        with self._lock:
            self._callbacks.append(callback)

    def begin(self) -> None:
        """Start draining (idempotent); safe to call from a signal handler."""
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
            callbacks = list(self._callbacks)
        logger.info("stop signal: streams get %.0f s to finish", self.grace_seconds)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("shutdown callback failed")
        if self._loop is not None and not self._loop.is_closed():
            # Cancel scopes belong to the loop: arm them there, not inside a signal handler.
            self._loop.call_soon_threadsafe(self._arm_all)

    def _deadline(self, loop: asyncio.AbstractEventLoop) -> float:
        """The stream deadline on the loop's clock (anyio's), from the time of the signal."""
        assert self._since is not None
        remaining = self.grace_seconds - (time.monotonic() - self._since)
        return loop.time() + max(remaining, 0.0)

    def _arm_all(self) -> None:
        assert self._loop is not None
        deadline = self._deadline(self._loop)
        for scope in list(self._streams):
            scope.deadline = min(scope.deadline, deadline)

    @contextlib.contextmanager
    def stream_scope(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope around one streamed response: cut when the grace after SIGTERM ends."""
        scope = anyio.CancelScope()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        if self.draining:
            scope.deadline = self._deadline(loop)
        self._streams.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._streams.discard(scope)
            if scope.cancelled_caught:
                logger.warning("a stream was cut by the shutdown after %.0f s", self.grace_seconds)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop


_drain = Drain()


def current_drain() -> Drain:
    """This process's drain state (one per process, as signals are)."""
    return _drain


def install_drain(on_drain: Callable[[], None] | None = None) -> Callable[[], None]:
    """Chain the drain in front of the server's stop-signal handlers; returns the undo.

    Call from the API's lifespan start-up, i.e. after the server installed its own handlers.
    """
    drain = current_drain()
    if on_drain is not None:
        drain.on_drain(on_drain)
    with contextlib.suppress(RuntimeError):
        drain.bind_loop(asyncio.get_running_loop())
    if threading.current_thread() is not threading.main_thread():
        logger.info("not on the main thread: streams are not cut on SIGTERM")
        return lambda: None
    installed: dict[int, Any] = {}

    for stop_signal in STOP_SIGNALS:
        previous = signal.getsignal(stop_signal)
        if previous in (signal.SIG_DFL, signal.SIG_IGN, None):
            continue  # the server does not stop gracefully on it; do not pretend it does

        def chained(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            drain.begin()
            previous(signum, frame)

        signal.signal(stop_signal, chained)
        installed[stop_signal] = (chained, previous)

    def uninstall() -> None:
        for stop_signal, (chained, previous) in installed.items():
            if signal.getsignal(stop_signal) is chained:
                signal.signal(stop_signal, previous)

    return uninstall
