"""``TransportShelf``: one provider's HTTP connections, one per call in flight, reused last-in
first-out; and ``send``, a request straight to such a transport.

Why not one ``httpx.Client`` with a big pool: httpcore's pool (1.0) re-examines every connection
it holds each time a request starts or ends, and for each idle one counts all of them again and
polls its socket, so one pool event costs O(connections²). With 50 hosted calls in flight that
was about 1,900 connection checks a call, the largest cost of a hosted call (bench row B6).

Here a call takes a transport of its own, whose pool holds one connection, and puts it back
when it is done; the most recently returned goes out first, so its connection is the one most
likely still open. There are as many transports as calls were ever in flight at once, bounded
by the worker threads that make the calls. The TLS context is built once and shared: building
one per transport (httpx's default) costs about 20 ms.

Requests go to the transport without an ``httpx.Client`` around it: the client's URL merging,
cookie jar, auth and redirect machinery cost about a fifth of a provider call's CPU, and none
of it is wanted (no cookies, no redirects followed, the key is a fixed header).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import certifi
import httpx

TransportFactory = Callable[[ssl.SSLContext], httpx.BaseTransport]


class TransportShelf:
    def __init__(self, make: TransportFactory) -> None:
        self._make = make
        self._tls: ssl.SSLContext | None = None
        self._idle: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def transport(self) -> Iterator[httpx.BaseTransport]:
        """A transport for this call alone; it goes back on the shelf afterwards."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the provider's connections are closed")
            transport = self._idle.pop() if self._idle else None
        if transport is None:
            transport = self._new_transport()
        try:
            yield transport
        finally:
            with self._lock:
                if self._closed:
                    transport.close()
                else:
                    self._idle.append(transport)

    def _new_transport(self) -> httpx.BaseTransport:
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        return self._make(tls)

    def close(self) -> None:
        """Close every transport; one still in use is closed when its call gives it back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for transport in idle:
            transport.close()


def send(
    transport: httpx.BaseTransport,
    method: str,
    url: httpx.URL,
    *,
    headers: Mapping[str, str],
    timeout: httpx.Timeout,
    **body: Any,
) -> httpx.Response:
    """Send one request on ``transport``; the response's body is read by the caller, who must
    close it. ``body``: httpx's ``json``, ``content``, ``data`` or ``files``."""
    request = httpx.Request(
        method, url, headers=headers, extensions={"timeout": timeout.as_dict()}, **body
    )
    response = transport.handle_request(request)
    response.request = request
    return response
