"""Small builders the tests share: users with a chosen balance, keys, clients."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator

import pytest

from api.accounts.service import create_user
from api.billing import ledger
from api.db import Database
from api.keys.service import issue_key
from api.security import hash_password
from api.settings import Settings

PASSWORD = "correct horse battery"
_counter = itertools.count(1)
_hash_cache: dict[str, str] = {}


def cached_hash(password: str = PASSWORD) -> str:
    """Argon2 is deliberately slow; tests that need many users reuse one hash."""
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def make_user(
    db: Database,
    settings: Settings,
    *,
    email: str | None = None,
    balance_micros: int | None = None,
    role: str = "user",
) -> int:
    """A user; with ``balance_micros`` the welcome credit is replaced by exactly that balance."""
    email = email or f"user{next(_counter)}@example.com"
    bonus_free = settings.model_copy(update={"signup_bonus_micros": 0})
    with db.write() as session:
        user = create_user(
            session,
            email=email,
            password_hash=cached_hash(),
            settings=settings if balance_micros is None else bonus_free,
            role=role,
        )
        assert user.id is not None
        if balance_micros:
            ledger.credit(session, user.id, balance_micros, kind="grant", note="test funds")
    return user.id


def make_key(db: Database, settings: Settings, user_id: int, **options: object) -> tuple[int, str]:
    with db.write() as session:
        key, plaintext = issue_key(
            session, user_id=user_id, name="test", secret_key=settings.secret_key, **options
        )
    assert key.id is not None
    return key.id, plaintext


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3 server (the real S3 wire protocol) on a free loopback port; its base URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
