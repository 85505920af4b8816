"""Settings refuse the default secret outside development; rate limiters count per window."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.ratelimit import RateLimiter
from api.settings import DEVELOPMENT_SECRET_KEY, Settings


def test_default_secret_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMPHION_SECRET_KEY", raising=False)
    assert Settings(environment="development").secret_key == DEVELOPMENT_SECRET_KEY
    for environment in ("test", "production"):
        with pytest.raises(ValidationError):
            Settings(environment=environment)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPHION_PORT", "9999")
    monkeypatch.setenv("AMPHION_DATABASE_URL", "postgresql://u@h/db")
    settings = Settings()
    assert settings.port == 9999
    assert settings.resolved_database_url == "postgresql://u@h/db"


def test_limiter_counts_and_refuses(limiter: RateLimiter) -> None:
    for _ in range(3):
        assert limiter.hit("k", limit=3, window=60).allowed
    refused = limiter.hit("k", limit=3, window=60)
    assert not refused.allowed and 0 < refused.retry_after <= 60
    assert not limiter.peek("k", limit=3, window=60).allowed
    assert limiter.peek("other", limit=3, window=60).allowed
    limiter.reset("k", window=60)
    assert limiter.hit("k", limit=3, window=60).allowed
