"""Accounts: sign up (with the one ¥100 bonus), sign in, sessions, sign out, password change.

Functions that take a ``Session`` never commit. The use cases that take a ``Database`` open
their own short scopes, because password hashing (Argon2, tens of milliseconds) must happen
outside the SQLite writer lock.

Sign-in answers an unknown e-mail and a wrong password with the same error after the same work
(a dummy Argon2 verification), so the answer does not tell whether an e-mail is registered.
Sessions are random tokens of which only a keyed digest is stored; each sign-in makes a new one
(and retires the one the browser presented), and they die at sign-out, password change, after
``session_idle_minutes`` without use, and ``session_absolute_hours`` after creation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.accounts.models import ROLE_ADMIN, ROLES, ConsoleSession, SignInTicket, User
from api.billing import ledger
from api.db import Database, driver_time, utcnow
from api.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from api.principal import Principal
from api.ratelimit import RateLimiter, enforce
from api.security import (
    burn_password_check,
    check_password_policy,
    hash_password,
    keyed_digest,
    new_token,
    verify_password,
)
from api.settings import Settings

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"^[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
MAX_EMAIL_LENGTH = 254
SIGNIN_WINDOW = 15 * 60
SIGNUP_WINDOW = 3600
TICKET_SECONDS = 60
SESSION_TOUCH_SECONDS = 60
SIGNUP_BONUS_KEY = "signup_bonus"
# The HttpOnly cookie carrying a console session token; both doors read it by this name.
SESSION_COOKIE = "amphion_session"
INVALID_CREDENTIALS = "Invalid e-mail or password"


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased; refuses anything that is not plausibly an address."""
    if not isinstance(email, str):
        raise InvalidInputError("email must be a string", param="email")
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        raise InvalidInputError("Enter a valid e-mail address", param="email")
    return email


@dataclass(frozen=True)
class SignedIn:
    """A fresh session: the user and the token to hand to the browser or client (once)."""

    user: User
    token: str
    expires_at: datetime


def _session_expiry(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(hours=settings.session_absolute_hours)


def create_session(
    session: Session, *, user_id: int, settings: Settings, ip: str = "", user_agent: str = ""
) -> tuple[ConsoleSession, str]:
    token = new_token(32)
    now = utcnow()
    row = ConsoleSession(
        user_id=user_id,
        token_digest=keyed_digest(settings.secret_key, token),
        created_at=now,
        last_seen_at=now,
        expires_at=_session_expiry(settings, now),
        ip=ip[:64],
        user_agent=user_agent[:255],
    )
    session.add(row)
    session.flush()
    return row, token


def create_user(
    session: Session,
    *,
    email: str,
    password_hash: str,
    settings: Settings,
    role: str = "user",
) -> User:
    """Insert a user and grant the sign-up bonus exactly once (its idempotency key is fixed)."""
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}", param="role")
    existing = session.execute(
        select(col(User.id)).where(col(User.email) == email)
    ).scalar_one_or_none()
    if existing is not None:
        raise ConflictError("An account with this e-mail already exists", code="EMAIL_TAKEN")
    user = User(email=email, password_hash=password_hash, role=role)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Lost a race with a concurrent sign-up of the same e-mail (PostgreSQL).
        raise ConflictError(
            "An account with this e-mail already exists", code="EMAIL_TAKEN"
        ) from None
    assert user.id is not None
    if settings.signup_bonus_micros > 0:
        ledger.credit(
            session,
            user.id,
            settings.signup_bonus_micros,
            kind="signup_bonus",
            idempotency_key=SIGNUP_BONUS_KEY,
            note="Welcome bonus",
        )
    session.refresh(user)
    return user


