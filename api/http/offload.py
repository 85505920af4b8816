"""Blocking work awaited from the event loop: one hand-over to a worker thread and one back.

    result = await offload(synthesize, ctx, caller, order)

What every speech call does with its use case (``SpeechCall.run``). anyio's
``to_thread.run_sync`` yields to the event loop twice before it hands the work over (its
cancellation checkpoint and its limiter's), so under load a call's work waits behind every
callback that became ready meanwhile, twice, before its thread is even asked; its cancel scope
and limiter cost about as much CPU again as the hand-over itself. Here the work goes to an idle
thread at once (a ``SimpleQueue`` put), and the thread hands the outcome back with
``call_soon_threadsafe``.

The threads are this module's own: up to ``MAX_THREADS`` (a server gives anyio's limiter as
many, for the blocking work that still goes through it: ``api.http.app``), started when no
thread is idle, kept last-in first-out (the thread that went idle last, whose stack is warm,
goes first) and ended after ``IDLE_SECONDS`` without work. Beyond ``MAX_THREADS`` the work
waits in line, first come first served. A process made by ``fork`` starts with none.

Like anyio's hop: the work runs in a copy of the caller's context (contextvars), a thread
cannot be interrupted, and a caller cancelled while its work runs waits for the work to end
before the cancellation goes on (so whatever the work holds, a hold on a balance for one, is
settled or released by the work itself before the request is given up).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import os
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

Result = TypeVar("Result")

# A hosted call waits on the network in its thread: fewer threads than calls in flight would
# queue calls that only wait (see api.http.app's BLOCKING_THREADS).
MAX_THREADS = 256
IDLE_SECONDS = 60.0


class _Job:
    """One piece of work and where its outcome goes."""

    __slots__ = ("context", "func", "args", "loop", "future", "ended", "waiter")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.context = contextvars.copy_context()
        self.func = func
        self.args = args
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None  # only once the caller was cancelled

    def run(self) -> tuple[Any, BaseException | None]:
        """In the thread: do the work; its result, or what it raised."""
        try:
            return self.context.run(self.func, *self.args), None
        except BaseException as error:  # handed to the caller, who re-raises it
            return None, error

    def hand_back(self, outcome: tuple[Any, BaseException | None]) -> None:
        """From the thread: give the loop the outcome."""
        try:
            self.loop.call_soon_threadsafe(self._end, *outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _end(self, result: Any, error: BaseException | None) -> None:
        """On the loop: the outcome arrives."""
        self.ended = True
        if not self.future.done():  # done: the caller was cancelled while the work ran
            if error is None:
                self.future.set_result(result)
            else:
                self.future.set_exception(error)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Pool:
    """Worker threads that each take one job at a time."""

    def __init__(self, max_threads: int, idle_seconds: float) -> None:
        self._max = max_threads
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        # The idle threads' inboxes; the one that went idle last is taken first.
        self._idle: list[SimpleQueue[_Job | None]] = []
        self._waiting: collections.deque[_Job] = collections.deque()
        self._threads = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            if self._idle:
                inbox = self._idle.pop()
            elif self._threads < self._max:
                self._threads += 1
                inbox = None
            else:
                self._waiting.append(job)
                return
        if inbox is not None:
            inbox.put(job)
            return
        try:
            threading.Thread(
                target=self._work, args=(job,), name="amphion-offload", daemon=True
            ).start()
        except BaseException:
            with self._lock:
                self._threads -= 1
            raise

    def _work(self, job: _Job | None) -> None:
        inbox: SimpleQueue[_Job | None] = SimpleQueue()
        while job is not None:
            outcome = job.run()
            # Idle (or on to a waiting job) before the outcome goes back, so the caller's next
            # call finds this thread instead of starting another.
            following = self._waiting_job_or_idle(inbox)
            job.hand_back(outcome)
            job = following if following is not None else self._wait(inbox)

    def _waiting_job_or_idle(self, inbox: SimpleQueue[_Job | None]) -> _Job | None:
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            self._idle.append(inbox)
            return None

    def _wait(self, inbox: SimpleQueue[_Job | None]) -> _Job | None:
        """The next job for an idle thread; None: it waited ``idle_seconds`` and ends."""
        try:
            return inbox.get(timeout=self._idle_seconds)
        except Empty:
            pass
        with self._lock:
            try:
                self._idle.remove(inbox)
            except ValueError:  # taken just now: a job is on its way
                return inbox.get()
            self._threads -= 1
            return None


_pool = _Pool(MAX_THREADS, IDLE_SECONDS)


def _new_pool() -> None:
    global _pool
    _pool = _Pool(MAX_THREADS, IDLE_SECONDS)


os.register_at_fork(after_in_child=_new_pool)  # the parent's threads do not exist in a child


async def offload(func: Callable[..., Result], *args: Any) -> Result:
    """``func(*args)`` in a worker thread; its result, or its exception raised here."""
    job = _Job(func, args, asyncio.get_running_loop())
    _pool.submit(job)
    try:
        result: Result = await job.future
    except asyncio.CancelledError:
        # The thread cannot be stopped: the cancellation waits until the work has ended.
        while not job.ended:
            job.waiter = job.loop.create_future()
            try:
                await job.waiter
            except asyncio.CancelledError:
                continue
        raise
    return result
