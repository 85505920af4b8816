"""Fixtures for the provider adapter tests: fake upstreams on loopback, configs, secret checks.

Each fake provider is started once per session (``LoopbackServer``) and stopped at the end; the
function-scoped fixtures reset its recorded requests and fault switch before every test. Every
test in this directory also runs under ``no_secret_in_logs``: logging is captured at DEBUG and
no API key may appear in any record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from api.engines.circuit import CircuitStore, MemoryCircuitStore, RedisCircuitStore
from api.engines.providers.common import ProviderHttp
from tests.conftest import LIMITERS, TEST_REDIS_URL
from tests.providers.fake_dashscope import create_dashscope_app
from tests.providers.fake_fish import create_fish_app
from tests.providers.fake_openai import create_openai_app
from tests.providers.fake_upstream import FakeState, LoopbackServer
from tests.providers.support import FISH_KEY, OPERATOR_KEY, SECRETS, USER_KEY


def _serve(app_factory: Callable[[FakeState], object], keys: set[str]) -> Iterator[FakeState]:
    state = FakeState(valid_keys=frozenset(keys))
    server = LoopbackServer(app_factory(state))  # type: ignore[arg-type]
    state.base_url = server.start()
    try:
        yield state
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dashscope_server() -> Iterator[FakeState]:
    yield from _serve(create_dashscope_app, {OPERATOR_KEY, USER_KEY})


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeState]:
    yield from _serve(create_openai_app, {OPERATOR_KEY, USER_KEY})


@pytest.fixture(scope="session")
def fish_server() -> Iterator[FakeState]:
    yield from _serve(create_fish_app, {FISH_KEY, USER_KEY})


@pytest.fixture
def fake_dashscope(dashscope_server: FakeState) -> FakeState:
    dashscope_server.reset()
    return dashscope_server


@pytest.fixture
def fake_openai(openai_server: FakeState) -> FakeState:
    openai_server.reset()
    return openai_server


@pytest.fixture
def fake_fish(fish_server: FakeState) -> FakeState:
    fish_server.reset()
    return fish_server


@pytest.fixture(autouse=True)
def close_provider_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every provider HTTP client a test opened (tests build adapters freely)."""
    opened: list[ProviderHttp] = []
    original_init = ProviderHttp.__init__

    def tracking_init(self: ProviderHttp, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(ProviderHttp, "__init__", tracking_init)
    yield
    for http in opened:
        http.close()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    # In teardown ``caplog.records`` is the teardown phase only; the test ran in "call".
    records = caplog.get_records("setup") + caplog.get_records("call")
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in records
    )
    for secret in SECRETS:
        assert secret not in logged, "an API key reached the logs"


@pytest.fixture(params=LIMITERS)  # the same backends as the rate limiters: memory, Redis in CI
def circuit_store(request: pytest.FixtureRequest) -> Iterator[CircuitStore]:
    """A circuit-breaker store: in process, and in a Redis key prefix of its own when set."""
    if request.param == "memory":
        yield MemoryCircuitStore()
        return
    prefix = f"amphion-test:{uuid.uuid4().hex}:circuit:"
    yield RedisCircuitStore(TEST_REDIS_URL, prefix=prefix)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
