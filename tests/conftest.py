"""Shared fixtures: settings in a temporary data dir, fresh databases, rate limiters.

``db`` is a migrated SQLite file private to the test (copied from a template migrated once).
``any_db`` runs the test on SQLite and, when ``AMPHION_TEST_DATABASE_URL`` is set (CI sets it),
again on PostgreSQL, emptied before each test. ``limiter`` likewise covers Redis when
``AMPHION_TEST_REDIS_URL`` is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import api.tables  # noqa: F401  (every table on the metadata)
from api.db import Database, metadata, migrate
from api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from api.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: they are the slowest, and a failure elsewhere shows sooner."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))


TEST_DATABASE_URL = os.environ.get("AMPHION_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("AMPHION_TEST_REDIS_URL", "")
TEST_SECRET = "test-secret-key-that-is-long-enough"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'data' / 'amphion.db'}",
        inprocess_worker=False,
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def _sqlite_database(template: Path, target: Path) -> Database:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return Database(f"sqlite:///{target}")


@pytest.fixture
def db(settings: Settings, sqlite_template: Path) -> Iterator[Database]:
    database = _sqlite_database(sqlite_template, settings.data_dir / "amphion.db")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    migrate(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


def empty_postgres(database: Database) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with database.write_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


@pytest.fixture(params=BACKENDS)
def any_db(
    request: pytest.FixtureRequest, settings: Settings, sqlite_template: Path
) -> Iterator[Database]:
    if request.param == "sqlite":
        database = _sqlite_database(sqlite_template, settings.data_dir / "amphion.db")
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        empty_postgres(database)
    yield database
    database.dispose()


LIMITERS = ["memory"] + (["redis"] if TEST_REDIS_URL else [])


@pytest.fixture(params=LIMITERS)
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    import uuid

    yield RedisRateLimiter(TEST_REDIS_URL, prefix=f"amphion-test:{uuid.uuid4().hex}:")
