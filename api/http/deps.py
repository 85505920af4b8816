"""FastAPI dependencies: the app context, the caller's Principal, client IP, request id.

A caller proves who they are with an API key (``X-API-Key: sk-…`` or ``Authorization: Bearer
sk-…``), a login token (``Authorization: Bearer <token>`` from ``POST /api/auth/login``) or the
console's HttpOnly session cookie. A key in the query string is refused rather than ignored,
so it is noticed and rotated; it is never logged.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from api.accounts.service import SESSION_COOKIE, resolve_session
from api.errors import AuthenticationError, InvalidInputError
from api.http.context import AppContext
from api.keys.service import KEY_PREFIX
from api.principal import Principal
from api.ratelimit import enforce
from api.security import client_address

REQUEST_ID_HEADER = "X-Request-Id"
MISSING_CREDENTIALS = "Missing API key. Provide X-API-Key header or Authorization: Bearer <key>."


async def get_context(request: Request) -> AppContext:
    # async: a plain function would cost every request a worker-thread hop for an attribute.
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


def client_ip(request: HTTPConnection, context: AppContext) -> str:
    """The caller's address for throttling (see ``api.security.client_address``)."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "")
    return client_address(peer, forwarded, context.settings.trusted_proxies)


def request_id(request: HTTPConnection) -> str:
    value: str = getattr(request.state, "request_id", "") or uuid.uuid4().hex
    return value


def _bearer(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Authorization header must be 'Bearer <key or token>'")
    return value.strip()


def presented_session_token(request: HTTPConnection) -> str | None:
    """The session token the client presented (bearer login token or console cookie)."""
    bearer = request.headers.get("authorization", "")
    scheme, _, value = bearer.partition(" ")
    if scheme.lower() == "bearer" and value.strip() and not value.strip().startswith(KEY_PREFIX):
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


def resolve_principal(request: HTTPConnection, context: AppContext) -> Principal:
    """Authenticate the request (or a WebSocket handshake) or raise; enforces the key's
    requests-per-minute limit."""
    principal = _resolve(request, context, cached_only=False)
    assert principal is not None
    return principal


def resolve_principal_without_io(request: HTTPConnection, context: AppContext) -> Principal | None:
    """``resolve_principal`` when it can answer without I/O (an API key whose row is cached,
    limits counted in this process), so it may run on the event loop; None otherwise."""
    return _resolve(request, context, cached_only=True)


def _resolve(
    request: HTTPConnection, context: AppContext, *, cached_only: bool
) -> Principal | None:
    if any(name in request.query_params for name in ("api_key", "apikey", "x-api-key")):
        raise InvalidInputError(
            "API keys are not accepted in the URL; send the X-API-Key header", code="KEY_IN_URL"
        )
    header_key = request.headers.get("x-api-key", "").strip() or None
    bearer = _bearer(request)
    if header_key and bearer and header_key != bearer:
        raise InvalidInputError("X-API-Key and Authorization carry different credentials")
    presented = header_key or bearer
    if presented is not None and presented.startswith(KEY_PREFIX):
        if not cached_only:
            principal = context.keys.verify(presented)
        elif not context.limiter.in_process:
            return None
        elif (cached := context.keys.verify_from_cache(presented)) is None:
            return None
        else:
            principal = cached
        if principal.rpm_limit:
            enforce(
                context.limiter.hit(
                    f"rpm:key:{principal.api_key_id}", limit=principal.rpm_limit, window=60
                ),
                "Rate limit exceeded for this API key; slow down",
            )
        return principal
    if header_key is not None:
        raise AuthenticationError("Invalid API key")
    if cached_only:
        return None  # console sessions and login tokens are looked up in the database
    token = bearer or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError(MISSING_CREDENTIALS)
    session_principal = resolve_session(context.db, context.settings, token)
    if session_principal is None:
        raise AuthenticationError("Session expired or invalid; sign in again")
    return session_principal


async def authenticate(request: HTTPConnection, context: AppContext) -> Principal:
    """``resolve_principal`` on the event loop when it needs no I/O, else in a worker thread
    (a thread hop costs more CPU than a cached key check: bench rows B1, B2)."""
    principal = resolve_principal_without_io(request, context)
    if principal is None:
        principal = await anyio.to_thread.run_sync(resolve_principal, request, context)
    return principal


async def get_principal(request: Request, context: Context) -> Principal:
    return await authenticate(request, context)


async def get_session_principal(request: Request, context: Context) -> Principal:
    principal = await authenticate(request, context)
    principal.require_session()
    return principal


async def get_admin_principal(request: Request, context: Context) -> Principal:
    principal = await authenticate(request, context)
    principal.require_admin()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
SessionPrincipal = Annotated[Principal, Depends(get_session_principal)]
AdminPrincipal = Annotated[Principal, Depends(get_admin_principal)]
