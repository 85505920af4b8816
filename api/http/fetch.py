"""Download a URL a caller handed us (``audio_url``, ``file_url``) without becoming an SSRF proxy.

A user-given URL makes *our* server open a connection, from inside our network. Without care that
reaches the cloud metadata service (credentials), an internal admin port, or a private object
store — the hole other API gateways shipped (one-api #2387, new-api #1636, lmdeploy #4761; see
research/reliability.md §2.3, §3.4, G32–G36). So every download here:

- accepts http(s) only, with no user name or password in the URL;
- resolves the host once and refuses it unless *every* address is public (loopback, RFC 1918,
  link-local, CGNAT, unspecified, multicast, reserved, unique-local and metadata addresses are
  not; an IPv6 address embedding an IPv4 one — mapped, NAT64, 6to4 — is judged by that IPv4);
  numeric hosts are read the way libc reads them, so ``http://2130706433`` is 127.0.0.1;
- connects to exactly the address it validated, sending the original ``Host`` header and TLS
  SNI, and verifying the certificate for the original hostname. Letting the HTTP client resolve
  the name a second time would let a DNS answer change in between (rebinding);
- follows redirects itself, validating each hop like the first, at most
  ``fetch_max_redirects`` of them;
- stops at ``fetch_max_bytes`` (announced ``Content-Length`` first, then counted while reading)
  and at one ``fetch_timeout_seconds`` deadline for the whole thing;
- never echoes the fetched body in an error.

Operators with a private object store list it in ``fetch_allowed_hosts``.

Resolution and the TLS trust store are module-level functions (``resolve_host``,
``tls_context``) so tests can substitute them without DNS or a public CA.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import ssl
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from api.errors import InvalidInputError, PayloadTooLargeError, UpstreamTimeoutError
from api.settings import Settings

__all__ = ["Fetched", "fetch_url", "is_public_address", "parse_ipv4_like_libc", "resolve_host"]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INVALID_URL = "INVALID_URL"
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A black-holed address must not eat the whole deadline before the next one is tried.
CONNECT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "amphion-platform-fetch/1"

# Cloud metadata services hand out credentials; refused even when an allowlisted CIDR covers
# them (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba Cloud).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Not covered by ``is_global`` in every Python version, so named explicitly.
EXTRA_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; Linux connects 0.0.0.0 to the local host
        "100.64.0.0/10",  # CGNAT, carrier-internal (Alibaba's metadata lives here)
        "fec0::/10",  # deprecated site-local, still routed inside some networks
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Fetched:
    """A downloaded body, with the server's ``Content-Type`` ("" if none) and the last hop's URL."""

    data: bytes
    content_type: str
    final_url: str


async def fetch_url(
    url: str, settings: Settings, *, max_bytes: int | None = None, param: str = "audio_url"
) -> Fetched:
    """GET a user-given URL safely; see the module docstring for the rules.

    Raises ``InvalidInputError`` (400, code ``INVALID_URL``) for a URL we refuse or that fails,
    ``PayloadTooLargeError`` (413) past the size cap, ``UpstreamTimeoutError`` (504) past the
    deadline. ``param`` names the field in error messages.
    """
    limit = settings.fetch_max_bytes if max_bytes is None else max_bytes
    allowlist = Allowlist.from_entries(settings.fetch_allowed_hosts)
    deadline = settings.fetch_timeout_seconds
    try:
        async with asyncio.timeout(deadline):
            return await _follow_redirects(url, settings, allowlist, limit, param)
    except TimeoutError:
        raise _timed_out(param, deadline) from None


# --- the download loop ------------------------------------------------------------------------


async def _follow_redirects(
    url: str, settings: Settings, allowlist: Allowlist, limit: int, param: str
) -> Fetched:
    target = _parse_url(url, param)
    redirects = 0
    while True:
        addresses = await _validated_addresses(target, allowlist, param)
        outcome = await _get_once(target, addresses, settings, limit, param)
        if isinstance(outcome, Fetched):
            return outcome
        if redirects >= settings.fetch_max_redirects:
            raise _refuse(param, f"{param} redirected more than {redirects} times")
        redirects += 1
        # Each hop is parsed and validated from scratch, like a URL the user typed.
        target = _parse_url(outcome, param)


async def _get_once(
    target: httpx.URL, addresses: list[IPAddress], settings: Settings, limit: int, param: str
) -> Fetched | str:
    """One GET pinned to a validated address: the body, or the next URL if it redirects."""
    # A fresh client per hop: no connection, cookie or TLS session carries over between hosts.
    async with _client(settings) as client:
        response = await _connect_pinned(client, target, addresses, param)
        try:
            return await _read_response(response, target, limit, param)
        except httpx.TimeoutException:
            raise _timed_out(param, settings.fetch_timeout_seconds) from None
        except httpx.HTTPError:
            raise _connection_failed(param) from None
        finally:
            # Unread bytes left on the wire make httpcore drop the connection rather than
            # reuse it, which is what a refused oversized body needs.
            await response.aclose()


async def _connect_pinned(
    client: httpx.AsyncClient, target: httpx.URL, addresses: list[IPAddress], param: str
) -> httpx.Response:
    """Send the request to the first validated address that accepts a connection."""
    timed_out = False
    for address in addresses:
        request = _pinned_request(client, target, address, param)
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Another address of the same host may work (an unreachable IPv6, say).
            timed_out = isinstance(exc, httpx.ConnectTimeout)
            continue
        except httpx.TimeoutException:
            raise _timed_out(param, client.timeout.read) from None
        except httpx.HTTPError:
            raise _connection_failed(param) from None
    if timed_out:
        raise _timed_out(param, client.timeout.connect)
    raise _connection_failed(param)


def _pinned_request(
    client: httpx.AsyncClient, target: httpx.URL, address: IPAddress, param: str
) -> httpx.Request:
    """A GET to ``address`` that still names ``target``'s host in ``Host`` and TLS.

    httpcore connects to the URL's host and uses the ``sni_hostname`` extension, when given,
    for both SNI and certificate verification, so the TLS check is against the name the user
    gave, not the IP we dialled.
    """
    try:
        pinned_url = target.copy_with(host=str(address))
    except httpx.InvalidURL:
        raise _refuse(param, f"{param} is not a valid URL") from None
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and _literal_address(_hostname(target)) is None:
        extensions["sni_hostname"] = _hostname(target)
    return client.build_request(
        "GET",
        pinned_url,
        headers={"Host": target.netloc.decode("ascii")},
        extensions=extensions,
    )


async def _read_response(
    response: httpx.Response, target: httpx.URL, limit: int, param: str
) -> Fetched | str:
    status = response.status_code
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise _refuse(param, f"{param} answered HTTP {status} without a Location")
        try:
            return str(target.join(location))
        except httpx.InvalidURL:
            raise _refuse(param, f"{param} redirected to an invalid URL") from None
    if not 200 <= status < 300:
        # The status only: the body may be anything, including an internal service's page.
        raise _refuse(param, f"{param} could not be downloaded (the server answered HTTP {status})")
    _check_announced_length(response, limit, param)
    data = await _read_capped(response, limit, param)
    return Fetched(
        data=data, content_type=response.headers.get("content-type", ""), final_url=str(target)
    )


def _check_announced_length(response: httpx.Response, limit: int, param: str) -> None:
    """Refuse before reading when the server already says the body is too big."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise _too_large(limit, param)


