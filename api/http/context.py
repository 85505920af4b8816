"""What a running server shares between requests: settings, database, limiter, key verifier."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from api.db import Database
from api.keys.service import KeyVerifier
from api.ratelimit import RateLimiter, make_rate_limiter
from api.settings import Settings
from api.speech.context import SpeechContext
from api.speech.runtime import speech_context_for


@dataclass
class AppContext:
    """The long-lived collaborators of one app instance (tests build their own)."""

    settings: Settings
    db: Database
    limiter: RateLimiter

    @cached_property
    def keys(self) -> KeyVerifier:
        return KeyVerifier(
            self.db,
            self.settings.secret_key,
            cache_seconds=self.settings.key_cache_seconds,
            last_used_resolution=self.settings.key_last_used_resolution_seconds,
        )

    @cached_property
    def speech(self) -> SpeechContext:
        """Catalog, engines and object store for the speech routes (built on first use)."""
        return speech_context_for(self.settings, self.db)

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> AppContext:
        return cls(
            settings=settings,
            db=db or Database.from_settings(settings),
            limiter=make_rate_limiter(settings.redis_url),
        )
