"""``fetch_url``: user-given URLs never reach a non-public address, and downloads stay bounded.

Everything runs against real sockets on loopback, never the internet. A canary listener sits on
the loopback ports the refused URLs name: a refusal that still dialled would show up as a
connection there. Name resolution goes through a fake resolver (``fetch.resolve_host``), and
``socket.getaddrinfo`` itself is guarded so that any lookup of a *name* elsewhere (httpx
resolving again, behind the pin's back) fails the test.

Loopback servers that must be reachable are put on ``fetch_allowed_hosts``, the operator's
escape hatch; the tests also check that the hatch opens for exactly those hosts.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from api.errors import InvalidInputError, PayloadTooLargeError, UpstreamTimeoutError
from api.http import fetch
from api.http.fetch import Fetched, fetch_url, is_public_address, parse_ipv4_like_libc
from api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- loopback servers -------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]


Handler = Callable[[socket.socket, Seen], None]


@dataclass
class LoopbackServer:
    """A real HTTP/1.1 server on a loopback socket; each connection is handled in a thread."""

    handler: Handler
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, 0), family=family)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        if self.tls is not None:
            self.tls.sni_callback = self._record_server_name
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()

    def _record_server_name(self, _sock: Any, name: str | None, _ctx: Any) -> None:
        self.server_names.append(name)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            seen = _read_request(conn)
            if seen is not None:
                self.requests.append(seen)
                self.handler(conn, seen)
        except OSError:  # the client hung up or refused our certificate
            pass
        finally:
            conn.close()


def _read_request(conn: socket.socket) -> Seen | None:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(path, headers)


def respond(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    def handler(conn: socket.socket, _seen: Seen) -> None:
        conn.sendall(_response_head(status, {"Content-Length": str(len(body)), **(headers or {})}))
        conn.sendall(body)

    return handler


def redirect_to(location: str, status: int = 302) -> Handler:
    return respond(status, headers={"Location": location})


def _response_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def _serve(handler: Handler, **kwargs: Any) -> LoopbackServer:
        server = LoopbackServer(handler, **kwargs)
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.close()


def _ipv6_loopback_works() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


@dataclass
class Canary:
    """Listeners that must never see a connection: the targets of every refused URL."""

    v4: LoopbackServer
    v6: LoopbackServer | None

    @property
    def ports(self) -> dict[str, int]:
        # Without IPv6 the [::1] rows are still refused; they just have nothing to hit.
        return {"v4": self.v4.port, "v6": self.v6.port if self.v6 else self.v4.port}

    def assert_untouched(self) -> None:
        time.sleep(0.1)  # let the accept loop notice a connection that got through
        assert self.v4.connections == 0
        assert self.v6 is None or self.v6.connections == 0


@pytest.fixture
def canary(serve: Callable[..., LoopbackServer]) -> Canary:
    silent = respond(200, b"canary reached")
    v6 = serve(silent, host="::1") if _ipv6_loopback_works() else None
    return Canary(serve(silent), v6)


# --- no DNS: a fake resolver, and a guard on the real one -------------------------------------


@dataclass
class FakeDns:
    """Stands in for ``fetch.resolve_host``; an answer may be a list or a callable making one."""

    answers: dict[str, list[str] | Callable[[], list[str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    delay: float = 0.0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        time.sleep(self.delay)
        answer = self.answers.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "not in the test resolver")
        return answer() if callable(answer) else list(answer)


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns(
        answers={
            # The localhost names are answered as a real resolver would, so those rows show
            # the name rule and the address rule each refusing them.
            "localhost": ["127.0.0.1", "::1"],
            "localhost.": ["127.0.0.1", "::1"],
            "api.localhost": ["127.0.0.1"],
            "public.example.test": ["127.0.0.1"],
            "six.example.test": ["::1"],
            "mixed.example.test": ["93.184.216.34", "127.0.0.1"],
            "metadata.example.test": ["169.254.169.254"],
            "mapped.example.test": ["::ffff:10.0.0.1"],
        }
    )
    monkeypatch.setattr(fetch, "resolve_host", fake)
    return fake


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Numeric lookups (what a pinned connection does) pass; any name fails the test."""
    real_getaddrinfo = socket.getaddrinfo
    names: list[str] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            names.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "tests never use DNS") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert names == [], f"resolved outside fetch.resolve_host: {names}"


