"""The one answer to "who is calling": what every service receives from either door."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from api.errors import PermissionDeniedError

SCOPES = ("tts", "asr", "sed", "voice", "history")


@dataclass(frozen=True)
class Principal:
    """A signed-in user (console session or login token) or an API key holder."""

    user_id: int
    email: str
    role: str
    via: Literal["session", "api_key"]
    scopes: frozenset[str] = field(default_factory=lambda: frozenset(SCOPES))
    api_key_id: int | None = None
    session_id: int | None = None
    rpm_limit: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_scope(self, scope: str) -> None:
        """Refuse an API key that was not granted ``scope`` (sessions hold every scope)."""
        if scope not in self.scopes:
            raise PermissionDeniedError(
                f"This API key does not have the '{scope}' scope", code="SCOPE_DENIED"
            )

    def require_session(self) -> None:
        """Refuse API keys for account management: a key must not mint keys or spend codes."""
        if self.via != "session":
            raise PermissionDeniedError(
                "This operation needs a signed-in session, not an API key", code="SESSION_REQUIRED"
            )

    def require_admin(self) -> None:
        self.require_session()
        if not self.is_admin:
            raise PermissionDeniedError("Administrators only", code="ADMIN_ONLY")
