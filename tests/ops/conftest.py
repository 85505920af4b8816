"""Fixtures of the operations tests: databases of their own.

``fault_db`` is a migrated SQLite file and, when ``AMPHION_TEST_DATABASE_URL`` is set, also a
PostgreSQL database private to this test process (created on that server, migrated once,
emptied before each test, dropped at the end), so killing servers and sweeping holds here never
touches what other tests or agents keep in the shared database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.billing import sweeper  # noqa: F401  (its tables on the metadata, for emptying)
from api.db import Database, migrate, normalize_url
from api.settings import Settings
from tests.conftest import TEST_DATABASE_URL, _sqlite_database, empty_postgres
from tests.ops.test_graceful_shutdown import spawn  # noqa: F401  (a fixture, shared here)

FAULT_BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


@pytest.fixture(scope="session")
def private_postgres_url() -> Iterator[str]:
    """A database of its own on the test server, dropped when the session ends."""
    name = f"amphion_faults_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(normalize_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(TEST_DATABASE_URL)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    try:
        migrate(rendered)
        yield rendered
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=FAULT_BACKENDS)
def fault_db(
    request: pytest.FixtureRequest, settings: Settings, sqlite_template: Path
) -> Iterator[Database]:
    if request.param == "sqlite":
        database = _sqlite_database(sqlite_template, settings.data_dir / "amphion.db")
    else:
        database = Database(request.getfixturevalue("private_postgres_url"))
        empty_postgres(database)
    yield database
    database.dispose()