def configure(settings: Settings, **update: Any) -> Settings:
    """Short deadlines: a test that went wrong fails fast rather than hanging."""
    return settings.model_copy(update={"fetch_timeout_seconds": 5.0, **update})


# --- the SSRF table ---------------------------------------------------------------------------

REFUSED = [
    pytest.param("http://127.0.0.1:{v4}/", id="loopback"),
    pytest.param("http://127.0.0.2:{v4}/", id="loopback-other"),
    pytest.param("http://localhost:{v4}/", id="localhost"),
    pytest.param("http://LOCALHOST.:{v4}/", id="localhost-upper-dot"),
    pytest.param("http://api.localhost:{v4}/", id="localhost-subdomain"),
    pytest.param("http://[::1]:{v6}/", id="ipv6-loopback"),
    pytest.param("http://0.0.0.0:{v4}/", id="unspecified"),
    pytest.param("http://0:{v4}/", id="unspecified-short"),
    pytest.param("http://[::]:{v6}/", id="ipv6-unspecified"),
    pytest.param("http://10.0.0.1:{v4}/", id="rfc1918-10"),
    pytest.param("http://172.16.0.1:{v4}/", id="rfc1918-172"),
    pytest.param("http://192.168.1.1:{v4}/", id="rfc1918-192"),
    pytest.param("http://100.64.0.1:{v4}/", id="cgnat"),
    pytest.param("http://169.254.169.254:{v4}/latest/meta-data/", id="metadata-aws"),
    pytest.param("http://100.100.100.200:{v4}/latest/meta-data/", id="metadata-alibaba"),
    pytest.param("http://[fd00:ec2::254]:{v6}/", id="metadata-aws-ipv6"),
    pytest.param("http://169.254.1.1:{v4}/", id="link-local"),
    pytest.param("http://[fe80::1]:{v6}/", id="ipv6-link-local"),
    pytest.param("http://[fd00::1]:{v6}/", id="unique-local"),
    pytest.param("http://[fec0::1]:{v6}/", id="site-local"),
    pytest.param("http://224.0.0.1:{v4}/", id="multicast"),
    pytest.param("http://[ff02::1]:{v6}/", id="ipv6-multicast"),
    pytest.param("http://240.0.0.1:{v4}/", id="reserved"),
    pytest.param("http://255.255.255.255:{v4}/", id="broadcast"),
    pytest.param("http://[::ffff:127.0.0.1]:{v4}/", id="ipv4-mapped-loopback"),
    pytest.param("http://[::ffff:169.254.169.254]:{v4}/", id="ipv4-mapped-metadata"),
    pytest.param("http://[64:ff9b::7f00:1]:{v6}/", id="nat64-loopback"),
    pytest.param("http://[2002:7f00:1::]:{v6}/", id="6to4-loopback"),
    pytest.param("http://2130706433:{v4}/", id="decimal"),
    pytest.param("http://0x7f000001:{v4}/", id="hex"),
    pytest.param("http://127.1:{v4}/", id="short"),
    pytest.param("http://0177.0.0.1:{v4}/", id="octal"),
    pytest.param("http://0x7f.1:{v4}/", id="hex-short"),
    pytest.param("http://127.0.0.1.:{v4}/", id="trailing-dot"),
    pytest.param("http://public.example.test:{v4}/", id="name-resolving-to-loopback"),
    pytest.param("http://six.example.test:{v6}/", id="name-resolving-to-ipv6-loopback"),
    pytest.param("http://mixed.example.test:{v4}/", id="one-public-one-loopback-answer"),
    pytest.param("http://metadata.example.test/", id="name-resolving-to-metadata"),
    pytest.param("http://mapped.example.test/", id="name-resolving-to-mapped-private"),
    pytest.param("http://nowhere.example.test:{v4}/", id="unresolvable"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("gopher://127.0.0.1:{v4}/_GET", id="gopher"),
    pytest.param("ftp://127.0.0.1:{v4}/", id="ftp"),
    pytest.param("data:audio/wav;base64,UklGRg==", id="data"),
    pytest.param("//127.0.0.1:{v4}/", id="scheme-relative"),
    pytest.param("http:///a.wav", id="no-host"),
    pytest.param("http://user:secret@127.0.0.1:{v4}/", id="userinfo"),
    pytest.param("not a url at all", id="garbage"),
]


@pytest.mark.parametrize("template", REFUSED)
async def test_refused_urls_never_connect(
    template: str, settings: Settings, canary: Canary
) -> None:
    url = template.format(**canary.ports)
    with pytest.raises(InvalidInputError) as refused:
        await fetch_url(url, configure(settings), param="file_url")

    error = refused.value
    assert (error.status, error.code, error.param) == (400, "INVALID_URL", "file_url")
    assert error.message.startswith("file_url")
    for internal in ("127.0.0.1", "::1", "169.254.169.254", "10.0.0.1"):
        if internal not in url:  # what a name resolved to is not the caller's business
            assert internal not in error.message
    canary.assert_untouched()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.example.test/",
    ],
)
async def test_metadata_stays_refused_even_if_an_allowlisted_range_covers_it(
    url: str, settings: Settings
) -> None:
    allow = ["169.254.0.0/16", "fd00::/8", "100.64.0.0/10", "metadata.example.test"]
    with pytest.raises(InvalidInputError, match="non-public"):
        await fetch_url(url, configure(settings, fetch_allowed_hosts=allow))


