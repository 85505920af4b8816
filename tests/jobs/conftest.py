"""Fixtures for the job tests: users with the sign-up credit and a scratch handler registry."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from api.accounts.models import User
from api.accounts.service import register_user
from api.db import Database
from api.jobs import handlers
from api.settings import Settings

_emails = itertools.count(1)


@pytest.fixture
def make_user(settings: Settings) -> Callable[[Database], User]:
    """Create a user with the ¥100 sign-up credit in the given database."""

    def create(database: Database) -> User:
        return register_user(
            database,
            settings,
            email=f"jobs-user-{next(_emails)}@example.com",
            password="correct horse battery",
        )

    return create


@pytest.fixture
def scratch_handlers() -> Iterator[None]:
    """Let a test register handlers; the registry is restored afterwards."""
    saved = dict(handlers._handlers)
    yield
    handlers._handlers.clear()
    handlers._handlers.update(saved)
