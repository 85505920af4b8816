"""``offload``: blocking work awaited from the event loop through the module's worker threads.

What the speech routes rely on: the work runs off the loop in the caller's context, its result
or its exception comes back, calls run side by side up to the pool's size and wait in line
beyond it, idle threads are reused and end after a while, and a caller cancelled while its work
runs waits for the work to end (the work settles or releases its own hold) before giving up.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from api.http import offload as offload_module
from api.http.offload import _Pool, offload

pytestmark = pytest.mark.anyio

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server's loop: outcomes come back with asyncio's calls


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> _Pool:
    """A pool of two threads that end after 0.2 s idle, in place of the module's."""
    pool = _Pool(max_threads=2, idle_seconds=0.2)
    monkeypatch.setattr(offload_module, "_pool", pool)
    return pool


def threads_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


async def test_the_work_runs_off_the_loop_in_the_callers_context_and_returns() -> None:
    request_id.set("req-1")

    def work(a: int, b: int) -> tuple[int, str, int]:
        return a + b, request_id.get(), threading.get_ident()

    total, seen_id, thread = await offload(work, 2, 3)

    assert total == 5 and seen_id == "req-1"
    assert thread != threading.get_ident()


async def test_the_works_exception_is_raised_to_the_caller() -> None:
    def work() -> None:
        raise LookupError("no such voice")

    with pytest.raises(LookupError, match="no such voice"):
        await offload(work)


async def test_calls_run_side_by_side_up_to_the_pool_size_then_wait_in_line(
    small_pool: _Pool,
) -> None:
    running = 0
    most = 0
    order: list[int] = []
    lock = threading.Lock()

    def work(index: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
            order.append(index)
        return index

    results = await asyncio.gather(*(offload(work, index) for index in range(6)))

    assert results == list(range(6))
    assert most == 2  # the pool's size, reached and never passed
    assert set(order[:2]) == {0, 1}  # the first two ran first; the others waited their turn


async def test_an_idle_thread_is_reused_and_ends_after_its_idle_time(small_pool: _Pool) -> None:
    first = await offload(threading.get_ident)
    second = await offload(threading.get_ident)
    assert first == second  # the thread that went idle took the next call

    deadline = time.monotonic() + 5
    while any(thread.ident == first for thread in threads_named("amphion-offload")):
        assert time.monotonic() < deadline, "the idle thread did not end"
        await asyncio.sleep(0.05)
    assert await offload(lambda: 42) == 42  # a new thread is started for the next call


async def test_a_cancelled_caller_waits_for_its_work_to_end_before_giving_up() -> None:
    started, release = threading.Event(), threading.Event()
    ended: list[str] = []

    def work() -> str:
        started.set()
        release.wait(5)
        ended.append("work")
        return "done"

    task = asyncio.ensure_future(offload(work))
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.1)
    assert not task.done()  # still waiting for the work, though cancelled
    task.cancel()  # asked again: still waits
    await asyncio.sleep(0.05)
    assert not task.done()

    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended == ["work"]