async def test_userinfo_is_refused_even_for_an_allowlisted_host(
    settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(200, b"audio"))
    url = f"http://user:secret@127.0.0.1:{server.port}/a.wav"
    with pytest.raises(InvalidInputError, match="user name or password") as refused:
        await fetch_url(url, configure(settings, fetch_allowed_hosts=["127.0.0.1"]))
    assert "secret" not in refused.value.message
    assert server.connections == 0


# --- redirects --------------------------------------------------------------------------------

REDIRECT_TARGETS = [
    pytest.param("http://127.0.0.1:{v4}/", id="loopback"),
    pytest.param("http://[::1]:{v6}/", id="ipv6-loopback"),
    pytest.param("http://[::ffff:127.0.0.1]:{v4}/", id="ipv4-mapped"),
    pytest.param("http://2130706433:{v4}/", id="decimal"),
    pytest.param("http://public.example.test:{v4}/", id="name-resolving-to-loopback"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata"),
    pytest.param("file:///etc/passwd", id="file"),
]


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
async def test_redirect_to_a_non_public_address_is_refused(
    target: str,
    settings: Settings,
    canary: Canary,
    dns: FakeDns,
    serve: Callable[..., LoopbackServer],
) -> None:
    # The redirector passes only because its *name* is allowlisted; the hop it points to is
    # checked like any other URL, so loopback stays refused there.
    redirector = serve(redirect_to(target.format(**canary.ports)))
    dns.answers["redirector.example.test"] = ["127.0.0.1"]
    trusted = configure(settings, fetch_allowed_hosts=["redirector.example.test"])

    with pytest.raises(InvalidInputError) as refused:
        await fetch_url(f"http://redirector.example.test:{redirector.port}/a.wav", trusted)

    assert refused.value.code == "INVALID_URL"
    assert len(redirector.requests) == 1
    canary.assert_untouched()


async def test_redirect_from_an_allowlisted_address_to_another_loopback_one_is_refused(
    settings: Settings, canary: Canary, serve: Callable[..., LoopbackServer]
) -> None:
    # All of 127.0.0.0/8 is loopback on Linux, so this binds without any set-up.
    redirector = serve(redirect_to(f"http://127.0.0.1:{canary.v4.port}/"), host="127.0.0.2")
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.2"])

    with pytest.raises(InvalidInputError, match="non-public"):
        await fetch_url(f"http://127.0.0.2:{redirector.port}/a.wav", trusted)

    assert len(redirector.requests) == 1
    canary.assert_untouched()


def redirect_chain(conn: socket.socket, seen: Seen) -> None:
    """/hop/N redirects to /hop/N-1 (alternately relative and absolute); /hop/0 is the audio."""
    n = int(seen.path.rsplit("/", 1)[1])
    if n == 0:
        respond(200, b"the audio", {"Content-Type": "audio/wav"})(conn, seen)
    elif n % 2:
        redirect_to(f"/hop/{n - 1}")(conn, seen)
    else:
        redirect_to(f"http://{seen.headers['host']}/hop/{n - 1}", 307)(conn, seen)


@pytest.fixture
def chain(
    settings: Settings, dns: FakeDns, serve: Callable[..., LoopbackServer]
) -> tuple[LoopbackServer, Settings]:
    server = serve(redirect_chain)
    dns.answers["chain.example.test"] = ["127.0.0.1"]
    return server, configure(settings, fetch_allowed_hosts=["chain.example.test"])


async def test_three_redirects_are_followed(chain: tuple[LoopbackServer, Settings]) -> None:
    server, trusted = chain
    fetched = await fetch_url(f"http://chain.example.test:{server.port}/hop/3", trusted)

    assert fetched == Fetched(
        b"the audio", "audio/wav", f"http://chain.example.test:{server.port}/hop/0"
    )
    assert [seen.path for seen in server.requests] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]
    # Every hop is pinned: the Host header is the name, never the IP dialled.
    assert {seen.headers["host"] for seen in server.requests} == {
        f"chain.example.test:{server.port}"
    }


