"""``OriginTransport``: httpx's transport interface over urllib3's connection pool, for the one
origin a provider lives at; and ``send``, a request straight to a transport.

Why not httpx's own transport: httpcore's pool (1.0) re-examines every connection it holds each
time a request starts or ends, and for each idle one counts all of them again and polls its
socket, so one pool event costs O(connections²): at 50 hosted calls in flight, about 1,900
connection checks a call (bench row B6). Even with a pool per call in flight, httpcore and h11
spent about 2 ms of CPU reading one streamed answer, half of the gateway's CPU per hosted call.
urllib3's pool is a last-in first-out queue (the connection returned last, the one most likely
still open, goes out first; one poll of its socket before reuse), and ``http.client`` reads a
chunked answer in C for the most part: about 1.1 ms for the same call.

The providers keep speaking httpx (``httpx.Request`` in, ``httpx.Response`` out, httpx's
exceptions, ``httpx.MockTransport`` in tests); only the wire under them changed. Bodies come
back raw and httpx decodes them, so a cap on what is read still bounds what a compressed answer
inflates to. Requests go to the transport without an ``httpx.Client`` around it: the client's
URL merging, cookie jar, auth and redirect machinery cost about a fifth of a provider call's CPU,
and none of it is wanted (no cookies, no redirects followed, the key is a fixed header).

Timeouts, per network operation as httpx's: ``connect``; ``read`` for each wait for the answer;
``write`` for each send of the request (urllib3 has none of its own, so the connection sets it
before each send).
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import certifi
import httpx
import urllib3
from urllib3 import exceptions as wire
from urllib3.connection import HTTPConnection, HTTPSConnection

# Connections kept open per provider: more calls than this in flight still get a connection
# each, but those beyond it are closed when they end (bounded in practice by worker threads).
KEPT_CONNECTIONS = 128
READ_SIZE = 64 * 1024


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verified TLS context for every provider: building one costs about 20 ms."""
    return ssl.create_default_context(cafile=certifi.where())


class _WriteBounded:
    """A connection whose every send waits at most ``write_timeout`` seconds for progress."""

    sock: socket.socket | None

    def __init__(self, *args: Any, write_timeout: float | None = None, **kwargs: Any) -> None:
        self._write_timeout = write_timeout
        super().__init__(*args, **kwargs)

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        assert self.sock is not None
        self.sock.settimeout(self._write_timeout)
        super().send(data)  # type: ignore[misc]


class _Http(_WriteBounded, HTTPConnection):
    pass


class _Https(_WriteBounded, HTTPSConnection):
    pass


class OriginTransport(httpx.BaseTransport):
    """Requests to one origin (scheme, host, port) over kept-alive urllib3 connections."""

    def __init__(self, origin: httpx.URL, timeout: httpx.Timeout) -> None:
        if origin.scheme not in ("http", "https") or not origin.host:
            raise ValueError("an origin is an http(s) URL with a host")
        options: dict[str, Any] = {
            "maxsize": KEPT_CONNECTIONS,
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout.connect, read=timeout.read),
            "write_timeout": timeout.write,
        }
        pool: urllib3.HTTPConnectionPool
        if origin.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                origin.host, origin.port or 443, ssl_context=_tls_context(), **options
            )
            pool.ConnectionCls = _Https
        else:
            pool = urllib3.HTTPConnectionPool(origin.host, origin.port or 80, **options)
            pool.ConnectionCls = _Http
        self._pool = pool
        self._origin = (origin.scheme, origin.host, origin.port)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            raise ValueError("this transport only speaks to its own origin")
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers.raw:  # as the caller spelled them
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        body = request.read()
        with _as_httpx_errors(request):
            raw = self._pool.urlopen(
                request.method,
                url.raw_path.decode("ascii"),
                body=body or None,
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        return httpx.Response(
            raw.status,
            headers=list(raw.headers.iteritems()),
            stream=_Body(raw, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        """Close the idle connections now; one still in use is closed when its call ends."""
        self._pool.close()


class _Body(httpx.SyncByteStream):
    """A response's raw bytes as they arrive; its connection goes back to the pool at the end."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, request: httpx.Request) -> None:
        self._raw = raw
        self._request = request
        self._read_all = False

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self._request):
            while chunk := self._raw.read1(READ_SIZE, decode_content=False):
                yield chunk
        self._read_all = True

    def close(self) -> None:
        if not self._read_all:
            # What is left unread is not drained: the connection is dropped instead.
            self._raw.close()
        self._raw.release_conn()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """urllib3's failures as the httpx exceptions the providers map to platform errors."""
    try:
        yield
    except wire.NewConnectionError as exc:  # before its base class, ConnectTimeoutError
        raise httpx.ConnectError(str(exc), request=request) from exc
    except wire.ConnectTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc), request=request) from exc
    except wire.ReadTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc), request=request) from exc
    except wire.SSLError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    except wire.ProtocolError as exc:
        if any(isinstance(arg, TimeoutError) for arg in exc.args):  # a send that timed out
            raise httpx.WriteTimeout(str(exc), request=request) from exc
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except wire.HTTPError as exc:
        raise httpx.TransportError(str(exc), request=request) from exc


def send(
    transport: httpx.BaseTransport,
    method: str,
    url: httpx.URL,
    *,
    headers: Mapping[str, str],
    **body: Any,
) -> httpx.Response:
    """Send one request on ``transport``; the response's body is read by the caller, who must
    close it. ``body``: httpx's ``json``, ``content``, ``data`` or ``files``."""
    request = httpx.Request(method, url, headers=headers, **body)
    response = transport.handle_request(request)
    response.request = request
    return response
