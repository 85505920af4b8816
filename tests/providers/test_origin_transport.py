"""``OriginTransport``: kept-alive connections to one origin, bodies as they arrive in each of
HTTP/1.1's framings, failures as httpx's. The provider is a raw socket server on loopback
(plain or TLS), so every byte on the wire is the test's own."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from api.engines.providers import clients
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

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.peers: list[int] = []  # the client port of each connection accepted
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def origin(self) -> httpx.URL:
        scheme = "https" if self.tls else "http"
        return httpx.URL(f"{scheme}://127.0.0.1:{self.port}/")

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
        with contextlib.suppress(OSError):  # a handshake the client refused
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
        with conn, contextlib.suppress(OSError):  # a client may drop its connection
            while request := _read_request(conn):
                self.requests.append(request)
                self.handler(conn, request)

    def close(self) -> None:
        self.listener.close()


@contextmanager
def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[RawServer]:
    server = RawServer(handler, tls)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def connected(
    handler: Handler,
    *,
    timeout: httpx.Timeout = TIMEOUT,
    tls: ssl.SSLContext | None = None,
    trust: ssl.SSLContext | None = None,
) -> Iterator[tuple[RawServer, OriginTransport]]:
    """A server answering with ``handler`` and a transport to it (trusting ``trust``'s roots)."""
    with serving(handler, tls) as server:
        transport = OriginTransport(server.origin, timeout, tls_context=trust)
        try:
            yield server, transport
        finally:
            transport.close()


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
    with connected(ok()) as (server, transport):
        for _ in range(3):
            assert get(transport, server).content == b"hello"
        assert len(server.peers) == 1


def test_calls_at_once_get_connections_of_their_own_which_later_calls_reuse() -> None:
    inside = threading.Barrier(3)

    def answer(conn: socket.socket, request: bytes) -> None:
        if b"/together" in request:
            inside.wait(timeout=5)  # all three are in flight at the same moment
        ok()(conn, request)

    with connected(answer) as (server, transport):
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


def test_body_pieces_come_as_they_arrive() -> None:
    release = threading.Event()

    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        release.wait(timeout=5)
        conn.sendall(b"6\r\nsecond\r\n0\r\n\r\n")

    with connected(answer) as (server, transport):
        response = send(transport, "GET", server.origin.join("/s"), headers={})
        pieces = response.iter_bytes()
        assert next(pieces) == b"first"  # before the server sent the rest
        release.set()
        assert b"".join(pieces) == b"second"
        response.close()


def test_the_request_goes_out_as_httpx_built_it() -> None:
    with connected(ok()) as (server, transport):
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


def test_a_compressed_body_comes_back_raw_for_httpx_to_decode() -> None:
    packed = gzip.compress(b"x" * 1000)
    with connected(ok(packed, b"Content-Encoding: gzip\r\n")) as (server, transport):
        response = send(transport, "GET", server.origin.join("/z"), headers={})
        assert b"".join(response.iter_raw()) == packed
        response.close()
        assert get(transport, server).content == b"x" * 1000


def test_a_body_left_unread_drops_its_connection_rather_than_reading_it() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000)

    with connected(answer) as (server, transport):
        response = send(transport, "GET", server.origin.join("/big"), headers={})
        next(response.iter_bytes())
        response.close()
        get(transport, server)
        assert len(server.peers) == 2


def test_only_its_own_origin() -> None:
    with connected(ok()) as (server, transport):
        with pytest.raises(ValueError):
            send(transport, "GET", httpx.URL("http://elsewhere.test/x"), headers={})


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

    with connected(silent, timeout=httpx.Timeout(5.0, read=0.2)) as (server, transport):
        with pytest.raises(httpx.ReadTimeout):
            send(transport, "GET", server.origin.join("/x"), headers={})


def test_a_body_that_stops_short_is_a_protocol_error() -> None:
    def short(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        conn.shutdown(socket.SHUT_RDWR)

    with connected(short) as (server, transport):
        response = send(transport, "GET", server.origin.join("/x"), headers={})
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
        response.close()


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


# --- framings and keep-alive ---


def test_a_chunked_body_with_extensions_and_trailers_then_the_connection_serves_again() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;note=x\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Checksum: 1\r\n\r\n"
        )

    with connected(answer) as (server, transport):
        assert get(transport, server).content == b"abc0123456789"
        assert get(transport, server).content == b"abc0123456789"
        assert len(server.peers) == 1


def test_an_answer_that_says_close_is_not_reused() -> None:
    with connected(ok(extra=b"Connection: close\r\n")) as (server, transport):
        get(transport, server)
        get(transport, server)
        assert len(server.peers) == 2


def test_an_http_1_0_answer_without_a_length_is_read_to_the_close() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        conn.shutdown(socket.SHUT_WR)

    with connected(answer) as (server, transport):
        assert get(transport, server).content == b"all of it"
        assert get(transport, server).content == b"all of it"
        assert len(server.peers) == 2


