"""A bounded async load client (httpx): ``connections`` callers share ``requests`` requests.

    async with Callers(base_url, 50) as callers:
        result = await load(callers, lambda c: c.get("/bench/hello"), connections=50,
                            requests=1000)

Each caller is a client of its own with one keep-alive connection, as independent clients
are. One shared httpx client with a pool of 50 connections was itself the bottleneck: against
the same server, hello-world made 200-850 req/s through it (the figure changed from one run to
the next) and 1,800-1,900 req/s with a client per caller, whose p99 was also steady.

Each caller sends its next request as soon as its previous answer is read, so at most
``connections`` are in flight. With ``stagger`` (seconds) the callers start spread evenly over
that time instead of all at once: against an upstream with a fixed delay, callers that start
together stay in lockstep for the whole run (every request of a wave arrives in the same
millisecond), while staggered ones keep the same number in flight with arrivals spread out, as
independent clients send them. Latency is measured per request (until the whole body is read);
a request that takes longer than the client's timeout counts as a timeout, any other failure
or non-2xx answer as an error. Nothing is retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.table import percentile

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    timeouts: int = 0
    errors: int = 0

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile(self.latencies, fraction) * 1000


class Callers:
    """``count`` simulated clients of ``base_url``, each with one keep-alive connection."""

    def __init__(self, base_url: str, count: int, timeout: float = 30.0) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients = [
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)
            for _ in range(count)
        ]

    @property
    def first(self) -> httpx.AsyncClient:
        """One client, for calls made one at a time."""
        return self.clients[0]

    async def __aenter__(self) -> Callers:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


async def load(
    callers: Callers,
    send: Send,
    *,
    connections: int,
    requests: int,
    stagger: float = 0.0,
) -> LoadResult:
    result = LoadResult()
    remaining = [requests]

    if connections > len(callers.clients):
        raise ValueError(f"{connections} connections but only {len(callers.clients)} callers")

    async def caller(index: int) -> None:
        client = callers.clients[index]
        if stagger:
            await asyncio.sleep(index * stagger / connections)
        while remaining[0] > 0:
            remaining[0] -= 1
            started = time.perf_counter()
            try:
                response = await send(client)
            except httpx.TimeoutException:
                result.timeouts += 1
                continue
            except httpx.HTTPError:
                result.errors += 1
                continue
            if response.is_success:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(index) for index in range(connections)))
    result.seconds = time.perf_counter() - started
    return result
