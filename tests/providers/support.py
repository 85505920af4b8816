"""Keys, configs and checks the provider tests share (imported by conftest and the tests)."""

from __future__ import annotations

import numpy as np

from api.engines.base import Pcm
from api.engines.providers import PROVIDER_KEY_REJECTED, ProviderConfig, ProviderKeyRejectedError
from api.errors import UpstreamError, UpstreamTimeoutError

# Shaped like the real thing, so redaction is tested against realistic keys.
OPERATOR_KEY = "sk-op3rat0rSecretKey1234567890abcd"
USER_KEY = "sk-us3rOwnSecretKey0987654321dcba"
WRONG_USER_KEY = "sk-wr0ngUserKey5555555555555555ff"
FISH_KEY = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # Fish Audio keys are bare hex
SECRETS = (OPERATOR_KEY, USER_KEY, WRONG_USER_KEY, FISH_KEY)

TEST_TIMEOUT = 1.0


def config_for(
    base_url: str,
    key: str = OPERATOR_KEY,
    *,
    timeout: float = TEST_TIMEOUT,
    models: dict[str, str] | None = None,
) -> ProviderConfig:
    """A config with ~1 s timeouts, so faults that hang are caught quickly."""
    return ProviderConfig(
        base_url=base_url,
        api_key=key,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        total_timeout=5 * timeout,
        models=models or {},
    )


def speech(seconds: float = 1.0, rate: int = 16000) -> Pcm:
    """A second of a voice-like tone to send to recognisers and cloners."""
    t = np.arange(round(seconds * rate)) / rate
    samples = 8000 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return Pcm(samples.astype(np.int16), rate)


def assert_safe(error: BaseException) -> None:
    """The error is one of the mapped platform errors, names no secret in any rendering, and
    drags no cause (an httpx request holds the key in its headers) along."""
    if isinstance(error, UpstreamTimeoutError):
        assert (error.status, error.code) == (504, "TIMEOUT")
    elif isinstance(error, ProviderKeyRejectedError):
        assert (error.status, error.code) == (502, PROVIDER_KEY_REJECTED)
    else:
        assert isinstance(error, UpstreamError)
        assert (error.status, error.code) == (502, "UPSTREAM_ERROR")
    renderings = [str(error), repr(error), getattr(error, "message", "")]
    for secret in SECRETS:
        for text in renderings:
            assert secret not in text
    assert error.__cause__ is None


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
