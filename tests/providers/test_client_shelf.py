"""``ClientShelf``: a client per call in flight, reused last-in first-out, closed once."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest

from api.engines.providers.clients import ClientShelf


def _shelf(made: list[httpx.Client], tls_seen: list[ssl.SSLContext]) -> ClientShelf:
    def make(tls: ssl.SSLContext) -> httpx.Client:
        tls_seen.append(tls)
        client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
        made.append(client)
        return client

    return ClientShelf(make)


def test_calls_at_once_get_clients_of_their_own_and_later_calls_reuse_them() -> None:
    made: list[httpx.Client] = []
    tls_seen: list[ssl.SSLContext] = []
    shelf = _shelf(made, tls_seen)
    inside = threading.Barrier(3)
    used: list[int] = []

    def call() -> None:
        with shelf.client() as client:
            used.append(id(client))
            inside.wait(timeout=5)  # all three hold a client at the same moment

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(used)) == 3 and shelf.size == 3
    # One TLS context for all of them (building one costs about 20 ms).
    assert len({id(tls) for tls in tls_seen}) == 1

    with shelf.client() as first:
        pass
    with shelf.client() as again:
        assert again is first  # the last one returned goes out first: its connection is warm
        assert again.get("http://provider.test/x").status_code == 204
    assert shelf.size == 3  # nothing new was made


def test_close_closes_idle_clients_now_and_busy_ones_when_returned() -> None:
    made: list[httpx.Client] = []
    shelf = _shelf(made, [])
    with shelf.client():
        pass
    with shelf.client() as busy:
        with shelf.client():
            pass
        shelf.close()
        assert not busy.is_closed
    assert all(client.is_closed for client in made)
    with pytest.raises(RuntimeError), shelf.client():
        pass
