"""Database errors at the HTTP door: an outage is a 503 with Retry-After in every dialect.

The fault test (test_faults.py) shows it end to end through a real dropped connection; here
each error class SQLAlchemy can raise for an outage is mapped one by one, and a real bug in a
query (a ProgrammingError) stays a 500.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.http.errors import install_error_handlers


class _Driver(Exception):
    pass


def _raising(error: BaseException) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    def fail() -> None:
        raise error

    for path in ("/v1/thing", "/api/audio/thing", "/api/open/thing", "/tts/v1/thing"):
        app.add_api_route(path, fail)
    return TestClient(app, raise_server_exceptions=False)


OUTAGES = [
    OperationalError("SELECT 1", {}, _Driver("server closed the connection unexpectedly")),
    InterfaceError("SELECT 1", {}, _Driver("connection already closed")),
    DBAPIError("SELECT 1", {}, _Driver("gone"), connection_invalidated=True),
    PoolTimeoutError("QueuePool limit reached"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=lambda error: type(error).__name__)
def test_an_outage_is_a_503_with_retry_after_in_each_dialect(error: BaseException) -> None:
    client = _raising(error)
    openai = client.get("/v1/thing")
    assert (openai.status_code, openai.headers["retry-after"]) == (503, "2")
    assert openai.json()["error"]["type"] == "server_error"
    envelope = client.get("/api/audio/thing")
    assert envelope.status_code == 503
    assert envelope.json() == {
        "code": 503,
        "message": "Service temporarily unavailable",
        "data": None,
        "error_code": "SERVICE_UNAVAILABLE",
    }
    fish = client.get("/api/open/thing").json()
    assert fish["code"] == "SERVICE_UNAVAILABLE"
    assert client.get("/tts/v1/thing").json() == {"detail": "Service temporarily unavailable"}


def test_a_broken_query_is_still_a_500() -> None:
    client = _raising(ProgrammingError("SELEC 1", {}, _Driver("syntax error")))
    response = client.get("/v1/thing")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert "SELEC" not in response.text


@pytest.mark.parametrize("bare", ["driver_write", "driver_read"])
def test_the_session_free_paths_report_an_unreachable_database_as_sqlalchemy_does(
    bare: str,
) -> None:
    """``Database.driver_write`` (the money path) and ``driver_read`` (a balance) take
    connections from the pool themselves: a refused connection must come out as SQLAlchemy's
    OperationalError, which the doors map to 503, never as the driver's own error (a 500)."""
    from api.db import Database
    from bench.server import free_port

    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        with pytest.raises(OperationalError), getattr(db, bare)():
            raise AssertionError("no connection should have been made")
    finally:
        db.dispose()