def sign_up(
    db: Database,
    limiter: RateLimiter,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
) -> SignedIn:
    """Register, grant the bonus, and sign in; throttled per client IP."""
    email, password_hash = _admit_sign_up(limiter, settings, email=email, password=password, ip=ip)
    with db.write() as session:
        user = create_user(session, email=email, password_hash=password_hash, settings=settings)
        assert user.id is not None
        row, token = create_session(
            session, user_id=user.id, settings=settings, ip=ip, user_agent=user_agent
        )
    return SignedIn(user, token, row.expires_at)


def sign_up_with_ticket(
    db: Database,
    limiter: RateLimiter,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
) -> tuple[User, str]:
    """The console's sign-up: like ``sign_up`` but hands back a one-time sign-in ticket."""
    email, password_hash = _admit_sign_up(limiter, settings, email=email, password=password, ip=ip)
    with db.write() as session:
        user = create_user(session, email=email, password_hash=password_hash, settings=settings)
        assert user.id is not None
        ticket = issue_sign_in_ticket(
            session, user_id=user.id, settings=settings, ip=ip, user_agent=user_agent
        )
    return user, ticket


def _admit_sign_up(
    limiter: RateLimiter, settings: Settings, *, email: str, password: str, ip: str
) -> tuple[str, str]:
    """Validate and throttle a sign-up; the normalized e-mail and the password hash."""
    email = normalize_email(email)
    check_password_policy(password, email=email)
    enforce(
        limiter.hit(f"signup:ip:{ip}", limit=settings.signup_limit_per_hour, window=SIGNUP_WINDOW),
        "Too many sign-ups from this address; try again later",
    )
    # Hash outside any write scope: Argon2 must not hold SQLite's writer lock.
    return email, hash_password(password)


def authenticate(
    db: Database, limiter: RateLimiter, settings: Settings, *, email: str, password: str, ip: str
) -> User:
    """The user these credentials belong to, or one generic error; failures are throttled."""
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > 1024:
        raise AuthenticationError(INVALID_CREDENTIALS)
    email = email.strip().lower()[:MAX_EMAIL_LENGTH]
    limit, window = settings.signin_limit_per_15min, SIGNIN_WINDOW
    message = "Too many failed sign-in attempts; try again later"
    enforce(limiter.peek(f"signin:ip:{ip}", limit=limit, window=window), message)
    enforce(limiter.peek(f"signin:email:{email}", limit=limit, window=window), message)
    with db.read() as session:
        user = session.execute(select(User).where(col(User.email) == email)).scalar_one_or_none()
    if user is None:
        burn_password_check(password)
        ok, new_hash = False, None
    else:
        ok, new_hash = verify_password(password, user.password_hash)
    if not ok or user is None or not user.is_active:
        limiter.hit(f"signin:ip:{ip}", limit=limit, window=window)
        limiter.hit(f"signin:email:{email}", limit=limit, window=window)
        raise AuthenticationError(INVALID_CREDENTIALS)
    if new_hash is not None:
        with db.write() as session:
            session.execute(
                update(User).where(col(User.id) == user.id).values(password_hash=new_hash)
            )
    return user


def sign_in(
    db: Database,
    limiter: RateLimiter,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
    previous_token: str | None = None,
) -> SignedIn:
    """Check credentials and start a new session, retiring the one the client still had."""
    user = authenticate(db, limiter, settings, email=email, password=password, ip=ip)
    assert user.id is not None
    with db.write() as session:
        if previous_token:
            _revoke_token(session, settings, previous_token)
        row, token = create_session(
            session, user_id=user.id, settings=settings, ip=ip, user_agent=user_agent
        )
    return SignedIn(user, token, row.expires_at)


def sign_in_with_ticket(
    db: Database,
    limiter: RateLimiter,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
) -> tuple[User, str]:
    """The console's sign-in: check credentials, hand back a one-time sign-in ticket."""
    user = authenticate(db, limiter, settings, email=email, password=password, ip=ip)
    assert user.id is not None
    with db.write() as session:
        ticket = issue_sign_in_ticket(
            session, user_id=user.id, settings=settings, ip=ip, user_agent=user_agent
        )
    return user, ticket