def test_answers_without_a_body_leave_the_connection_ready() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        if request.startswith(b"HEAD"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")  # no body to HEAD
        else:
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    with connected(answer) as (server, transport):
        for method in ("HEAD", "DELETE", "HEAD"):
            response = send(transport, method, server.origin.join("/x"), headers={})
            assert response.read() == b""
            response.close()
        assert len(server.peers) == 1


def test_interim_answers_are_skipped() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n")
        ok()(conn, _request)

    with connected(answer) as (server, transport):
        response = get(transport, server)
        assert (response.status_code, response.content) == (200, b"hello")


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    def answer_once(conn: socket.socket, request: bytes) -> None:
        ok()(conn, request)
        conn.shutdown(socket.SHUT_RDWR)  # the server's keep-alive ran out

    with connected(answer_once) as (server, transport):
        get(transport, server)
        time.sleep(0.05)  # the server's close reaches the client's socket
        assert get(transport, server).content == b"hello"
        assert len(server.peers) == 2


def test_a_connection_idle_longer_than_the_keep_alive_is_not_used_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with connected(ok()) as (server, transport):
        get(transport, server)
        monkeypatch.setattr(clients, "KEEPALIVE_SECONDS", 0.0)
        time.sleep(0.01)
        get(transport, server)
        assert len(server.peers) == 2


def test_a_large_body_and_a_streamed_one_arrive_whole_with_their_length() -> None:
    with connected(ok()) as (server, transport):
        large = bytes(range(256)) * 8192  # 2 MB: sent in pieces
        send(transport, "POST", server.origin.join("/up"), headers={}, content=large).close()
        pieces = iter([b"one ", b"two"])  # httpx cannot size it: it would send it chunked
        send(transport, "POST", server.origin.join("/up"), headers={}, content=pieces).close()
        first, second = (request.partition(b"\r\n\r\n") for request in server.requests)
        assert first[2] == large and b"Content-Length: %d" % len(large) in first[0]
        assert second[2] == b"one two" and b"Content-Length: 7" in second[0]
        assert b"Transfer-Encoding" not in second[0]


# --- what is not HTTP ---


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # closed without a word
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=[
        "nothing",
        "not-http",
        "two-lengths",
        "negative-length",
        "bad-header",
        "101-headers",
        "long-line",
    ],  # fmt: skip
)
def test_an_answer_that_is_not_http_is_a_protocol_error(answer: bytes) -> None:
    def reply(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_RDWR)

    with connected(reply) as (server, transport):
        with pytest.raises(httpx.RemoteProtocolError):
            get(transport, server)


def test_a_malformed_chunk_is_a_protocol_error() -> None:
    def answer(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n")

    with connected(answer) as (server, transport):
        response = send(transport, "GET", server.origin.join("/x"), headers={})
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
        response.close()


# --- TLS ---


def _self_signed() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and its key, in PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provider.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context, a client context that trusts only its certificate)."""
    certificate, key = _self_signed()
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate)
    (folder / "key.pem").write_bytes(key)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def test_tls_calls_share_one_verified_connection(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, client_tls = tls_pair
    with connected(ok(), tls=server_tls, trust=client_tls) as (server, transport):
        for _ in range(3):
            assert get(transport, server).content == b"hello"
        assert len(server.peers) == 1


def test_a_certificate_that_does_not_verify_is_a_connect_error(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, _client_tls = tls_pair
    with connected(ok(), tls=server_tls) as (server, transport):  # certifi's roots only
        with pytest.raises(httpx.ConnectError):
            get(transport, server)


# --- requests written without httpx.Request ---


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", {"json": {"input": "héllo", "voice": {"id": "v1"}, "speed": 1.0}}),
        ("POST", {"content": b"\x00\x01raw"}),
        ("POST", {"content": b"\x81\xa4text", "headers": {"Content-Type": "application/msgpack"}}),
        ("POST", {}),
        ("GET", {}),
        ("DELETE", {}),
    ],
    ids=["json", "content", "content-typed", "post-empty", "get", "delete"],
)
def test_a_request_written_directly_is_byte_for_byte_what_httpx_builds(
    method: str, body: dict[str, object]
) -> None:
    """``send`` writes the common requests itself on an ``OriginTransport``; the provider must
    not see any difference from the same request built by ``httpx.Request``."""
    with connected(ok()) as (server, transport):
        url = server.origin.join("/v1/audio/speech?x=1")
        headers = {"User-Agent": "amphion-platform", "Authorization": "Bearer k"}
        body = dict(body)  # (the parameter is shared: not changed in place)
        headers.update(body.pop("headers", {}))  # type: ignore[arg-type]
        send(transport, method, url, headers=headers, **body).close()  # type: ignore[arg-type]
        built = httpx.Request(method, url, headers=headers, **body)  # type: ignore[arg-type]
        transport.handle_request(built).close()
        direct, through_httpx = server.requests
        assert direct == through_httpx


def test_a_streamed_body_still_goes_through_httpx() -> None:
    with connected(ok()) as (server, transport):
        files = {"file": ("a.wav", b"RIFF")}
        send(transport, "POST", server.origin.join("/up"), headers={}, files=files).close()
        assert b"multipart/form-data; boundary=" in server.requests[0]
