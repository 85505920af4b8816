"""A blocking iterator read from the event loop, its items made in one worker thread.

    chunks = ThreadedIterator(speech_stream)   # nothing runs yet
    async for chunk in chunks:                 # each item made in the thread, one at a time
        await send(chunk)
    await chunks.aclose()                      # also after an error or a cancellation

The thread is taken when the first item is asked for and kept until the iterator ends or is
closed. Each item is then one hand-over each way: the reader releases a semaphore the thread
waits on, and the thread hands the item back with ``call_soon_threadsafe``. A worker-thread
hop per item (anyio's, with its limiter and cancel scope) cost about three times the CPU
(100-125 against 35-40 µs a round trip, measured on a 2-core machine), and a streamed speech
response takes one per chunk: under 50 streamed calls in flight those hops were a large part
of what kept the event loop busy.

The thread makes an item only when the reader asks for it, never ahead, as the hop per item
did. That keeps a speech stream's promise: the last step, which settles the bill, runs only
after every chunk before it was handed to the server, so a client that hangs up earlier is
not charged. Closing (``aclose``) lets the item being made finish (a thread cannot be
interrupted), asks for no other, and closes the iterator in the thread, where its clean-up
may do blocking work (a speech stream releases its hold there). A reader dropped without
``aclose`` is closed the same way when it is collected.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

Item = TypeVar("Item")

_ITEM, _END, _FAILED = "item", "end", "failed"
_DONE = object()


class _Handover:
    """What the reader (on the event loop) and the thread share; the thread holds only this,
    so a reader nobody holds any more can be collected (and then stops the thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.asked = threading.Semaphore(0)  # one release per item asked for, one to stop
        self.stopped = False
        self.ready: collections.deque[tuple[str, Any]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None

    def hand(self, kind: str, value: Any) -> None:
        """From the thread: give the reader an item, the end, or the iterator's error."""
        try:
            self.loop.call_soon_threadsafe(self._arrive, kind, value)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            pass

    def _arrive(self, kind: str, value: Any) -> None:
        self.ready.append((kind, value))
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stop(self) -> None:
        self.stopped = True
        self.asked.release()


def _close(*things: object) -> None:
    for thing in things:
        close = getattr(thing, "close", None)
        if close is not None:
            close()


def _produce(handover: _Handover, items: Iterable[Any], iterator: Iterator[Any]) -> None:
    """The thread's loop: wait to be asked, make one item, hand it over; close at the end."""
    try:
        while True:
            handover.asked.acquire()
            if handover.stopped:
                break
            try:
                item = next(iterator, _DONE)
            except BaseException as error:
                handover.hand(_FAILED, error)
                break
            if item is _DONE:
                handover.hand(_END, None)
                break
            handover.hand(_ITEM, item)
    finally:
        _close(iterator, items)


class ThreadedIterator(Generic[Item]):
    """An async iterator over ``items``, each made in one worker thread (see the module)."""

    def __init__(self, items: Iterable[Item]) -> None:
        self._items = items
        self._iterator: Iterator[Item] = iter(items)
        # The thread runs in the context of the request that made the iterator, as every item
        # did when each was a hop of its own.
        self._context = contextvars.copy_context()
        self._handover: _Handover | None = None
        self._thread: asyncio.Future[None] | None = None
        self._closed = False

    def __aiter__(self) -> ThreadedIterator[Item]:
        return self

    async def __anext__(self) -> Item:
        if self._closed:
            raise StopAsyncIteration
        handover = self._handover or self._start()
        handover.asked.release()
        try:
            while not handover.ready:
                handover.waiter = handover.loop.create_future()
                await handover.waiter
        except BaseException:
            await self.aclose()
            raise
        kind, value = handover.ready.popleft()
        if kind == _ITEM:
            return value
        await self.aclose()
        if kind == _FAILED:
            raise value
        raise StopAsyncIteration

    def _start(self) -> _Handover:
        handover = _Handover(asyncio.get_running_loop())
        self._handover = handover
        work = anyio.to_thread.run_sync(
            self._context.run, _produce, handover, self._items, self._iterator
        )
        self._thread = asyncio.ensure_future(work)
        return handover

    async def aclose(self) -> None:
        """Stop asking for items and close the iterator (in the thread); waits for both."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._thread is None:  # never started: close it in a thread of its own
                await anyio.to_thread.run_sync(_close, self._iterator, self._items)
                return
            assert self._handover is not None
            self._handover.stop()
            await self._thread  # re-raises what closing the iterator raised

    def __del__(self) -> None:
        # Dropped while its thread waits to be asked: let the thread close the iterator and go.
        if not self._closed and self._handover is not None:
            self._handover.stop()
