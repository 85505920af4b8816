"""Fixtures for the four speech dialects: the real app over a test database, fake engines
registered under the offline engines' real names, and a signed-up user with an API key.

Golden tests run on the fakes (fast, deterministic audio and transcripts); a few tests per
dialect run the real offline engines (``real_engines``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.db import Database
from api.http.app import create_api
from api.http.context import AppContext
from api.settings import Settings
from api.speech.runtime import use_speech_context
from tests.http.conftest import context, sign_up  # noqa: F401  (fixtures)
from tests.speech.conftest import Fakes, fakes, run_jobs, speech  # noqa: F401  (fixtures)


@pytest.fixture
def client(context: AppContext, speech) -> Iterator[TestClient]:  # noqa: F811
    """The API on fake engines (``speech`` puts them in front of every speech route)."""
    with TestClient(create_api(context), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def real_client(context: AppContext) -> Iterator[TestClient]:  # noqa: F811
    """The API on the real offline engines (espeak-ng, Piper, Whisper)."""
    use_speech_context(None)
    with TestClient(create_api(context), raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Account:
    """A signed-up user: session headers (for the console API) and one API key."""

    session: dict[str, str]
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _account(client: TestClient, sign_up, **key_options) -> Account:  # noqa: F811
    session = sign_up()
    response = client.post("/api/keys", headers=session, json={"name": "test", **key_options})
    assert response.status_code == 200, response.text
    return Account(session, response.json()["data"]["key"])


@pytest.fixture
def account(client: TestClient, sign_up) -> Account:  # noqa: F811
    return _account(client, sign_up)


@pytest.fixture
def make_account(client: TestClient, sign_up):  # noqa: F811
    """Another account, with key options (scopes, spend_cap, rpm_limit, expires_at)."""
    return lambda **options: _account(client, sign_up, **options)


@pytest.fixture
def finish_jobs(db: Database, settings: Settings):
    """Run every queued job to the end, as the in-process worker would."""
    return lambda: run_jobs(db, settings)


def balance(client: TestClient, account: Account) -> str:
    response = client.get("/api/account", headers=account.session)
    assert response.status_code == 200, response.text
    return response.json()["data"]["balance"]
