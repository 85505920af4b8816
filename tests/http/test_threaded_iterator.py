"""``ThreadedIterator``: a blocking iterator read from the event loop through one worker thread.

What the streamed responses rely on: an item is made only when it is asked for (a speech
stream settles in its last step, which must not run before the chunks ahead of it were sent),
every item is made in the same worker thread and never on the event loop, the iterator's errors
reach the reader, and closing (or dropping the reader) closes the iterator in that thread.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest

from api.http.threaded import ThreadedIterator

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server's loop: the iterator hands items over with asyncio's calls


class Recorder:
    """A blocking generator that notes what it made, in which thread, and how it ended."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.made: list[int] = []
        self.threads: set[int] = set()
        self.closed_in: int | None = None
        self.closed = threading.Event()

    def items(self) -> Iterator[int]:
        try:
            for index in range(self.count):
                self.threads.add(threading.get_ident())
                if index == self.fail_at:
                    raise ValueError(f"item {index} failed")
                self.made.append(index)
                yield index
        finally:
            self.closed_in = threading.get_ident()
            self.closed.set()


async def test_items_are_made_one_at_a_time_when_asked_in_one_thread_off_the_loop() -> None:
    recorder = Recorder(3)
    chunks = ThreadedIterator(recorder.items())
    await asyncio.sleep(0.05)
    assert recorder.made == []  # nothing runs before the first item is asked for

    assert await chunks.__anext__() == 0
    await asyncio.sleep(0.05)  # time enough for a thread running ahead to make the next
    assert recorder.made == [0]
    assert await chunks.__anext__() == 1
    await asyncio.sleep(0.05)
    assert recorder.made == [0, 1]

    assert [item async for item in chunks] == [2]
    loop_thread = threading.get_ident()
    assert len(recorder.threads) == 1 and loop_thread not in recorder.threads
    assert recorder.closed.is_set() and recorder.closed_in in recorder.threads


async def test_closing_early_closes_the_iterator_in_its_thread_and_asks_for_nothing_more() -> None:
    recorder = Recorder(10)
    chunks = ThreadedIterator(recorder.items())
    assert await chunks.__anext__() == 0

    await chunks.aclose()

    assert recorder.closed.is_set() and recorder.closed_in in recorder.threads
    assert recorder.made == [0]
    with pytest.raises(StopAsyncIteration):
        await chunks.__anext__()


async def test_the_iterators_error_reaches_the_reader_and_the_iterator_is_closed() -> None:
    recorder = Recorder(5, fail_at=2)
    chunks = ThreadedIterator(recorder.items())
    received: list[int] = []

    with pytest.raises(ValueError, match="item 2 failed"):
        async for item in chunks:
            received.append(item)

    assert received == [0, 1]
    assert recorder.closed.is_set()


async def test_a_reader_cancelled_while_waiting_closes_the_iterator() -> None:
    release = threading.Event()

    def slow() -> Iterator[int]:
        yield 0
        release.wait(5)  # the second item takes a while
        yield 1

    recorder = Recorder(0)

    def watched() -> Iterator[int]:
        try:
            yield from slow()
        finally:
            recorder.closed.set()

    chunks = ThreadedIterator(watched())
    assert await chunks.__anext__() == 0
    waiting = asyncio.ensure_future(chunks.__anext__())
    await asyncio.sleep(0.05)
    waiting.cancel()
    release.set()  # the item being made is finished (a thread cannot be interrupted)
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert recorder.closed.is_set()  # closed before the cancellation came out


async def test_a_reader_dropped_without_closing_still_closes_the_iterator() -> None:
    recorder = Recorder(10)
    chunks = ThreadedIterator(recorder.items())
    assert await chunks.__anext__() == 0

    del chunks
    gc.collect()

    assert await asyncio.to_thread(recorder.closed.wait, 5)
    assert recorder.made == [0]


async def test_an_iterator_never_read_is_closed_too() -> None:
    closed = threading.Event()

    class Stream:
        def __iter__(self) -> Iterator[int]:
            return iter(())

        def close(self) -> None:  # a speech stream releases its hold here
            closed.set()

    await ThreadedIterator(Stream()).aclose()

    assert closed.is_set()
