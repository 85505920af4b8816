"""How long a request spent inside engines, so a door can report its own overhead.

A door keeps an ``EngineClock`` per request and runs the use case through ``clock.run`` (in
whichever thread does the work); the use cases wrap each engine call in ``engine_time()``, which
adds to the clock of the work it runs in. Without a clock the wrappers cost one context-variable
read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class EngineClock:
    """Seconds spent inside engines by the work run through this clock."""

    seconds: float = 0.0

    def run(self, work: Callable[[], Result]) -> Result:
        token = _clock.set(self)
        try:
            return work()
        finally:
            _clock.reset(token)


_clock: ContextVar[EngineClock | None] = ContextVar("amphion_engine_clock", default=None)


@contextmanager
def engine_time() -> Iterator[None]:
    """Count the time of the enclosed engine call on the request's clock, if there is one."""
    clock = _clock.get()
    if clock is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        clock.seconds += time.perf_counter() - started


def timed_iteration(items: Iterator[Item]) -> Iterator[Item]:
    """``items`` with the time spent producing each one counted as engine time."""
    while True:
        with engine_time():
            try:
                item = next(items)
            except StopIteration:
                return
        yield item
