"""Rate limiting: fixed-window counters in process memory or, for several workers, in Redis.

A window counter is enough for the limits here (sign-ups per hour, sign-in failures per 15
minutes, requests per minute per key) and is one atomic ``INCR`` in Redis. ``hit`` counts and
answers; ``peek`` answers without counting, for limits that only count failures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from api.errors import RateLimitedError


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: float


class RateLimiter(Protocol):
    # True when counting needs no I/O, so a request may count on the event loop itself.
    in_process: bool

    def hit(self, key: str, *, limit: int, window: int, cost: int = 1) -> Verdict: ...

    def peek(self, key: str, *, limit: int, window: int) -> Verdict: ...

    def reset(self, key: str, *, window: int) -> None: ...


def _window_start(window: int, now: float) -> int:
    return int(now // window) * window


class MemoryRateLimiter:
    """Counters in this process; right for the single-process embedded default."""

    in_process = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}

    def _verdict(self, count: int, limit: int, start: int, window: int, now: float) -> Verdict:
        return Verdict(count <= limit, max(0, limit - count), start + window - now)

    def hit(self, key: str, *, limit: int, window: int, cost: int = 1) -> Verdict:
        now = time.time()
        start = _window_start(window, now)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] + window > now}
            count = self._counts.get((key, start), 0) + cost
            self._counts[(key, start)] = count
        return self._verdict(count, limit, start, window, now)

    def peek(self, key: str, *, limit: int, window: int) -> Verdict:
        now = time.time()
        start = _window_start(window, now)
        with self._lock:
            count = self._counts.get((key, start), 0)
        return Verdict(count < limit, max(0, limit - count), start + window - now)

    def reset(self, key: str, *, window: int) -> None:
        with self._lock:
            self._counts.pop((key, _window_start(window, time.time())), None)


class RedisRateLimiter:
    """Counters shared by every worker through Redis (``AMPHION_REDIS_URL``)."""

    in_process = False

    def __init__(self, url: str, prefix: str = "amphion:rl:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def _key(self, key: str, start: int) -> str:
        return f"{self._prefix}{key}:{start}"

    def hit(self, key: str, *, limit: int, window: int, cost: int = 1) -> Verdict:
        now = time.time()
        start = _window_start(window, now)
        name = self._key(key, start)
        pipe = self._redis.pipeline()
        pipe.incrby(name, cost)
        pipe.expire(name, window + 1)
        count = int(pipe.execute()[0])
        return Verdict(count <= limit, max(0, limit - count), start + window - now)

    def peek(self, key: str, *, limit: int, window: int) -> Verdict:
        now = time.time()
        start = _window_start(window, now)
        stored: Any = self._redis.get(self._key(key, start))
        count = int(stored or 0)
        return Verdict(count < limit, max(0, limit - count), start + window - now)

    def reset(self, key: str, *, window: int) -> None:
        self._redis.delete(self._key(key, _window_start(window, time.time())))


def enforce(verdict: Verdict, message: str) -> None:
    """Turn a refusal into the 429 every door renders with ``Retry-After``."""
    if not verdict.allowed:
        raise RateLimitedError(message, retry_after=verdict.retry_after)


def make_rate_limiter(redis_url: str) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()


@lru_cache
def get_rate_limiter() -> RateLimiter:
    from api.settings import get_settings

    return make_rate_limiter(get_settings().redis_url)
