"""``OriginTransport``: httpx's transport interface over a lean HTTP/1.1 client of our own, for
the one origin a provider lives at; and ``send``, a request straight to a transport.

Why our own wire: a hosted call is a few hundred bytes out and one short answer back, and what
the gateway spends on it is CPU on the server's one busy core, which every call in flight waits
behind (bench row B6). httpcore's pool (1.0) re-examines every connection it holds on each pool
event (about 1,900 connection checks a call at 50 in flight); urllib3 and ``http.client`` in its
place took about 0.95 ms of CPU a call (50 in flight against the bench's provider fake), most
of it in Python frames around the bytes: a request object, header parsing through ``email``, a
pool with its own retry and timeout objects. This client writes the request's head in one
``sendall`` and reads the answer through the socket's buffered reader (its ``readline`` and
``read1`` run in C): about 0.63 ms for the same call.

What it speaks: HTTP/1.1 over TCP or TLS (verified, with certifi's roots), keep-alive with
``Content-Length``, chunked or read-until-close bodies (RFC 9112 §6.3), interim 1xx answers
skipped. Connections are kept last-in first-out (the one returned last, most likely still open,
goes out first); before reuse, one that the server closed or that went idle longer than
``KEEPALIVE_SECONDS`` is dropped. A request is never retried: a provider call may be billed.

The providers keep speaking httpx (``httpx.Request`` in, ``httpx.Response`` out, httpx's
exceptions, ``httpx.MockTransport`` in tests); only the wire under them is ours. Bodies come
back raw and httpx decodes them, so a cap on what is read still bounds what a compressed answer
inflates to. Requests go to the transport without an ``httpx.Client`` around it: the client's
URL merging, cookie jar, auth and redirect machinery cost about a fifth of a provider call's CPU,
and none of it is wanted (no cookies, no redirects followed, the key is a fixed header).

Timeouts, per network operation as httpx's: ``connect`` (TCP and the TLS handshake); ``write``
for each piece of the request sent; ``read`` for each wait for the answer.
"""

from __future__ import annotations

import functools
import io
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import certifi
import httpx