async def _read_capped(response: httpx.Response, limit: int, param: str) -> bytes:
    """The body, counted as it arrives: Content-Length may be absent (chunked) or wrong."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > limit:
            raise _too_large(limit, param)
        body += chunk
    return bytes(body)


def _client(settings: Settings) -> httpx.AsyncClient:
    total = settings.fetch_timeout_seconds
    return httpx.AsyncClient(
        verify=tls_context(),
        # Environment proxies would reach the target on our behalf, unpinned and unchecked.
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(total, connect=min(total, CONNECT_TIMEOUT_SECONDS)),
        headers={
            "User-Agent": USER_AGENT,
            # Compressed audio gains nothing from gzip, and an uncompressed count cannot be
            # inflated past the cap by a small compressed body.
            "Accept-Encoding": "identity",
        },
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust store for https downloads (what httpx uses by default); tests substitute it."""
    return ssl.create_default_context(cafile=certifi.where())


# --- URL and address validation ---------------------------------------------------------------


def _parse_url(url: str, param: str) -> httpx.URL:
    """The URL if its shape is acceptable: http(s), a host, no credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        # httpx refuses some numeric forms outright (a leading-zero octal "0177.0.0.1").
        raise _refuse(param, f"{param} is not a valid URL") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise _refuse(param, f"{param} must be an http or https URL")
    if not parsed.raw_host:
        raise _refuse(param, f"{param} has no host")
    if parsed.userinfo:
        raise _refuse(param, f"{param} must not contain a user name or password")
    return parsed


async def _validated_addresses(
    target: httpx.URL, allowlist: Allowlist, param: str
) -> list[IPAddress]:
    """Resolve the host once and return its addresses, if every one of them may be fetched."""
    host = _hostname(target)
    host_trusted = allowlist.allows_host(host)
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    elif _is_localhost_name(host) and not host_trusted:
        # RFC 6761: these never leave the machine, whatever a resolver says.
        raise _non_public(param, host)
    else:
        addresses = await _resolve(host, _port(target), param)
    for address in addresses:
        if not _may_fetch(address, host_trusted, allowlist):
            raise _non_public(param, host)
    return addresses


async def _resolve(host: str, port: int, param: str) -> list[IPAddress]:
    try:
        # getaddrinfo blocks; the thread keeps the event loop free (and the deadline working).
        answers = await asyncio.to_thread(resolve_host, host, port)
        addresses = [ipaddress.ip_address(answer) for answer in answers]
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise _refuse(param, f"{param}'s host could not be resolved")
    return addresses


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the system's preferred order; tests replace this."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _may_fetch(address: IPAddress, host_trusted: bool, allowlist: Allowlist) -> bool:
    if _is_metadata(address):
        return False
    return host_trusted or allowlist.allows_address(address) or is_public_address(address)


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable, judging an embedded IPv4 by itself."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if _is_metadata(address) or any(address in net for net in EXTRA_BLOCKED_NETWORKS):
        return False
    # is_global alone lets multicast and some reserved ranges through, hence the rest.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to this IPv6 one would really reach, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d — the kernel dials a.b.c.d
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002:aabb:ccdd:: — a 6to4 relay forwards to it
        return address.sixtofour
    if address in NAT64_PREFIX:  # 64:ff9b::a.b.c.d — a NAT64 gateway forwards to it
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_metadata(address: IPAddress) -> bool:
    return address in METADATA_ADDRESSES or _embedded_ipv4(address) in METADATA_ADDRESSES


def _hostname(target: httpx.URL) -> str:
    """The host as sent on the wire (IDNA ASCII, no IPv6 brackets), lowercase."""
    return target.raw_host.decode("ascii").lower()


def _port(target: httpx.URL) -> int:
    return target.port or DEFAULT_PORTS[target.scheme]


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _literal_address(host: str) -> IPAddress | None:
    """The address a numeric host means, as the resolver would read it; None for a name."""
    # A single trailing dot is still the same host to a resolver ("127.0.0.1." too).
    name = host[:-1] if host.endswith(".") else host
    if ":" in name:
        try:
            # A zone id arrives percent-encoded ("fe80::1%25eth0").
            return ipaddress.IPv6Address(urllib.parse.unquote(name))
        except ValueError:
            return None
    return parse_ipv4_like_libc(name)


def parse_ipv4_like_libc(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``inet_aton`` reads from ``text``, or None if it is not one.

    getaddrinfo hands numeric hosts to inet_aton, which takes one to four parts, each decimal,
    octal (leading 0) or hex (0x), the last part filling the remaining bytes: "127.1",
    "2130706433", "0x7f000001" and "0177.0.0.1" all mean 127.0.0.1. Reading them the same way
    means the address we check is the address we dial.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_ipv4_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [v for v in values if v is not None]
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _ipv4_part(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits, base, allowed = part[2:], 16, "0123456789abcdef"
    elif len(part) > 1 and part.startswith("0"):
        digits, base, allowed = part[1:], 8, "01234567"
    else:
        digits, base, allowed = part, 10, "0123456789"
    if not digits or not all(ch in allowed for ch in digits.lower()):
        return None  # an empty part, a bare "0x", an 8 in octal: inet_aton refuses them too
    return int(digits, base)


@dataclass(frozen=True)
class Allowlist:
    """``fetch_allowed_hosts``: names trusted whatever they resolve to, and trusted networks."""

    hostnames: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> Allowlist:
        hostnames: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower().strip("[]")
            if not text:
                continue
            try:
                networks.append(_allowed_network(text))
            except ValueError:
                hostnames.add(text.rstrip("."))
        return cls(frozenset(hostnames), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.rstrip(".") in self.hostnames

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address, _embedded_ipv4(address)]
        return any(a is not None and a in net for a in candidates for net in self.networks)


def _allowed_network(text: str) -> IPNetwork:
    """An allowlist IP or CIDR; an IPv4-mapped entry means the IPv4 range it maps."""
    network = ipaddress.ip_network(text, strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


# --- errors -----------------------------------------------------------------------------------


def _refuse(param: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, code=INVALID_URL, param=param)


def _non_public(param: str, host: str) -> InvalidInputError:
    # The caller learns only that it was refused, not what the name resolved to inside our
    # network; the operator gets the host (never the full URL: it may carry a signed token).
    logger.info("refused to fetch %s for %s: non-public address", host, param)
    return _refuse(param, f"{param} points to a non-public address")


def _too_large(limit: int, param: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{param} is larger than {limit} bytes", param=param)


def _connection_failed(param: str) -> InvalidInputError:
    # The transport's own message can name the address we dialled; it stays out of the answer.
    return _refuse(param, f"{param} could not be downloaded (the connection failed)")


def _timed_out(param: str, seconds: float | None) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(
        f"{param} could not be downloaded within {seconds or 0:g} s", param=param
    )
