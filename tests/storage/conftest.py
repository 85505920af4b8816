"""Fixtures of the storage tests: a local store in a temp dir, a real S3 server on loopback.

The S3 server is moto's server mode (a Werkzeug HTTP server speaking the S3 wire protocol) bound
to 127.0.0.1 on a free port: boto3 and httpx talk to it over real HTTP, nothing leaves the
machine. One server serves the whole session; each test gets its own bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.storage.local import LocalObjectStore
from api.storage.s3 import S3ObjectStore
from tests.helpers import moto_s3_server

STORE_SECRET = "storage-test-secret-0123456789"
# moto accepts any credentials; they are passed to the store, never read from the environment.
FAKE_ACCESS_KEY_ID = "testing-access-key"
FAKE_SECRET_ACCESS_KEY = "testing-secret-key"


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", STORE_SECRET)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


S3StoreFactory = Callable[..., S3ObjectStore]


@pytest.fixture
def make_s3_store(s3_endpoint: str) -> S3StoreFactory:
    """Builds stores on the loopback server; each call gets a fresh bucket unless one is named."""

    def build(
        *, bucket: str | None = None, region: str = "us-east-1", endpoint: str = s3_endpoint
    ) -> S3ObjectStore:
        return S3ObjectStore(
            bucket=bucket or f"amphion-test-{uuid.uuid4().hex[:12]}",
            endpoint_url=endpoint,
            region=region,
            access_key_id=FAKE_ACCESS_KEY_ID,
            secret_access_key=FAKE_SECRET_ACCESS_KEY,
        )

    return build


@pytest.fixture
def s3_store(make_s3_store: S3StoreFactory) -> S3ObjectStore:
    store = make_s3_store()
    store.ensure_bucket()
    return store
