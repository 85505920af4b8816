"""API keys: issue (plaintext shown once), list masked, rename, limit, revoke, verify.

Format: ``sk-`` + 32 base62 characters (190 random bits) + a 6-character base62 CRC32 checksum,
so a scanner or this server can reject a mistyped or random string without a database query.
Only an HMAC-SHA256 digest under the server secret is stored, plus ``sk-ab`` and the last four
characters for the masked form ``sk-ab…wxyz``.

Verification caches a key's row for ``key_cache_seconds`` (0.8 s by default; the rows of keys
in use are re-read in the background every half of that, so callers never wait), and expiry is
re-checked on every use, so a revoked or expired key stops working within a second everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from api.db import Database, driver_time, utcnow
from api.errors import (
    AuthenticationError,
    InvalidInputError,
    KeyRevokedError,
    NotFoundError,
    PermissionDeniedError,
)
from api.keys.models import ApiKey
from api.principal import SCOPES, Principal
from api.security import base62_checksum, keyed_digest, random_base62

logger = logging.getLogger(__name__)

KEY_PREFIX = "sk-"
KEY_BODY_LENGTH = 32
KEY_CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + KEY_BODY_LENGTH + KEY_CHECKSUM_LENGTH
MAX_ACTIVE_KEYS = 100
MAX_RPM = 100_000
MAX_NAME = 100
_UNSET: Any = object()


def generate_key() -> str:
    body = random_base62(KEY_BODY_LENGTH)
    return f"{KEY_PREFIX}{body}{base62_checksum(body, KEY_CHECKSUM_LENGTH)}"


def is_well_formed(key: str) -> bool:
    """Shape and checksum only: no database needed to refuse a random or mistyped string."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX) or not key.isascii():
        return False
    body = key[len(KEY_PREFIX) : len(KEY_PREFIX) + KEY_BODY_LENGTH]
    checksum = key[len(KEY_PREFIX) + KEY_BODY_LENGTH :]
    return body.isalnum() and base62_checksum(body, KEY_CHECKSUM_LENGTH) == checksum


def mask(head: str, last4: str) -> str:
    return f"{head}…{last4}"


def parse_scopes(scopes: list[str] | tuple[str, ...] | None) -> str:
    """Validate requested scopes; none given means every scope."""
    if scopes is None:
        return ",".join(SCOPES)
    chosen = []
    for scope in scopes:
        if scope not in SCOPES:
            raise InvalidInputError(
                f"Unknown scope '{scope}'; choose from {', '.join(SCOPES)}", param="scopes"
            )
        if scope not in chosen:
            chosen.append(scope)
    if not chosen:
        raise InvalidInputError("At least one scope is required", param="scopes")
    return ",".join(s for s in SCOPES if s in chosen)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name must not be empty", param="name")
    if len(name) > MAX_NAME:
        raise InvalidInputError(f"name must be at most {MAX_NAME} characters", param="name")
    return name.strip()


def _check_limits(
    spend_cap_micros: int | None, rpm_limit: int | None, expires_at: datetime | None
) -> None:
    if spend_cap_micros is not None and spend_cap_micros < 0:
        raise InvalidInputError("spend_cap must not be negative", param="spend_cap")
    if rpm_limit is not None and not 1 <= rpm_limit <= MAX_RPM:
        raise InvalidInputError(f"rpm_limit must be between 1 and {MAX_RPM}", param="rpm_limit")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInputError("expires_at must be in the future", param="expires_at")


def issue_key(
    session: Session,
    *,
    user_id: int,
    name: str,
    secret_key: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    spend_cap_micros: int | None = None,
    rpm_limit: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never available again."""
    name = _check_name(name)
    _check_limits(spend_cap_micros, rpm_limit, expires_at)
    scope_text = parse_scopes(scopes)
    active = session.execute(
        select(func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
    ).scalar_one()
    if active >= MAX_ACTIVE_KEYS:
        raise InvalidInputError(f"At most {MAX_ACTIVE_KEYS} active keys per account")
    plaintext = generate_key()
    key = ApiKey(
        user_id=user_id,
        name=name,
        digest=keyed_digest(secret_key, plaintext),
        head=plaintext[: len(KEY_PREFIX) + 2],
        last4=plaintext[-4:],
        scopes=scope_text,
        expires_at=expires_at,
        spend_cap_micros=spend_cap_micros,
        rpm_limit=rpm_limit,
    )
    session.add(key)
    session.flush()
    return key, plaintext


def list_keys(session: Session, user_id: int, *, include_revoked: bool = True) -> list[ApiKey]:
    statement = select(ApiKey).where(col(ApiKey.user_id) == user_id)
    if not include_revoked:
        statement = statement.where(col(ApiKey.revoked_at).is_(None))
    return list(session.execute(statement.order_by(col(ApiKey.id).desc())).scalars())


def page_keys(
    session: Session, user_id: int, *, offset: int = 0, limit: int = 20
) -> tuple[list[ApiKey], int]:
    """One page of a user's keys for a list view: live keys first, newest first; and the total."""
    total = session.execute(
        select(func.count()).select_from(ApiKey).where(col(ApiKey.user_id) == user_id)
    ).scalar_one()
    rows = session.execute(
        select(ApiKey)
        .where(col(ApiKey.user_id) == user_id)
        .order_by(col(ApiKey.revoked_at).is_not(None), col(ApiKey.id).desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, 100)))
    ).scalars()
    return list(rows), int(total)


