"""The circuit breaker on the provider clients that are not engines: DashScope file
transcription (submit and poll) and voice enrollment, Fish cloning.

Against the fake providers answering 500s: after the threshold each client is refused at once
with a 503 (``CircuitOpenError``, Retry-After) without reaching the provider, ``ready()`` says
so before any credit would be held; after the cool-down one trial goes through and a provider
that is back closes the circuit. A 4xx (a rejected key) is an answer, not an outage. Each runs
on the in-process store and, in CI, on Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from api.engines.circuit import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    CircuitStore,
)
from api.engines.providers import (
    DashScopeFileTranscription,
    DashScopeVoiceEnrollment,
    FishClone,
    ProviderError,
)
from tests.providers.fake_upstream import FakeState
from tests.providers.support import FISH_KEY, FakeClock, config_for, speech

THRESHOLD = 2
OPEN_SECONDS = 30.0


def make_breaker(name: str, store: CircuitStore, clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(name, BreakerPolicy(THRESHOLD, OPEN_SECONDS), clock, store)


def check_breaker_guards(
    fake: FakeState,
    breaker: CircuitBreaker,
    clock: FakeClock,
    client: Any,
    call: Callable[[], object],
) -> None:
    """500s open the circuit; then fast 503s that never reach the fake; then recovery."""
    fake.fault = "500"
    for _ in range(THRESHOLD):
        with pytest.raises(ProviderError) as failed:
            call()
        assert failed.value.status == 502
    assert breaker.state == "open"
    reached = len(fake.requests)

    with pytest.raises(CircuitOpenError) as refused:
        client.ready()  # what a use case asks before it holds credit
    assert (refused.value.status, refused.value.retry_after) == (503, 30)
    with pytest.raises(CircuitOpenError):
        call()
    assert len(fake.requests) == reached, "a refused call reached the provider"

    clock.now += OPEN_SECONDS + 1
    fake.fault = None
    client.ready()
    call()  # the trial: the provider is back
    assert breaker.state == "closed"
    assert len(fake.requests) > reached


def test_dashscope_file_transcription_submit_is_guarded(
    fake_dashscope: FakeState, circuit_store: CircuitStore
) -> None:
    clock = FakeClock()
    breaker = make_breaker("dashscope", circuit_store, clock)
    helper = DashScopeFileTranscription(
        config_for(fake_dashscope.base_url), breaker=breaker, poll_interval=0.01
    )
    with helper:
        check_breaker_guards(
            fake_dashscope,
            breaker,
            clock,
            helper,
            lambda: helper.submit("https://example.com/long.mp3"),
        )


def test_dashscope_file_transcription_polling_stops_fast_once_the_circuit_opens(
    fake_dashscope: FakeState, circuit_store: CircuitStore
) -> None:
    clock = FakeClock()
    breaker = make_breaker("dashscope", circuit_store, clock)
    helper = DashScopeFileTranscription(
        config_for(fake_dashscope.base_url), breaker=breaker, poll_interval=0.01
    )
    with helper:
        task_id = helper.submit("https://example.com/long.mp3")
        fake_dashscope.fault = "500"
        for _ in range(THRESHOLD):
            with pytest.raises(ProviderError):
                helper.fetch(task_id)
        reached = len(fake_dashscope.requests)
        with pytest.raises(CircuitOpenError):
            helper.wait(task_id)  # a job polling a failing provider ends at once
        assert len(fake_dashscope.requests) == reached


def test_dashscope_voice_enrollment_is_guarded(
    fake_dashscope: FakeState, circuit_store: CircuitStore
) -> None:
    clock = FakeClock()
    breaker = make_breaker("dashscope", circuit_store, clock)
    enrollment = DashScopeVoiceEnrollment(config_for(fake_dashscope.base_url), breaker=breaker)
    with enrollment:
        check_breaker_guards(
            fake_dashscope,
            breaker,
            clock,
            enrollment,
            lambda: enrollment.create_voice(
                target_model="cosyvoice-v2", prefix="guard", audio_url="https://example.com/a.wav"
            ),
        )


def test_fish_cloning_is_guarded(fake_fish: FakeState, circuit_store: CircuitStore) -> None:
    clock = FakeClock()
    breaker = make_breaker("fish", circuit_store, clock)
    cloner = FishClone(config_for(fake_fish.base_url, FISH_KEY), breaker=breaker)
    with cloner:
        check_breaker_guards(fake_fish, breaker, clock, cloner, lambda: cloner.enroll(speech()))


def test_a_rejected_key_is_an_answer_and_never_opens_the_circuit(
    fake_fish: FakeState, circuit_store: CircuitStore
) -> None:
    clock = FakeClock()
    breaker = make_breaker("fish", circuit_store, clock)
    cloner = FishClone(config_for(fake_fish.base_url, FISH_KEY), breaker=breaker)
    fake_fish.fault = "401"
    with cloner:
        for _ in range(THRESHOLD + 2):
            with pytest.raises(ProviderError) as rejected:
                cloner.enroll(speech())
            assert rejected.value.status == 502
        assert breaker.state == "closed"
        cloner.ready()


def test_without_a_breaker_the_clients_are_unguarded(fake_fish: FakeState) -> None:
    cloner = FishClone(config_for(fake_fish.base_url, FISH_KEY))
    fake_fish.fault = "500"
    with cloner:
        for _ in range(THRESHOLD + 2):
            with pytest.raises(ProviderError):
                cloner.enroll(speech())
        cloner.ready()  # nothing to ask
    assert len(fake_fish.requests) == THRESHOLD + 2
