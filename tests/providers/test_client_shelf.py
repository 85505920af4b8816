"""``TransportShelf``: a connection per call in flight, reused last-in first-out, closed once."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest

from api.engines.providers.clients import TransportShelf, send

TIMEOUT = httpx.Timeout(5.0)


class Closable(httpx.MockTransport):
    closed = False

    def close(self) -> None:
        self.closed = True


def _shelf(made: list[Closable], tls_seen: list[ssl.SSLContext]) -> TransportShelf:
    def make(tls: ssl.SSLContext) -> httpx.BaseTransport:
        tls_seen.append(tls)
        transport = Closable(lambda _: httpx.Response(204))
        made.append(transport)
        return transport

    return TransportShelf(make)


def test_calls_at_once_get_connections_of_their_own_and_later_calls_reuse_them() -> None:
    made: list[Closable] = []
    tls_seen: list[ssl.SSLContext] = []
    shelf = _shelf(made, tls_seen)
    inside = threading.Barrier(3)
    used: list[int] = []

    def call() -> None:
        with shelf.transport() as client:
            used.append(id(client))
            inside.wait(timeout=5)  # all three hold a client at the same moment

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(used)) == 3 and len(made) == 3
    # One TLS context for all of them (building one costs about 20 ms).
    assert len({id(tls) for tls in tls_seen}) == 1

    with shelf.transport() as first:
        pass
    with shelf.transport() as again:
        assert again is first  # the last one returned goes out first: its connection is warm
        sent = send(again, "GET", httpx.URL("http://provider.test/x"), headers={}, timeout=TIMEOUT)
        assert sent.status_code == 204 and sent.request.url == "http://provider.test/x"
    assert len(made) == 3  # nothing new was made


def test_close_closes_idle_transports_now_and_busy_ones_when_returned() -> None:
    made: list[Closable] = []
    shelf = _shelf(made, [])
    with shelf.transport():
        pass
    with shelf.transport() as busy:
        with shelf.transport():
            pass
        shelf.close()
        assert not busy.closed  # type: ignore[attr-defined]
    assert all(transport.closed for transport in made)
    with pytest.raises(RuntimeError), shelf.transport():
        pass
