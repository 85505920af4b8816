"""The provider circuit breaker: its state machine on an injected clock, and the whole path
through the HTTP API against the fake OpenAI-compatible server answering 500s: after the
threshold a fast 503 with Retry-After that never reaches the provider and never holds credit,
then a trial after the cool-down, and normal service once the provider is back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.billing.models import HOLD_HELD, Hold
from api.db import Database
from api.engines.circuit import (
    BreakerPolicy,
    CircuitBoard,
    CircuitBreaker,
    CircuitGuardedEngine,
    CircuitOpenError,
    CircuitStore,
    MemoryCircuitStore,
    RedisCircuitStore,
    circuit_board,
    is_failure,
)
from api.engines.health import ModelHealth, catalog_health
from api.engines.providers import ProviderError, ProviderKeyRejectedError
from api.errors import InvalidInputError, UpstreamTimeoutError
from api.http.app import create_api
from api.http.context import AppContext
from api.settings import Settings
from api.speech.runtime import use_speech_context
from tests.helpers import PASSWORD
from tests.http.conftest import context  # noqa: F401  (fixture)
from tests.providers.fake_upstream import FakeState
from tests.providers.support import OPERATOR_KEY, FakeClock
from tests.providers.test_provider_routing import context_for

THRESHOLD = 3
OPEN_SECONDS = 30.0


def server_error() -> ProviderError:
    return ProviderError("openai failed (HTTP 500)", provider="openai", upstream_status=500)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(circuit_store: CircuitStore) -> CircuitStore:
    return circuit_store


@pytest.fixture
def breaker(clock: FakeClock, store: CircuitStore) -> CircuitBreaker:
    return CircuitBreaker("openai", BreakerPolicy(THRESHOLD, OPEN_SECONDS), clock, store)


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD):
        breaker.admit()
        breaker.record(server_error())


# --- the state machine -------------------------------------------------------------------------


def test_consecutive_failures_open_the_circuit_and_it_refuses_with_the_time_left(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.admit()
        breaker.record(server_error())
    assert breaker.state == "closed"
    breaker.admit()
    breaker.record(UpstreamTimeoutError("openai did not answer in time"))
    assert breaker.state == "open"
    clock.advance(10.2)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert (refused.value.status, refused.value.code) == (503, "UPSTREAM_ERROR")
    assert refused.value.retry_after == 20  # whole seconds, rounded up
    with pytest.raises(CircuitOpenError):
        breaker.check()


def test_a_success_resets_the_count_of_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record(server_error())
    breaker.record(None)
    for _ in range(THRESHOLD - 1):
        breaker.record(server_error())
    assert breaker.snapshot().state == "closed"
    assert breaker.snapshot().consecutive_failures == THRESHOLD - 1


def test_after_the_cool_down_one_trial_goes_through_and_its_success_closes_the_circuit(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(OPEN_SECONDS)
    assert breaker.state == "half_open"
    breaker.check()  # a lookup is not refused, and claims nothing
    breaker.admit()  # the trial
    with pytest.raises(CircuitOpenError) as waiting:
        breaker.admit()  # everyone else waits for the trial's verdict
    assert waiting.value.retry_after == 1
    breaker.record(None)
    assert breaker.state == "closed"
    breaker.admit()


def test_a_failed_trial_opens_the_circuit_for_another_round(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(OPEN_SECONDS)
    breaker.admit()
    breaker.record(server_error())
    assert breaker.state == "open"
    assert breaker.snapshot().retry_after == OPEN_SECONDS
    clock.advance(OPEN_SECONDS)
    assert breaker.state == "half_open"


def test_a_trial_without_a_verdict_does_not_keep_the_circuit_shut(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(OPEN_SECONDS)
    breaker.admit()
    breaker.record(InvalidInputError("too long"))  # never reached the provider: no verdict
    breaker.admit()  # the next request is the trial
    clock.advance(OPEN_SECONDS)  # …and it never reports back at all
    breaker.admit()
    breaker.record(None)
    assert breaker.state == "closed"


def test_only_signs_of_an_unwell_provider_count_as_failures() -> None:
    assert is_failure(server_error())
    assert is_failure(ProviderError("could not connect to openai", provider="openai"))
    assert is_failure(UpstreamTimeoutError("openai did not answer in time"))
    assert not is_failure(
        ProviderError("rate limited (HTTP 429)", provider="openai", upstream_status=429)
    )
    assert not is_failure(
        ProviderKeyRejectedError("rejected", provider="openai", upstream_status=401)
    )
    assert not is_failure(InvalidInputError("too long"))


def test_a_rejected_user_key_counts_as_the_provider_answering(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record(server_error())
    breaker.record(ProviderKeyRejectedError("rejected", provider="openai", upstream_status=401))
    breaker.record(server_error())
    assert breaker.state == "closed"


@dataclass
class ScriptedStream:
    """An adapter whose stream yields one chunk and then fails with ``error`` (if any)."""

    error: Exception | None = None
    name: str = "scripted"
    calls: int = 0

    def stream(self, request: object) -> Iterator[bytes]:
        self.calls += 1
        yield b"chunk"
        if self.error is not None:
            raise self.error


def test_a_stream_is_judged_when_it_ends_and_an_early_stop_is_no_verdict(
    breaker: CircuitBreaker,
) -> None:
    failing = CircuitGuardedEngine(ScriptedStream(server_error()), breaker)
    assert failing.name == "scripted"  # the adapter's own attributes show through
    for _ in range(THRESHOLD):
        with pytest.raises(ProviderError):
            list(failing.stream(None))
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        failing.stream(None)  # refused at the call, before any chunk is asked for
    assert failing.calls == THRESHOLD

    fresh = CircuitBreaker("fish", BreakerPolicy(1, OPEN_SECONDS), store=MemoryCircuitStore())
    stopped = CircuitGuardedEngine(ScriptedStream(server_error()), fresh)
    chunks = stopped.stream(None)
    next(chunks)
    chunks.close()  # the consumer went away before the failure
    assert fresh.state == "closed"


def test_the_board_keeps_one_breaker_per_provider(clock: FakeClock, store: CircuitStore) -> None:
    board = CircuitBoard(BreakerPolicy(1, OPEN_SECONDS), clock, store)
    board.breaker("openai").record(server_error())
    assert board.breaker("openai") is board.breaker("openai")
    assert board.snapshot("openai").state == "open"
    assert board.snapshot("fish").state == "closed"  # never used: closed, nothing made


def test_workers_sharing_a_store_see_one_circuit(clock: FakeClock, store: CircuitStore) -> None:
    """Two boards over one store stand for two workers over one Redis: one worker's failures
    open the circuit for both, and one trial speaks for both."""
    first, second = (
        CircuitBoard(BreakerPolicy(THRESHOLD, OPEN_SECONDS), clock, store) for _ in "ab"
    )
    trip(first.breaker("openai"))
    with pytest.raises(CircuitOpenError):
        second.breaker("openai").check()
    clock.advance(OPEN_SECONDS)
    first.breaker("openai").admit()  # the trial
    with pytest.raises(CircuitOpenError):
        second.breaker("openai").admit()
    first.breaker("openai").record(None)
    second.breaker("openai").admit()
    assert second.snapshot("openai").state == "closed"


def test_an_unreachable_redis_lets_calls_through() -> None:
    unreachable = RedisCircuitStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    breaker = CircuitBreaker("openai", BreakerPolicy(1, OPEN_SECONDS), store=unreachable)
    breaker.admit()
    breaker.record(server_error())
    breaker.admit()  # the failure could not be recorded, so nothing is refused
    assert breaker.state == "closed"


# --- through the HTTP API ----------------------------------------------------------------------


@dataclass
class Gateway:
    client: TestClient
    settings: Settings
    db: Database
    clock: FakeClock
    headers: dict[str, str]
    session: dict[str, str]


@pytest.fixture
def gateway(
    context: AppContext,  # noqa: F811
    fake_openai: FakeState,
    clock: FakeClock,
    store: CircuitStore,
) -> Iterator[Gateway]:
    """The API with tts-1 routed to the fake OpenAI server, a 3-failure circuit on a test clock
    (in memory, or in Redis as several workers would share it), and a user with an API key."""
    settings = context.settings.model_copy(
        update={
            "providers": {
                "openai": {
                    "base_url": fake_openai.base_url + "/v1",
                    "api_key": OPERATOR_KEY,
                    "total_timeout": 5.0,
                    "read_timeout": 1.0,
                }
            },
            "circuit_failure_threshold": THRESHOLD,
            "circuit_open_seconds": OPEN_SECONDS,
        }
    )
    board = circuit_board(settings)
    board.clock, board.store = clock, store  # before the first request makes a breaker
    app_context = AppContext(settings=settings, db=context.db, limiter=context.limiter)
    use_speech_context(context_for(settings, context.db))
    try:
        with TestClient(create_api(app_context), raise_server_exceptions=False) as client:
            signed_up = client.post(
                "/api/auth/signup",
                json={"email": "circuit@example.com", "password": PASSWORD},
            )
            assert signed_up.status_code == 200, signed_up.text
            client.cookies.clear()
            session = {"Authorization": f"Bearer {signed_up.json()['data']['token']}"}
            made = client.post("/api/keys", headers=session, json={"name": "circuit"})
            assert made.status_code == 200, made.text
            headers = {"Authorization": f"Bearer {made.json()['data']['key']}"}
            yield Gateway(client, settings, context.db, clock, headers, session)
    finally:
        use_speech_context(None)


def speak(gateway: Gateway, dialect: str = "openai", *, stream: bool = False) -> Any:
    """Ask for tts-1 through the OpenAI door or seed 001's envelope door (whole or streamed)."""
    if dialect == "openai":
        path, body = "/v1/audio/speech", {"model": "tts-1", "input": "Hello.", "voice": "alloy"}
    else:
        path = "/api/audio/tts/synthesize"
        body = {"model": "tts-1", "text": "Hello.", "voice": "alloy", "stream": stream}
    return gateway.client.post(path, headers=gateway.headers, json=body)


