"""Account API (seed 001 envelope): sign up, sign in and out, the account, API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.accounts import service as accounts
from api.accounts.service import SESSION_COOKIE, SignedIn
from api.billing.money import parse_yuan
from api.db import utcnow
from api.errors import AuthenticationError
from api.http.deps import (
    Context,
    CurrentPrincipal,
    SessionPrincipal,
    client_ip,
    presented_session_token,
)
from api.http.errors import documented_errors
from api.http.presenters import envelope, iso, key_public, user_public
from api.http.routes.schemas import (
    Credentials,
    KeyCreate,
    KeyUpdate,
    ObjectId,
    PasswordChange,
)
from api.http.routing import Router
from api.keys import service as keys

router = Router(
    prefix="/api",
    tags=["account"],
    responses=documented_errors("envelope", 400, 401, 403, 404, 429, 500),
)


def _set_session_cookie(response: Response, context: Context, signed: SignedIn) -> None:
    max_age = int((signed.expires_at - utcnow()).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=context.settings.cookie_secure,
        path="/",
    )


def _signed_in_body(signed: SignedIn) -> dict[str, Any]:
    return envelope(
        {
            "user": user_public(signed.user),
            "token": signed.token,
            "token_type": "Bearer",
            "expires_at": iso(signed.expires_at),
        }
    )


@router.post("/auth/signup")
def sign_up(body: Credentials, request: Request, response: Response, context: Context) -> Any:
    """Create an account (with the ¥100 welcome credit) and sign in."""
    signed = accounts.sign_up(
        context.db,
        context.limiter,
        context.settings,
        email=body.email,
        password=body.password,
        ip=client_ip(request, context),
        user_agent=request.headers.get("user-agent", ""),
    )
    _set_session_cookie(response, context, signed)
    return _signed_in_body(signed)


@router.post("/auth/login")
def sign_in(body: Credentials, request: Request, response: Response, context: Context) -> Any:
    """Sign in; the token works as ``Authorization: Bearer {token}`` and as the console cookie."""
    signed = accounts.sign_in(
        context.db,
        context.limiter,
        context.settings,
        email=body.email,
        password=body.password,
        ip=client_ip(request, context),
        user_agent=request.headers.get("user-agent", ""),
        previous_token=presented_session_token(request),
    )
    _set_session_cookie(response, context, signed)
    return _signed_in_body(signed)


@router.post("/auth/logout")
def sign_out(request: Request, response: Response, context: Context) -> Any:
    """End the presented session (bearer token or cookie); always succeeds."""
    token = presented_session_token(request)
    if token:
        accounts.sign_out(context.db, context.settings, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return envelope(None)


def _safe_next(target: str) -> str:
    # Only same-site paths: an open redirect here would make a phishing link look trusted.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard"
    return target


@router.get("/auth/session/claim", include_in_schema=False)
async def claim_session(request: Request, context: Context, ticket: str = "", next: str = "/"):
    """Trade the console's one-time sign-in ticket for the HttpOnly session cookie."""
    try:
        signed = await run_in_threadpool(
            accounts.redeem_sign_in_ticket,
            context.db,
            context.settings,
            ticket[:128],
            previous_token=request.cookies.get(SESSION_COOKIE),
        )
    except AuthenticationError:
        return RedirectResponse("/signin?" + urlencode({"error": "expired"}), status_code=303)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(response, context, signed)
    return response


@router.get("/account")
def get_account(principal: CurrentPrincipal, context: Context) -> Any:
    """The signed-in account: e-mail, role and balance (``"100.0000"``)."""
    return envelope(user_public(accounts.account_summary(context.db, principal.user_id)))


@router.post("/account/password")
def change_password(body: PasswordChange, principal: SessionPrincipal, context: Context) -> Any:
    """Change the password; every other session of the account is signed out."""
    accounts.change_password(
        context.db,
        context.settings,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        limiter=context.limiter,
    )
    return envelope(None)


@router.get("/keys")
def list_keys(principal: SessionPrincipal, context: Context) -> Any:
    """The account's API keys, masked (``sk-ab…wxyz``)."""
    with context.db.read() as session:
        rows = keys.list_keys(session, principal.user_id)
    return envelope([key_public(k) for k in rows])


@router.post("/keys")
def create_key(body: KeyCreate, principal: SessionPrincipal, context: Context) -> Any:
    """Issue a key; the full key is in this response only and cannot be shown again."""
    expires_at = body.expires_at
    if expires_at is None and body.expires_in_days is not None:
        expires_at = utcnow() + timedelta(days=body.expires_in_days)
    spend_cap = None if body.spend_cap is None else parse_yuan(body.spend_cap, param="spend_cap")
    with context.db.write() as session:
        key, plaintext = keys.issue_key(
            session,
            user_id=principal.user_id,
            name=body.name,
            secret_key=context.settings.secret_key,
            scopes=body.scopes,
            expires_at=expires_at,
            spend_cap_micros=spend_cap,
            rpm_limit=body.rpm_limit,
        )
        data = key_public(key) | {"key": plaintext}
    return envelope(data)


@router.patch("/keys/{key_id}")
def update_key(
    key_id: ObjectId, body: KeyUpdate, principal: SessionPrincipal, context: Context
) -> Any:
    """Rename a key or change its scopes, expiry, spend cap or RPM limit."""
    changes: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if field == "spend_cap":
            changes["spend_cap_micros"] = (
                None if value is None else parse_yuan(value, param="spend_cap")
            )
        elif field == "name" and value is None:
            continue
        else:
            changes[field] = value
    with context.db.write() as session:
        key = keys.update_key(session, user_id=principal.user_id, key_id=key_id, **changes)
        data = key_public(key)
    # Other processes see the change within key_cache_seconds; this one at once.
    keys.invalidate_everywhere(key.digest)
    return envelope(data)


@router.delete("/keys/{key_id}")
def revoke_key(key_id: ObjectId, principal: SessionPrincipal, context: Context) -> Any:
    """Revoke a key; it stops working within a second."""
    with context.db.write() as session:
        key = keys.revoke_key(session, user_id=principal.user_id, key_id=key_id)
        data = key_public(key)
    keys.invalidate_everywhere(key.digest)
    return envelope(data)