def get_owned_key(session: Session, *, user_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id:
        raise NotFoundError("API key not found")
    return key


def update_key(
    session: Session,
    *,
    user_id: int,
    key_id: int,
    name: str = _UNSET,
    scopes: list[str] | None = _UNSET,
    spend_cap_micros: int | None = _UNSET,
    rpm_limit: int | None = _UNSET,
    expires_at: datetime | None = _UNSET,
) -> ApiKey:
    """Rename or change the limits of a live key; fields left out stay as they are."""
    key = get_owned_key(session, user_id=user_id, key_id=key_id)
    if key.revoked_at is not None:
        raise InvalidInputError("A revoked key cannot be changed", code="KEY_REVOKED")
    if name is not _UNSET:
        key.name = _check_name(name)
    if scopes is not _UNSET:
        key.scopes = parse_scopes(scopes)
    _check_limits(
        None if spend_cap_micros is _UNSET else spend_cap_micros,
        None if rpm_limit is _UNSET else rpm_limit,
        None if expires_at is _UNSET else expires_at,
    )
    if spend_cap_micros is not _UNSET:
        key.spend_cap_micros = spend_cap_micros
    if rpm_limit is not _UNSET:
        key.rpm_limit = rpm_limit
    if expires_at is not _UNSET:
        key.expires_at = expires_at
    session.add(key)
    session.flush()
    return key


def revoke_key(session: Session, *, user_id: int, key_id: int) -> ApiKey:
    """Revoke now; revoking twice keeps the first revocation time."""
    key = get_owned_key(session, user_id=user_id, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


@dataclass(frozen=True)
class _KeySnapshot:
    key_id: int
    user_id: int
    email: str
    role: str
    user_active: bool
    scopes: frozenset[str]
    rpm_limit: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


_READ_BATCH = 500  # digests per statement (SQLite allows 32,766 parameters, PostgreSQL 65,535)


@lru_cache(maxsize=8)
def _key_rows_sql(count: int) -> str:
    places = ", ".join(f":d{index}" for index in range(count))
    return (
        "SELECT k.digest, k.id, u.id, u.email, u.role, u.is_active, k.scopes, k.rpm_limit, "
        "k.expires_at, k.revoked_at, k.last_used_at "
        f"FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.digest IN ({places})"
    )


def _numbered(values: list[str]) -> dict[str, str]:
    return {f"d{index}": value for index, value in enumerate(values)}


def _optional_time(value: datetime | str | None) -> datetime | None:
    return None if value is None else driver_time(value)


def _snapshot_of(row: tuple[Any, ...]) -> _KeySnapshot:
    """A key's row as ``_key_rows_sql`` selects it, after the digest (times as ``driver_time``
    reads them)."""
    key_id, user_id, email, role, active, scopes, rpm_limit, expires, revoked, last_used = row
    return _KeySnapshot(
        key_id, user_id, email, role, bool(active), frozenset(scopes.split(",")), rpm_limit,
        _optional_time(expires), _optional_time(revoked), _optional_time(last_used),
    )  # fmt: skip


class KeyVerifier:
    """Resolves a presented key to a Principal, with a short cache and throttled last-used.

    A cached row is answered from until it is ``cache_seconds`` old (revocation in another
    process bites within that; in this one at once, ``invalidate``). The rows of the keys used
    in the last ``keep_fresh_seconds`` are re-read together, in one query, every half of
    ``cache_seconds`` by a background thread (``refresh_keys_in_use``), so a caller never waits
    for the database, however its calls are spaced: a speech call takes about half a second,
    and a client making one after another found its row expired every time, a read and a
    thread hop of 2 ms on each call (bench B5). Before, a row was re-read only when a call
    found it half-aged, which missed every caller slower than one call per 0.8 s.
    Calls that miss together share one read: after a pause, a burst of 50 calls with one key
    made 50 reads at once, and the last waited about 20 ms for its turn (bench B6's p99).
    """

    # Keys kept fresh at most (the most recently used): beyond, a key's row is read when a
    # call finds it expired, as for a key unused for a while.
    MAX_KEPT_FRESH = 2000

    def __init__(
        self,
        db: Database,
        secret_key: str,
        *,
        cache_seconds: float = 0.8,
        last_used_resolution: int = 60,
        clock: Callable[[], float] = time.monotonic,
        keep_fresh_seconds: float = 60.0,
        refresh_in_background: bool = True,
    ) -> None:
        self._db = db
        self._clock = clock
        self._secret_key = secret_key
        self._cache_seconds = cache_seconds
        self._last_used_resolution = last_used_resolution
        self._cache: dict[str, tuple[float, _KeySnapshot | None]] = {}
        self._lock = threading.Lock()
        # Reads in flight, with the generation they started in: a call joins one only if no
        # invalidate came since (it must not be answered from a row read before a revocation).
        self._reading: dict[str, tuple[int, Future[_KeySnapshot | None]]] = {}
        # Bumped by invalidate/forget: a background read that started before must not store.
        self._generation = 0
        # Digests of real keys → when a call last presented one (``clock``).
        self._in_use: dict[str, float] = {}
        self._keep_fresh_seconds = keep_fresh_seconds
        self._refresh_in_background = refresh_in_background
        self._keeper: threading.Thread | None = None
        _verifiers.add(self)

    def _load(self, digest: str) -> _KeySnapshot | None:
        return self._load_many([digest]).get(digest)

    def _load_many(self, digests: Iterable[str]) -> dict[str, _KeySnapshot]:
        """The rows of those digests that name a key: one statement on the bare driver
        connection per 500, without the session and the two ORM objects a row would cost (the
        background refresh reads every key in use twice a second)."""
        found: dict[str, _KeySnapshot] = {}
        pending = list(digests)
        with self._db.driver_read() as driver:
            for start in range(0, len(pending), _READ_BATCH):
                batch = pending[start : start + _READ_BATCH]
                for row in driver.fetch_all(_key_rows_sql(len(batch)), _numbered(batch)):
                    found[row[0]] = _snapshot_of(row[1:])
        return found

    def _read_and_store(self, digest: str) -> _KeySnapshot | None:
        # The row's age counts from before the read: it may be that old when it arrives.
        started, generation = self._clock(), self._generation
        snapshot = self._load(digest)
        with self._lock:
            if generation == self._generation:
                if len(self._cache) > 50_000:
                    self._cache.clear()
                self._cache[digest] = (started, snapshot)
        return snapshot

    def _cached(self, digest: str) -> tuple[bool, _KeySnapshot | None]:
        """(found, row): a row young enough to answer from."""
        cached = self._cache.get(digest)
        if cached is None:
            return False, None
        if self._clock() - cached[0] >= self._cache_seconds:
            return False, None
        return True, cached[1]

    def _note_use(self, digest: str) -> None:
        """Keep this key's row fresh from now on (only a digest that names a key comes here:
        presenting random strings must not grow the set)."""
        self._in_use[digest] = self._clock()
        if self._refresh_in_background and not _running(self._keeper):
            with self._lock:  # (a forked child inherits its parent's thread object, not alive)
                if not _running(self._keeper):
                    self._keeper = _start_keeper(self)

    def refresh_keys_in_use(self) -> bool:
        """Re-read the rows of the keys used lately, in one query. False when there are none:
        the background thread then ends, and the next use starts another."""
        now = self._clock()
        with self._lock:
            for digest, last_used in list(self._in_use.items()):
                if now - last_used > self._keep_fresh_seconds:
                    del self._in_use[digest]
            if not self._in_use:
                self._keeper = None
                return False
            recent_first = sorted(self._in_use, key=self._in_use.__getitem__, reverse=True)
            generation = self._generation
        digests = recent_first[: self.MAX_KEPT_FRESH]
        snapshots = self._load_many(digests)  # the rows' age counts from before the read
        with self._lock:
            if generation == self._generation:
                for digest in digests:
                    self._cache[digest] = (now, snapshots.get(digest))
        return True

    def _snapshot(self, digest: str) -> _KeySnapshot | None:
        found, snapshot = self._cached(digest)
        if found:
            return snapshot
        with self._lock:
            reading = self._reading.get(digest)
            if reading is not None and reading[0] == self._generation:
                shared: Future[_KeySnapshot | None] | None = reading[1]
            else:
                shared = None
                own: Future[_KeySnapshot | None] = Future()
                self._reading[digest] = (self._generation, own)
        if shared is not None:
            return shared.result()
        try:
            snapshot = self._read_and_store(digest)
        except BaseException as error:
            own.set_exception(error)
            raise
        else:
            own.set_result(snapshot)
            return snapshot
        finally:
            with self._lock:
                if self._reading.get(digest, (0, None))[1] is own:
                    del self._reading[digest]

    def verify(self, presented: str) -> Principal:
        """The Principal for a presented key, or the error the caller should see."""
        if not is_well_formed(presented):
            raise AuthenticationError("Invalid API key")
        digest = keyed_digest(self._secret_key, presented)
        snapshot = self._snapshot(digest)
        now = utcnow()
        principal = self._principal(snapshot, now)
        assert snapshot is not None  # refused above
        self._note_use(digest)
        self._touch(snapshot, now)
        return principal

    def verify_from_cache(self, presented: str) -> Principal | None:
        """``verify`` when it needs no database: the key's row is cached and fresh, and its last
        use was recorded recently. None when the database is needed (or the key is malformed:
        ``verify`` says so); errors as ``verify``'s. Lets a request skip a worker thread."""
        if not is_well_formed(presented):
            return None
        digest = keyed_digest(self._secret_key, presented)
        found, snapshot = self._cached(digest)
        if not found:
            return None
        now = utcnow()
        if snapshot is not None and self._touch_due(snapshot, now):
            return None
        principal = self._principal(snapshot, now)
        self._note_use(digest)
        return principal

    def _principal(self, snapshot: _KeySnapshot | None, now: datetime) -> Principal:
        if snapshot is None:
            raise AuthenticationError("Invalid API key")
        if snapshot.revoked_at is not None:
            raise KeyRevokedError("This API key has been revoked")
        if snapshot.expires_at is not None and snapshot.expires_at <= now:
            raise KeyRevokedError("This API key has expired")
        if not snapshot.user_active:
            raise PermissionDeniedError("This account is suspended", code="ACCOUNT_SUSPENDED")
        return Principal(
            user_id=snapshot.user_id,
            email=snapshot.email,
            role=snapshot.role,
            via="api_key",
            scopes=snapshot.scopes,
            api_key_id=snapshot.key_id,
            rpm_limit=snapshot.rpm_limit,
        )

    def _touch_due(self, snapshot: _KeySnapshot, now: datetime) -> bool:
        last = snapshot.last_used_at
        return last is None or (now - last).total_seconds() >= self._last_used_resolution

    def _touch(self, snapshot: _KeySnapshot, now: datetime) -> None:
        if not self._touch_due(snapshot, now):
            return
        with self._db.write() as session:
            session.execute(
                update(ApiKey).where(col(ApiKey.id) == snapshot.key_id).values(last_used_at=now)
            )
        # Drop the cached row so the next use sees the new last_used_at and does not re-write.
        with self._lock:
            self._cache = {d: v for d, v in self._cache.items() if v[1] is not snapshot}

    def invalidate(self, digest: str) -> None:
        """Drop one key from this process's cache (it was just revoked or changed here)."""
        with self._lock:
            self._generation += 1
            self._cache.pop(digest, None)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()


# Every verifier of this process (the API's; the console's process serves the API in-process),
# so that a change made here reaches all of them at once.
_verifiers: weakref.WeakSet[KeyVerifier] = weakref.WeakSet()


def invalidate_everywhere(digest: str) -> None:
    """Drop a key's cached row from every verifier of this process: it was just revoked or
    changed here, by the API or by the console. Other processes see it within a verifier's
    ``cache_seconds`` (their rows of keys in use are re-read every half of that)."""
    for verifier in list(_verifiers):
        verifier.invalidate(digest)


def _running(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


def _start_keeper(verifier: KeyVerifier) -> threading.Thread:
    """A daemon thread that calls ``refresh_keys_in_use`` every half of the cache's lifetime
    while keys are in use. It holds the verifier weakly, so a verifier that is dropped (a test's
    app) stops its thread at the next tick; a forked child starts its own at its first call."""
    interval = verifier._cache_seconds / 2
    reference = weakref.ref(verifier)
    del verifier

    def keep_fresh() -> None:
        while True:
            time.sleep(interval)
            current = reference()
            if current is None:
                return
            try:
                if not current.refresh_keys_in_use():
                    return
            except Exception:  # the database is away: calls read it themselves once rows expire
                logger.warning("could not refresh the API keys in use", exc_info=True)
            del current

    thread = threading.Thread(target=keep_fresh, name="key-keeper", daemon=True)
    thread.start()
    return thread
