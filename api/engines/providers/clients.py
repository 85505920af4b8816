"""``ClientShelf``: httpx clients of one provider, one per call in flight, reused last-in first-out.

Why not one ``httpx.Client`` with a big pool: httpcore's pool (1.0) re-examines every connection
it holds each time a request starts or ends, and for each idle one counts all of them again and
polls its socket, so one pool event costs O(connections²). With 50 hosted calls in flight that
was about 1,900 connection checks a call, the largest cost of a hosted call (bench row B6).

Here a call takes a client of its own, whose pool holds one connection, and puts it back when
it is done; the most recently returned client goes out first, so its connection is the one most
likely still open. There are as many clients as calls were ever in flight at once, bounded by
the worker threads that make the calls. The TLS context is built once and shared: building one
per client (httpx's default) costs about 20 ms.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import certifi
import httpx

ClientFactory = Callable[[ssl.SSLContext], httpx.Client]


class ClientShelf:
    def __init__(self, make: ClientFactory) -> None:
        self._make = make
        self._tls: ssl.SSLContext | None = None
        self._idle: list[httpx.Client] = []
        self._made = 0
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """A client for this call alone; it goes back on the shelf afterwards."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the provider's clients are closed")
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = self._new_client()
        try:
            yield client
        finally:
            with self._lock:
                if self._closed:
                    client.close()
                else:
                    self._idle.append(client)

    def _new_client(self) -> httpx.Client:
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        client = self._make(tls)
        with self._lock:
            self._made += 1
        return client

    def close(self) -> None:
        """Close every client; one still in use is closed when its call gives it back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()

    @property
    def size(self) -> int:
        """How many clients were made: the most calls that were in flight at once."""
        with self._lock:
            return self._made
