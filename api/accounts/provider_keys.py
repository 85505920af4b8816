"""Users' own provider API keys: the models an operator marks bring-your-own-key run on them.

Seed 001 calls the provider "with the API key the user configured" and answers 403 "未配置API密钥"
when there is none. A key is stored sealed (``api.security.seal``: AES-256-GCM under a key
derived from the server secret, bound to the user and the provider), so a database dump holds
no usable key, and a sealed value copied onto another user's row does not open. Nothing reads a
key back out except :func:`provider_key_for`, which the speech use cases call when they build
that user's adapter; lists show only the provider, the last four characters and when it was set.

Functions that take a ``Session`` never commit (the caller's scope does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session, col

from api.accounts.models import ProviderKey
from api.catalog.catalog import Catalog
from api.db import utcnow
from api.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from api.security import seal, unseal

logger = logging.getLogger("amphion.accounts")

MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 512
NO_API_KEY = "NO_API_KEY"
# Seed 001's message, with the English a non-Chinese client needs.
NO_API_KEY_MESSAGE = (
    "No provider API key is configured for this model; add yours in Settings "
    "(未配置API密钥,请在用户设置中配置apikey)"
)


@dataclass(frozen=True)
class ByokProvider:
    """A hosted provider that serves at least one bring-your-own-key model."""

    provider: str
    model_ids: tuple[str, ...]


@dataclass(frozen=True)
class ProviderKeyInfo:
    """What may be shown of a stored key: never the key itself."""

    provider: str
    last4: str
    updated_at: datetime


def byok_providers(catalog: Catalog) -> list[ByokProvider]:
    """Providers a user may (and must) bring a key for, with their models, in catalog order."""
    models: dict[str, list[str]] = {}
    for model in catalog.models():
        if model.byok and model.hosted:
            models.setdefault(model.provider, []).append(model.id)
    return [ByokProvider(provider, tuple(ids)) for provider, ids in models.items()]


def _context(user_id: int, provider: str) -> str:
    return f"provider-key:{user_id}:{provider}"


def _check_key(api_key: str) -> str:
    if not isinstance(api_key, str):
        raise InvalidInputError("The API key must be text", param="api_key")
    api_key = api_key.strip()
    if not MIN_KEY_LENGTH <= len(api_key) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"The API key must be {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} characters",
            param="api_key",
        )
    if not api_key.isascii() or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise InvalidInputError(
            "The API key may contain only letters, digits and punctuation", param="api_key"
        )
    return api_key


def _check_provider(catalog: Catalog, provider: str) -> str:
    if provider not in {entry.provider for entry in byok_providers(catalog)}:
        raise InvalidInputError(
            "No model on this server uses your own key for that provider", param="provider"
        )
    return provider


def _row(session: Session, user_id: int, provider: str) -> ProviderKey | None:
    return session.execute(
        select(ProviderKey).where(
            col(ProviderKey.user_id) == user_id, col(ProviderKey.provider) == provider
        )
    ).scalar_one_or_none()


def set_provider_key(
    session: Session,
    *,
    user_id: int,
    provider: str,
    api_key: str,
    secret_key: str,
    catalog: Catalog,
) -> ProviderKeyInfo:
    """Store (or replace) the user's key for ``provider``, sealed."""
    provider = _check_provider(catalog, provider)
    api_key = _check_key(api_key)
    sealed = seal(secret_key, api_key, context=_context(user_id, provider))
    now = utcnow()
    row = _row(session, user_id, provider)
    if row is None:
        row = ProviderKey(user_id=user_id, provider=provider, created_at=now, sealed="", last4="")
    row.sealed, row.last4, row.updated_at = sealed, api_key[-4:], now
    session.add(row)
    session.flush()
    return ProviderKeyInfo(provider, row.last4, row.updated_at)


def remove_provider_key(session: Session, *, user_id: int, provider: str) -> None:
    """Forget the user's key for ``provider`` (404 when there is none)."""
    removed = session.execute(
        delete(ProviderKey).where(
            col(ProviderKey.user_id) == user_id, col(ProviderKey.provider) == provider
        )
    )
    if not getattr(removed, "rowcount", 0):
        raise NotFoundError("No key is stored for this provider")


def list_provider_keys(session: Session, user_id: int) -> list[ProviderKeyInfo]:
    rows = session.execute(
        select(ProviderKey)
        .where(col(ProviderKey.user_id) == user_id)
        .order_by(col(ProviderKey.provider))
    ).scalars()
    return [ProviderKeyInfo(row.provider, row.last4, row.updated_at) for row in rows]


def provider_key_for(
    session: Session, *, user_id: int, provider: str, secret_key: str
) -> str | None:
    """The user's plaintext key for ``provider``, or None when none is stored (or it no
    longer opens, e.g. after the server secret changed: the user must set it again)."""
    row = _row(session, user_id, provider)
    if row is None:
        return None
    try:
        return unseal(secret_key, row.sealed, context=_context(user_id, provider))
    except ValueError:
        logger.warning("stored %s key of user %s does not open; ignoring it", provider, user_id)
        return None


def require_provider_key(session: Session, *, user_id: int, provider: str, secret_key: str) -> str:
    """Like :func:`provider_key_for`, but seed 001's 403 NO_API_KEY when there is none."""
    key = provider_key_for(session, user_id=user_id, provider=provider, secret_key=secret_key)
    if key is None:
        raise PermissionDeniedError(NO_API_KEY_MESSAGE, code=NO_API_KEY)
    return key