# Idle connections kept per provider: more calls than this in flight still get a connection
# each, but those beyond it are closed when they end (bounded in practice by worker threads).
KEPT_CONNECTIONS = 128
# An idle connection older than this is not reused: servers built on uvicorn (most local
# OpenAI-compatible ones) close theirs after 5 s, and a request sent as one closes is lost.
KEEPALIVE_SECONDS = 4.0
READ_SIZE = 64 * 1024
SEND_SIZE = 256 * 1024  # a large upload goes out in pieces, each bounded by the write timeout
MAX_LINE = 64 * 1024  # the status line, a header line or a chunk-size line
MAX_HEADERS = 100


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verified TLS context for every provider: building one costs about 20 ms."""
    return ssl.create_default_context(cafile=certifi.where())


class _Connection:
    """One socket to the origin and the buffered reader over it."""

    __slots__ = ("sock", "reader", "idle_since")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = cast(io.BufferedReader, sock.makefile("rb", buffering=READ_SIZE))
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Idle not too long and not readable: a server that closed the connection (or sent
        something unasked) makes its socket readable. (Every body is read to its exact end
        before its connection comes back, so nothing of an answer is left buffered.)"""
        if now - self.idle_since > KEEPALIVE_SECONDS:
            return False
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return False
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class OriginTransport(httpx.BaseTransport):
    """Requests to one origin (scheme, host, port) over kept-alive connections."""

    def __init__(
        self,
        origin: httpx.URL,
        timeout: httpx.Timeout,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if origin.scheme not in ("http", "https") or not origin.host:
            raise ValueError("an origin is an http(s) URL with a host")
        self._origin = (origin.scheme, origin.host, origin.port)
        self._address = (origin.host, origin.port or (443 if origin.scheme == "https" else 80))
        self._tls = (tls_context or _tls_context()) if origin.scheme == "https" else None
        self._timeout = timeout
        self._idle: list[_Connection] = []  # last in, first out
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._check_origin(request.url)
        head, body = _request_bytes(request)
        closing = request.headers.get("connection", "").lower() == "close"
        return self._exchange(request.method, head, body, closing, request)

    def send_direct(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        *,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """``handle_request`` for a request written here instead of built by httpx: the same
        bytes on the wire (``_direct_head``), without an ``httpx.Request`` and its header
        normalization (about a fifth of the provider client's instructions a call). The
        response has no ``request``; errors are httpx's, without one either."""
        self._check_origin(url)
        content_type = None
        if json is not None:
            content = _json_bytes(json)
            content_type = b"application/json"
        head = _direct_head(method, url, headers, content, content_type)
        closing = any(
            n.lower() == "connection" and v.lower() == "close" for n, v in headers.items()
        )
        return self._exchange(method, head, content or b"", closing, None)

    def _check_origin(self, url: httpx.URL) -> None:
        if (url.scheme, url.host, url.port) != self._origin:
            raise ValueError("this transport only speaks to its own origin")

    def _exchange(
        self, method: str, head: bytes, body: bytes, closing: bool, request: httpx.Request | None
    ) -> httpx.Response:
        """Send one request and read the answer's head; the body is read as the caller asks."""
        connection = self._checkout(request)
        try:
            self._send(connection, head, body, request)
            status, reason, headers, reusable = self._read_head(connection, request)
            framing = _framing(method, status, headers, request)
        except BaseException:
            connection.close()
            raise
        stream = _Body(self, connection, framing, reusable and not closing, request)
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def close(self) -> None:
        """Close the idle connections now; one still in use is closed when its call ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- connections ---

    def _checkout(self, request: httpx.Request | None) -> _Connection:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection = self._idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return self._connect(request)

    def _connect(self, request: httpx.Request | None) -> _Connection:
        timeout = self._timeout.connect
        try:
            sock = socket.create_connection(self._address, timeout=timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect timed out: {exc}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"could not connect: {exc}", request=request) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(f"TLS handshake timed out: {exc}", request=request) from exc
        except OSError as exc:  # ssl.SSLError among them: a certificate that does not verify
            sock.close()
            raise httpx.ConnectError(f"TLS handshake failed: {exc}", request=request) from exc
        return _Connection(sock)

    def _release(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            if not self._closed and len(self._idle) < KEPT_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    # --- one exchange ---

    def _send(
        self, connection: _Connection, head: bytes, body: bytes, request: httpx.Request | None
    ) -> None:
        sock = connection.sock
        sock.settimeout(self._timeout.write)
        try:
            if len(body) <= SEND_SIZE:
                sock.sendall(head + body)
            else:
                sock.sendall(head)
                view = memoryview(body)
                for start in range(0, len(view), SEND_SIZE):
                    sock.sendall(view[start : start + SEND_SIZE])
        except TimeoutError as exc:
            raise httpx.WriteTimeout(
                f"sending the request timed out: {exc}", request=request
            ) from exc
        except OSError as exc:
            raise httpx.WriteError(f"sending the request failed: {exc}", request=request) from exc
        sock.settimeout(self._timeout.read)

    def _read_head(
        self, connection: _Connection, request: httpx.Request | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
        """The status, reason, headers and whether the connection may serve another call."""
        with _reading(request):
            while True:
                line = connection.reader.readline(MAX_LINE + 1)
                if not line:
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection without answering", request=request
                    )
                version, status, reason = _status_line(line, request)
                headers = _header_lines(connection.reader, request)
                if status >= 200 or status == 101:
                    break  # 1xx interim answers (103 Early Hints, 100 Continue) are skipped
        tokens = _connection_tokens(headers)
        reusable = "close" not in tokens and (version == b"HTTP/1.1" or "keep-alive" in tokens)
        return status, reason, headers, reusable


def _request_bytes(request: httpx.Request) -> tuple[bytes, bytes]:
    """The request's head (as httpx spelled its headers) and its whole body."""
    body = request.read()
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding":
            chunked = True  # a streamed body httpx could not size: sent whole with its length
            continue
        lines.append(b"%s: %s\r\n" % (name, value))
    if chunked:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    return b"".join(lines), body


def _json_bytes(value: Any) -> bytes:
    """JSON as httpx encodes a ``json=`` body."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _direct_head(
    method: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    body: bytes | None,
    content_type: bytes | None,
) -> bytes:
    """The head httpx would build for this request, in its order: Host (and, for a POST, PUT or
    PATCH without a body, ``Content-Length: 0``), the caller's headers, then the body's length
    and type."""
    lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode("ascii"), url.raw_path, url.netloc)]
    if body is None and method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: 0\r\n")
    for name, value in headers.items():
        lines.append(b"%s: %s\r\n" % (name.encode("ascii"), value.encode("ascii")))  # as httpx
    if body is not None:
        lines.append(b"Content-Length: %d\r\n" % len(body))
        if content_type is not None:
            lines.append(b"Content-Type: %s\r\n" % content_type)
    lines.append(b"\r\n")
    return b"".join(lines)


def _status_line(line: bytes, request: httpx.Request | None) -> tuple[bytes, int, bytes]:
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code, _, reason = rest.partition(b" ")
    if (
        len(line) > MAX_LINE
        or version not in (b"HTTP/1.1", b"HTTP/1.0")
        or len(code) != 3
        or not code.isdigit()
    ):
        raise httpx.RemoteProtocolError(
            f"not an HTTP/1.x status line: {line[:80]!r}", request=request
        )
    return version, int(code), reason


def _header_lines(
    reader: io.BufferedReader, request: httpx.Request | None
) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line or len(line) > MAX_LINE or len(headers) >= MAX_HEADERS:
            raise httpx.RemoteProtocolError("a malformed or oversized answer head", request=request)
        if line[:1] in (b" ", b"\t") and headers:  # an obsolete folded line continues the last
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpx.RemoteProtocolError(
                f"a malformed header line: {line[:80]!r}", request=request
            )
        headers.append((name, value.strip()))


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[str]:
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }


# A body's framing: None (no body), an int (Content-Length), "chunked" or "close" (to the end).
_Framing = int | str | None


def _framing(
    method: str, status: int, headers: list[tuple[bytes, bytes]], request: httpx.Request | None
) -> _Framing:
    """How the body is delimited (RFC 9112 §6.3)."""
    if method == "HEAD" or status < 200 or status in (204, 304):
        return None
    codings = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    if codings:
        last = b",".join(codings).split(b",")[-1].strip().lower()
        return "chunked" if last == b"chunked" else "close"
    lengths = {v for n, v in headers if n.lower() == b"content-length"}
    if not lengths:
        return "close"
    length = lengths.pop()
    if lengths or not length.isdigit():  # several different values, or not a number
        raise httpx.RemoteProtocolError("an invalid Content-Length", request=request)
    return int(length)


class _Body(httpx.SyncByteStream):
    """A response's raw bytes as they arrive; its connection goes back to the pool once the
    body is read to its end, and is closed if the body is left unread (never drained)."""

    def __init__(
        self,
        transport: OriginTransport,
        connection: _Connection,
        framing: _Framing,
        reusable: bool,
        request: httpx.Request | None,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._framing = framing
        self._reusable = reusable and framing != "close"
        self._request = request
        if framing is None or framing == 0:
            self._finish()

    def __iter__(self) -> Iterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        reader = connection.reader
        with _reading(self._request):
            if self._framing == "chunked":
                yield from self._chunks(reader)
            elif self._framing == "close":
                while chunk := reader.read1(READ_SIZE):
                    yield chunk
            else:
                assert isinstance(self._framing, int)
                yield from self._exactly(reader, self._framing)
        self._finish()

    def _exactly(self, reader: io.BufferedReader, length: int) -> Iterator[bytes]:
        left = length
        while left:
            chunk = reader.read1(min(left, READ_SIZE))
            if not chunk:
                raise httpx.RemoteProtocolError(
                    f"the body ended after {length - left} of {length} bytes",
                    request=self._request,
                )
            left -= len(chunk)
            yield chunk

    def _chunks(self, reader: io.BufferedReader) -> Iterator[bytes]:
        while True:
            line = reader.readline(MAX_LINE + 1)
            size_text = line.split(b";", 1)[0].strip()
            if (
                not line.endswith(b"\n")
                or not size_text
                or size_text.strip(b"0123456789abcdefABCDEF")
            ):
                raise httpx.RemoteProtocolError("a malformed chunk", request=self._request)
            size = int(size_text, 16)
            if size == 0:
                _header_lines(reader, self._request)  # trailers, not used
                return
            yield from self._exactly(reader, size)
            if reader.readline(3) not in (b"\r\n", b"\n"):
                raise httpx.RemoteProtocolError(
                    "a chunk without its line end", request=self._request
                )

    def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._reusable:
            self._transport._release(connection)
        else:
            connection.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:  # what is left unread is not drained: the connection goes
            connection.close()


@contextmanager
def _reading(request: httpx.Request | None) -> Iterator[None]:
    """A failed or timed-out read as the httpx exception the providers map to platform errors."""
    try:
        yield
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"reading the answer timed out: {exc}", request=request) from exc
    except OSError as exc:  # a reset connection, a TLS failure
        raise httpx.ReadError(f"reading the answer failed: {exc}", request=request) from exc


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
    if isinstance(transport, OriginTransport) and _writes_directly(headers, body):
        return transport.send_direct(method, url, headers, **body)
    request = httpx.Request(method, url, headers=headers, **body)
    response = transport.handle_request(request)
    response.request = request
    return response


_FRAMING_NAMES = frozenset({"host", "content-length", "transfer-encoding"})


def _writes_directly(headers: Mapping[str, str], body: Mapping[str, Any]) -> bool:
    """A request ``send_direct`` writes as httpx would: framing left to it, and no body,
    ``json``, or ``content`` bytes."""
    if any(name.lower() in _FRAMING_NAMES for name in headers):
        return False
    if not body:
        return True
    if len(body) > 1:
        return False
    ((name, value),) = body.items()
    return name == "json" or (name == "content" and isinstance(value, bytes))