def money(gateway: Gateway) -> tuple[str, int]:
    """The caller's balance and the number of holds still open on the platform."""
    account = gateway.client.get("/api/account", headers=gateway.session)
    assert account.status_code == 200, account.text
    with gateway.db.read() as session:
        held = session.execute(
            select(func.count()).select_from(Hold).where(Hold.status == HOLD_HELD)
        ).scalar_one()
    return account.json()["data"]["balance"], int(held)


def speech_calls(fake: FakeState) -> int:
    return sum(1 for request in fake.requests if request.path.endswith("/audio/speech"))


def health_of(gateway: Gateway, model_id: str) -> ModelHealth:
    """The admin page's health row of ``model_id`` (never calls the provider)."""
    speech = context_for(gateway.settings, gateway.db)
    rows = catalog_health(speech.catalog, speech.engines, gateway.settings)
    return next(row for row in rows if row.model_id == model_id)


def test_a_failing_provider_is_refused_fast_until_it_recovers(
    gateway: Gateway, fake_openai: FakeState
) -> None:
    assert speak(gateway).status_code == 200
    before = money(gateway)

    fake_openai.fault = "500"
    for _ in range(THRESHOLD):
        assert speak(gateway).status_code == 502
    assert speech_calls(fake_openai) == 1 + THRESHOLD
    assert money(gateway) == before  # failures cost nothing

    refused = speak(gateway)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == str(int(OPEN_SECONDS))
    assert refused.json()["error"]["code"] == "upstream_error"
    envelope = speak(gateway, "envelope")
    assert envelope.status_code == 503 and envelope.headers["Retry-After"]
    assert envelope.json()["error_code"] == "UPSTREAM_ERROR"
    streamed = speak(gateway, "envelope", stream=True)  # refused before the stream opens
    assert streamed.status_code == 503 and streamed.json()["error_code"] == "UPSTREAM_ERROR"
    assert speech_calls(fake_openai) == 1 + THRESHOLD  # the provider was not called
    assert money(gateway) == (before[0], 0)  # no money moved, no hold left open
    health = health_of(gateway, "tts-1")
    assert (health.status, health.healthy, health.retry_after) == ("circuit_open", False, 30)

    fake_openai.fault = None  # the provider is back; the circuit does not know yet
    assert speak(gateway).status_code == 503
    gateway.clock.advance(OPEN_SECONDS)
    recovered = speak(gateway)  # the trial
    assert recovered.status_code == 200, recovered.text
    assert recovered.content
    assert speak(gateway).status_code == 200
    assert speech_calls(fake_openai) == 1 + THRESHOLD + 2
    assert circuit_board(gateway.settings).snapshot("openai").state == "closed"
    assert health_of(gateway, "tts-1").status == "configured"
