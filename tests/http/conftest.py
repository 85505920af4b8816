"""HTTP fixtures: the real app over a test database, and signed-in users' headers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.db import Database
from api.http.app import create_api
from api.http.context import AppContext
from api.ratelimit import MemoryRateLimiter
from api.settings import Settings
from tests.helpers import PASSWORD

_emails = itertools.count(1)


@pytest.fixture
def context(settings: Settings, db: Database) -> AppContext:
    # Every test client shares one address, so the per-IP sign-up limit is lifted here and
    # exercised on its own in test_account_api.
    roomy = settings.model_copy(update={"signup_limit_per_hour": 10_000})
    return AppContext(settings=roomy, db=db, limiter=MemoryRateLimiter())


@pytest.fixture
def client(context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_api(context), raise_server_exceptions=False) as test_client:
        yield test_client


SignUp = Callable[..., dict[str, str]]


@pytest.fixture
def sign_up(client: TestClient) -> SignUp:
    """Sign up a fresh user over HTTP; returns its bearer headers (``email`` inside too)."""

    def _sign_up(email: str | None = None) -> dict[str, str]:
        email = email or f"http{next(_emails)}@example.com"
        response = client.post(
            "/api/auth/signup",
            json={"email": email, "password": PASSWORD},
        )
        assert response.status_code == 200, response.text
        client.cookies.clear()  # each user speaks through its bearer token, not the cookie
        token = response.json()["data"]["token"]
        return {"Authorization": f"Bearer {token}", "X-Test-Email": email}

    return _sign_up
