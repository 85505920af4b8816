"""``OriginTransport``: kept-alive connections to one origin, bodies as they arrive, urllib3's
failures as httpx's. The provider is a raw socket server on loopback, so every byte on the wire
is the test's own."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from api.engines.providers.clients import OriginTransport, send

Handler = Callable[[socket.socket, bytes], None]
TIMEOUT = httpx.Timeout(5.0)


def _read_request(conn: socket.socket) -> bytes:
    """The request's head and its Content-Length body (enough for these tests)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return b""
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


class RawServer:
    """Accepts connections on loopback and answers each request with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.peers: list[int] = []  # the client port of each connection accepted
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def origin(self) -> httpx.URL:
        return httpx.URL(f"http://127.0.0.1:{self.port}/")

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return
            self.peers.append(peer[1])
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # a client may drop its connection
            while request := _read_request(conn):
                self.requests.append(request)
                self.handler(conn, request)

    def close(self) -> None:
        self.listener.close()


@contextmanager
def serving(handler: Handler) -> Iterator[RawServer]:
    server = RawServer(handler)
    try:
        yield server
    finally:
        server.close()


def ok(body: bytes = b"hello", extra: bytes = b"") -> Handler:
    def answer(conn: socket.socket, _request: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra)
        conn.sendall(head + body)

    return answer


def get(transport: OriginTransport, server: RawServer, path: str = "/x") -> httpx.Response:
    response = send(transport, "GET", server.origin.join(path), headers={})
    response.read()
    response.close()
    return response


def test_one_connection_serves_calls_one_after_another() -> None:
    with serving(ok()) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        for _ in range(3):
            assert get(transport, server).content == b"hello"
        assert len(server.peers) == 1
        transport.close()


def test_calls_at_once_get_connections_of_their_own_which_later_calls_reuse() -> None:
    inside = threading.Barrier(3)

    def answer(conn: socket.socket, request: bytes) -> None:
        if b"/together" in request:
            inside.wait(timeout=5)  # all three are in flight at the same moment
        ok()(conn, request)

    with serving(answer) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        threads = [
            threading.Thread(target=get, args=(transport, server, "/together")) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(server.peers) == 3
        get(transport, server, "/later")
        get(transport, server, "/later")
        assert len(server.peers) == 3  # nothing new was opened
        transport.close()


def test_body_pieces_come_as_they_arrive() -> None:
    release = threading.Event()

    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        release.wait(timeout=5)
        conn.sendall(b"6\r\nsecond\r\n0\r\n\r\n")

    with serving(answer) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        response = send(transport, "GET", server.origin.join("/s"), headers={})
        pieces = response.iter_bytes()
        assert next(pieces) == b"first"  # before the server sent the rest
        release.set()
        assert b"".join(pieces) == b"second"
        response.close()
        transport.close()


def test_the_request_goes_out_as_httpx_built_it() -> None:
    with serving(ok()) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        response = send(
            transport,
            "POST",
            server.origin.join("/v1/audio/speech?x=1"),
            headers={"Authorization": "Bearer k"},
            json={"input": "hi"},
        )
        response.read()
        response.close()
        head, _, body = server.requests[0].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /v1/audio/speech?x=1 HTTP/1.1"
        assert b"Authorization: Bearer k" in lines
        assert b"Content-Type: application/json" in lines
        assert body == b'{"input":"hi"}'
        transport.close()


def test_a_compressed_body_comes_back_raw_for_httpx_to_decode() -> None:
    packed = gzip.compress(b"x" * 1000)
    with serving(ok(packed, b"Content-Encoding: gzip\r\n")) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        response = send(transport, "GET", server.origin.join("/z"), headers={})
        assert b"".join(response.iter_raw()) == packed
        response.close()
        assert get(transport, server).content == b"x" * 1000
        transport.close()


def test_a_body_left_unread_drops_its_connection_rather_than_reading_it() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000)

    with serving(answer) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        response = send(transport, "GET", server.origin.join("/big"), headers={})
        next(response.iter_bytes())
        response.close()
        get(transport, server)
        assert len(server.peers) == 2
        transport.close()


def test_only_its_own_origin() -> None:
    with serving(ok()) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        with pytest.raises(ValueError):
            send(transport, "GET", httpx.URL("http://elsewhere.test/x"), headers={})
        transport.close()


def test_a_refused_connection_is_a_connect_error() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    transport = OriginTransport(httpx.URL(f"http://127.0.0.1:{port}/"), TIMEOUT)
    with pytest.raises(httpx.ConnectError):
        send(transport, "GET", httpx.URL(f"http://127.0.0.1:{port}/x"), headers={})


def test_a_silent_server_is_a_read_timeout() -> None:
    def silent(_conn: socket.socket, _request: bytes) -> None:
        threading.Event().wait(2)

    with serving(silent) as server:
        transport = OriginTransport(server.origin, httpx.Timeout(5.0, read=0.2))
        with pytest.raises(httpx.ReadTimeout):
            send(transport, "GET", server.origin.join("/x"), headers={})
        transport.close()


def test_a_body_that_stops_short_is_a_protocol_error() -> None:
    def short(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        conn.shutdown(socket.SHUT_RDWR)

    with serving(short) as server:
        transport = OriginTransport(server.origin, TIMEOUT)
        response = send(transport, "GET", server.origin.join("/x"), headers={})
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
        response.close()
        transport.close()


def test_a_server_that_does_not_read_is_a_write_timeout() -> None:
    stuck = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never reads
    port = stuck.getsockname()[1]
    origin = httpx.URL(f"http://127.0.0.1:{port}/")
    transport = OriginTransport(origin, httpx.Timeout(5.0, write=0.2))
    try:
        with pytest.raises(httpx.WriteTimeout):
            send(transport, "POST", origin.join("/x"), headers={}, content=b"a" * 50_000_000)
    finally:
        stuck.close()
        transport.close()