async def test_a_fourth_redirect_is_refused(chain: tuple[LoopbackServer, Settings]) -> None:
    server, trusted = chain
    with pytest.raises(InvalidInputError, match="redirected more than 3 times"):
        await fetch_url(f"http://chain.example.test:{server.port}/hop/4", trusted)
    assert [seen.path for seen in server.requests] == ["/hop/4", "/hop/3", "/hop/2", "/hop/1"]


async def test_the_redirect_limit_is_a_setting(chain: tuple[LoopbackServer, Settings]) -> None:
    server, trusted = chain
    with pytest.raises(InvalidInputError, match="redirected more than 0 times"):
        await fetch_url(
            f"http://chain.example.test:{server.port}/hop/1",
            trusted.model_copy(update={"fetch_max_redirects": 0}),
        )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed(
    status: int, settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    target = serve(respond(200, b"moved audio"))
    redirector = serve(redirect_to(f"http://127.0.0.1:{target.port}/b.wav", status))
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    fetched = await fetch_url(f"http://127.0.0.1:{redirector.port}/a.wav", trusted)
    assert fetched.data == b"moved audio"
    assert fetched.final_url == f"http://127.0.0.1:{target.port}/b.wav"


async def test_a_redirect_without_location_is_refused(
    settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(302, b""))
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    with pytest.raises(InvalidInputError, match="HTTP 302 without a Location"):
        await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", trusted)


# --- the allowlist and pinning ----------------------------------------------------------------


@pytest.mark.parametrize(
    "allow", [["127.0.0.1"], ["127.0.0.0/8"], ["[::ffff:127.0.0.1]"], ["store.example.test"]]
)
async def test_an_allowlisted_loopback_server_is_fetched(
    allow: list[str], settings: Settings, dns: FakeDns, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(200, b"RIFF....WAVE", {"Content-Type": "audio/wav"}))
    dns.answers["store.example.test"] = ["127.0.0.1"]
    url = f"http://store.example.test:{server.port}/bucket/a.wav"

    fetched = await fetch_url(url, configure(settings, fetch_allowed_hosts=allow))

    assert fetched == Fetched(b"RIFF....WAVE", "audio/wav", url)


async def test_a_hostname_entry_trusts_that_name_only(
    settings: Settings, canary: Canary, dns: FakeDns
) -> None:
    dns.answers["store.example.test"] = ["127.0.0.1"]
    trusted = configure(settings, fetch_allowed_hosts=["store.example.test"])
    with pytest.raises(InvalidInputError, match="non-public"):
        await fetch_url(f"http://public.example.test:{canary.v4.port}/", trusted)
    with pytest.raises(InvalidInputError, match="non-public"):
        await fetch_url(f"http://127.0.0.1:{canary.v4.port}/", trusted)
    canary.assert_untouched()


async def test_the_connection_is_pinned_to_the_validated_address(
    settings: Settings, dns: FakeDns, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(200, b"pinned audio"))
    # DNS rebinding: the first answer passes the check, any later one would not. Only the
    # first is ever asked for, and nothing else resolves the name (the no_real_dns guard).
    answers = iter([["127.0.0.1"]])
    dns.answers["pinned.example.test"] = lambda: next(answers, ["10.0.0.1"])
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])

    fetched = await fetch_url(f"http://pinned.example.test:{server.port}/a.wav", trusted)

    assert fetched.data == b"pinned audio"
    assert dns.calls == ["pinned.example.test"]
    assert server.requests[0].headers["host"] == f"pinned.example.test:{server.port}"
    assert server.requests[0].path == "/a.wav"