def _revoke_token(session: Session, settings: Settings, token: str) -> None:
    session.execute(
        update(ConsoleSession)
        .where(
            col(ConsoleSession.token_digest) == keyed_digest(settings.secret_key, token),
            col(ConsoleSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )


def sign_out(db: Database, settings: Settings, token: str) -> None:
    """End the session behind ``token`` (unknown tokens are ignored)."""
    with db.write() as session:
        _revoke_token(session, settings, token)


def resolve_session(db: Database, settings: Settings, token: str) -> Principal | None:
    """The Principal of a live session token, or None; refreshes its idle clock now and then."""
    if not token or len(token) > 128:
        return None
    digest = keyed_digest(settings.secret_key, token)
    now = utcnow()
    # One statement on the bare driver: every console event and every console call to the API
    # checks its session, and a session with its two ORM objects cost ten times the CPU.
    with db.driver_read() as driver:
        row = driver.fetch_one(_LIVE_SESSION, {"digest": digest})
    if row is None:
        return None
    session_id, revoked_at, expires_at, last_seen, user_id, email, role, is_active = row
    last_seen_at = driver_time(last_seen)
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if (
        revoked_at is not None
        or driver_time(expires_at) <= now
        or now - last_seen_at > idle_limit
        or not is_active
    ):
        return None
    if (now - last_seen_at).total_seconds() > SESSION_TOUCH_SECONDS:
        with db.write() as session:
            session.execute(
                update(ConsoleSession)
                .where(col(ConsoleSession.id) == session_id)
                .values(last_seen_at=now)
            )
    return Principal(user_id=user_id, email=email, role=role, via="session", session_id=session_id)


_LIVE_SESSION = """
SELECT s.id, s.revoked_at, s.expires_at, s.last_seen_at, u.id, u.email, u.role, u.is_active
FROM console_sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_digest = :digest
"""


def change_password(
    db: Database,
    settings: Settings,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    limiter: RateLimiter | None = None,
) -> None:
    """Replace the password and end every other session of the user (the one that asked stays
    signed in). With a ``limiter``, wrong current passwords are throttled like sign-ins, so a
    borrowed session cannot be used to guess the password."""
    limit, window = settings.signin_limit_per_15min, SIGNIN_WINDOW
    throttle_key = f"password:user:{principal.user_id}"
    if limiter is not None:
        enforce(
            limiter.peek(throttle_key, limit=limit, window=window),
            "Too many wrong passwords; try again later",
        )
    with db.read() as session:
        user = session.get(User, principal.user_id)
    if user is None:
        raise NotFoundError("User not found")
    ok, _ = verify_password(str(current_password)[:1024], user.password_hash)
    if not ok:
        if limiter is not None:
            limiter.hit(throttle_key, limit=limit, window=window)
        raise InvalidInputError("Current password is incorrect", param="current_password")
    check_password_policy(new_password, email=user.email)
    new_hash = hash_password(new_password)
    now = utcnow()
    with db.write() as session:
        session.execute(
            update(User)
            .where(col(User.id) == user.id)
            .values(password_hash=new_hash, password_changed_at=now)
        )
        others = update(ConsoleSession).where(
            col(ConsoleSession.user_id) == user.id, col(ConsoleSession.revoked_at).is_(None)
        )
        if principal.session_id is not None:
            others = others.where(col(ConsoleSession.id) != principal.session_id)
        session.execute(others.values(revoked_at=now))


def issue_sign_in_ticket(
    session: Session, *, user_id: int, settings: Settings, ip: str = "", user_agent: str = ""
) -> str:
    """A one-time ticket the browser trades for an HttpOnly session cookie within a minute."""
    ticket = new_token(32)
    session.add(
        SignInTicket(
            user_id=user_id,
            ticket_digest=keyed_digest(settings.secret_key, ticket),
            expires_at=utcnow() + timedelta(seconds=TICKET_SECONDS),
            ip=ip[:64],
            user_agent=user_agent[:255],
        )
    )
    session.flush()
    return ticket


def redeem_sign_in_ticket(
    db: Database, settings: Settings, ticket: str, *, previous_token: str | None = None
) -> SignedIn:
    """Trade a ticket (once, before it expires) for a new session."""
    if not ticket or len(ticket) > 128:
        raise AuthenticationError("Sign-in link is invalid or has expired")
    now = utcnow()
    with db.write() as session:
        claimed = session.execute(
            update(SignInTicket)
            .where(
                col(SignInTicket.ticket_digest) == keyed_digest(settings.secret_key, ticket),
                col(SignInTicket.used_at).is_(None),
                col(SignInTicket.expires_at) > now,
            )
            .values(used_at=now)
            .returning(
                col(SignInTicket.user_id), col(SignInTicket.ip), col(SignInTicket.user_agent)
            )
        ).one_or_none()
        if claimed is None:
            raise AuthenticationError("Sign-in link is invalid or has expired")
        user_id, ip, user_agent = claimed
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            raise AuthenticationError("Sign-in link is invalid or has expired")
        if previous_token:
            _revoke_token(session, settings, previous_token)
        row, token = create_session(
            session, user_id=user_id, settings=settings, ip=ip, user_agent=user_agent
        )
    return SignedIn(user, token, row.expires_at)


@dataclass(frozen=True)
class AccountSummary:
    """What ``GET /api/account`` shows of a user (``user_public`` takes it as a ``User``)."""

    id: int
    email: str
    role: str
    display_name: str
    balance_micros: int
    created_at: datetime


_SUMMARY = (
    "SELECT id, email, role, display_name, balance_micros, created_at FROM users WHERE id = :id"
)


def account_summary(db: Database, user_id: int) -> AccountSummary:
    """The account as ``GET /api/account`` shows it, in one statement on the bare driver: the
    balance read of bench row B1, a tenth of a session's CPU for the same row."""
    with db.driver_read() as driver:
        row = driver.fetch_one(_SUMMARY, {"id": user_id})
    if row is None:
        raise NotFoundError("User not found")
    user_id, email, role, display_name, balance_micros, created_at = row
    return AccountSummary(
        user_id, email, role, display_name, int(balance_micros), driver_time(created_at)
    )


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("User not found")
    return user


def find_user_by_email(session: Session, email: str) -> User:
    user = session.execute(
        select(User).where(col(User.email) == normalize_email(email))
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError("No user with this e-mail")
    return user


def set_role(session: Session, *, user_id: int, role: str) -> User:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}", param="role")
    user = get_user(session, user_id)
    user.role = role
    session.add(user)
    session.flush()
    return user


def register_user(
    db: Database, settings: Settings, *, email: str, password: str, admin: bool = False
) -> User:
    """Operator path (CLI): create an account without throttling, bonus included."""
    email = normalize_email(email)
    check_password_policy(password, email=email)
    password_hash = hash_password(password)
    with db.write() as session:
        return create_user(
            session,
            email=email,
            password_hash=password_hash,
            settings=settings,
            role=ROLE_ADMIN if admin else "user",
        )


def list_users(
    session: Session, *, query: str = "", offset: int = 0, limit: int = 20
) -> tuple[list[User], int]:
    """Users for the admin view, newest first, optionally filtered by an e-mail fragment."""
    from sqlalchemy import func

    conditions = []
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(col(User.email).like(f"%{escaped.lower()}%", escape="\\"))
    total = session.execute(select(func.count()).select_from(User).where(*conditions)).scalar_one()
    rows = session.execute(
        select(User).where(*conditions).order_by(col(User.id).desc()).offset(offset).limit(limit)
    ).scalars()
    return list(rows), int(total)