async def test_the_next_validated_address_is_tried_when_one_refuses(
    settings: Settings, dns: FakeDns, serve: Callable[..., LoopbackServer]
) -> None:
    # The server listens on 127.0.0.1 only, so the first answer refuses the connection.
    server = serve(respond(200, b"second address"))
    dns.answers["two.example.test"] = ["127.0.0.3", "127.0.0.1"]
    trusted = configure(settings, fetch_allowed_hosts=["two.example.test"])
    fetched = await fetch_url(f"http://two.example.test:{server.port}/a.wav", trusted)
    assert fetched.data == b"second address"


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_is_a_400(settings: Settings) -> None:
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    with pytest.raises(InvalidInputError, match="connection failed") as refused:
        await fetch_url(f"http://127.0.0.1:{_unused_port()}/a.wav", trusted)
    assert refused.value.code == "INVALID_URL"


# --- TLS: SNI and certificate checked for the name, while dialling the IP ---------------------


@dataclass
class Certificates:
    ca_pem: bytes
    cert_file: Path
    key_file: Path


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    """A throwaway CA and a certificate for pinned.example.test only (no IP in it)."""

    now = datetime.now(UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def builder(subject: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("fetch test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("fetch test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        builder("pinned.example.test", leaf_key)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("pinned.example.test")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificates(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


@pytest.fixture
def tls_server(
    certificates: Certificates,
    serve: Callable[..., LoopbackServer],
    dns: FakeDns,
    monkeypatch: pytest.MonkeyPatch,
) -> LoopbackServer:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificates.cert_file, certificates.key_file)
    client_context = ssl.create_default_context(cadata=certificates.ca_pem.decode())
    monkeypatch.setattr(fetch, "tls_context", lambda: client_context)
    dns.answers["pinned.example.test"] = ["127.0.0.1"]
    dns.answers["other.example.test"] = ["127.0.0.1"]
    return serve(respond(200, b"tls audio"), tls=server_context)


async def test_https_is_pinned_with_sni_and_certificate_for_the_hostname(
    settings: Settings, tls_server: LoopbackServer
) -> None:
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    url = f"https://pinned.example.test:{tls_server.port}/a.wav"

    fetched = await fetch_url(url, trusted)

    # The certificate names no IP, so verification passing means it was checked for the name.
    assert fetched.data == b"tls audio"
    assert tls_server.server_names == ["pinned.example.test"]
    assert tls_server.requests[0].headers["host"] == f"pinned.example.test:{tls_server.port}"


async def test_https_with_a_certificate_for_another_name_is_refused(
    settings: Settings, tls_server: LoopbackServer
) -> None:
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    with pytest.raises(InvalidInputError, match="connection failed"):
        await fetch_url(f"https://other.example.test:{tls_server.port}/a.wav", trusted)
    assert tls_server.requests == []


# --- size cap ---------------------------------------------------------------------------------


async def test_an_announced_content_length_over_the_cap_is_refused_before_reading(
    settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    def announce_then_stall(conn: socket.socket, _seen: Seen) -> None:
        conn.sendall(_response_head(200, {"Content-Length": str(10_000_000)}))
        time.sleep(3)  # a reader that waited for the body would take this long

    server = serve(announce_then_stall)
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"], fetch_max_bytes=1_000_000)
    started = time.monotonic()
    with pytest.raises(PayloadTooLargeError) as refused:
        await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", trusted)
    assert time.monotonic() - started < 2
    assert (refused.value.status, refused.value.param) == (413, "audio_url")


@dataclass
class EndlessChunks:
    """A chunked response with no Content-Length that would go on for 50 MB."""

    sent: int = 0
    dropped: threading.Event = field(default_factory=threading.Event)

    def __call__(self, conn: socket.socket, _seen: Seen) -> None:
        conn.sendall(_response_head(200, {"Transfer-Encoding": "chunked"}))
        chunk = b"\0" * 16_384
        try:
            while self.sent < 50_000_000:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.sent += len(chunk)
        except OSError:
            self.dropped.set()


@pytest.mark.parametrize("cap_from", ["setting", "argument"])
async def test_a_streamed_body_over_the_cap_is_cut_off(
    cap_from: str, settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    body = EndlessChunks()
    server = serve(body)
    cap = 100_000
    if cap_from == "setting":
        trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"], fetch_max_bytes=cap)
        call: dict[str, Any] = {}
    else:
        trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
        call = {"max_bytes": cap}

    with pytest.raises(PayloadTooLargeError, match=f"larger than {cap} bytes"):
        await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", trusted, **call)

    # The connection was dropped: the server's writes failed long before 50 MB.
    assert body.dropped.wait(5)
    assert body.sent < 50_000_000


async def test_a_body_exactly_at_the_cap_is_accepted(
    settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(200, b"x" * 1000))
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    url = f"http://127.0.0.1:{server.port}/a.wav"
    assert len((await fetch_url(url, trusted, max_bytes=1000)).data) == 1000
    with pytest.raises(PayloadTooLargeError):
        await fetch_url(url, trusted, max_bytes=999)


# --- deadline ---------------------------------------------------------------------------------


def trickle(conn: socket.socket, _seen: Seen) -> None:
    """One byte every 50 ms: no single read is slow, the whole download is."""
    conn.sendall(_response_head(200, {"Content-Length": "1000"}))
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(0.05)


def never_answer(conn: socket.socket, _seen: Seen) -> None:
    time.sleep(3)


@pytest.mark.parametrize("handler", [trickle, never_answer])
async def test_the_whole_download_has_one_deadline(
    handler: Handler, settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(handler)
    hurried = configure(settings, fetch_allowed_hosts=["127.0.0.1"], fetch_timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as timed_out:
        await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", hurried)
    assert time.monotonic() - started < 2
    assert (timed_out.value.status, timed_out.value.param) == (504, "audio_url")


async def test_slow_name_resolution_counts_against_the_deadline(
    settings: Settings, dns: FakeDns
) -> None:
    dns.delay = 0.6
    dns.answers["slow.example.test"] = ["93.184.216.34"]
    with pytest.raises(UpstreamTimeoutError):
        await fetch_url(
            "http://slow.example.test/a.wav", configure(settings, fetch_timeout_seconds=0.2)
        )


# --- upstream errors --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 500])
async def test_a_non_2xx_answer_is_a_400_naming_the_status_only(
    status: int, settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    page = b"<html><title>Internal admin</title>SECRET-TOKEN-abc123</html>"
    server = serve(respond(status, page, {"Content-Type": "text/html"}))
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])

    with pytest.raises(InvalidInputError) as refused:
        await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", trusted, param="file_url")

    error = refused.value
    assert (error.status, error.code, error.param) == (400, "INVALID_URL", "file_url")
    assert f"HTTP {status}" in error.message
    assert "SECRET" not in error.message and "admin" not in error.message


async def test_a_missing_content_type_is_empty(
    settings: Settings, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve(respond(200, b"audio"))
    trusted = configure(settings, fetch_allowed_hosts=["127.0.0.1"])
    fetched = await fetch_url(f"http://127.0.0.1:{server.port}/a.wav", trusted)
    assert fetched.content_type == ""


# --- the rules themselves ---------------------------------------------------------------------

PUBLIC = [
    "8.8.8.8",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]
NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "172.31.255.255",
    "192.168.0.1",
    "100.64.0.1",
    "100.127.255.255",
    "169.254.169.254",
    "100.100.100.200",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a00:1",
    "2002:a00:1::",
    "2001:db8::1",
    "2001::1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "text",
    ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7F.0.0.01", "0", "1.2.65535"]
    + ["4294967295", "4294967296", "256.1", "08", "0x", "1..2", "1.2.3.4.5", "-1", "a.b"],
)
def test_numeric_hosts_are_read_like_inet_aton(text: str) -> None:
    try:
        expected: str | None = socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        expected = None
    parsed = parse_ipv4_like_libc(text)
    assert (str(parsed) if parsed else None) == expected


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPHION_FETCH_ALLOWED_HOSTS", '["minio.internal", "10.0.0.0/8"]')
    monkeypatch.setenv("AMPHION_FETCH_MAX_BYTES", "1000")
    loaded = Settings(environment="test", secret_key="test-secret-key-that-is-long-enough")
    assert loaded.fetch_allowed_hosts == ["minio.internal", "10.0.0.0/8"]
    assert loaded.fetch_max_bytes == 1000
    assert (loaded.fetch_timeout_seconds, loaded.fetch_max_redirects) == (30, 3)
