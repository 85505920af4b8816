"""Object storage: where generated and uploaded audio lives, and how clients get to it.

``get_object_store()`` returns the configured backend: ``LocalObjectStore`` (files under
``data_dir/objects``, served by ``GET /files/...``) or ``S3ObjectStore``. Keys are made by
``new_object_key``; ownership lives in the ``stored_objects`` table (``api.storage.service``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from api.settings import Settings, get_settings
from api.storage.base import (
    ObjectNotFoundError,
    ObjectStore,
    StorageUnavailableError,
    attachment_disposition,
)
from api.storage.keys import (
    ALLOWED_EXTENSIONS,
    content_type_for_key,
    is_valid_key,
    new_object_key,
    validate_key,
)
from api.storage.local import LocalObjectStore
from api.storage.s3 import S3ObjectStore

__all__ = [
    "ALLOWED_EXTENSIONS",
    "LocalObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "S3ObjectStore",
    "StorageUnavailableError",
    "attachment_disposition",
    "content_type_for_key",
    "get_object_store",
    "is_valid_key",
    "new_object_key",
    "validate_key",
]


def get_object_store(settings: Settings | None = None) -> ObjectStore:
    """The object store the settings select; one instance per distinct configuration.

    Settings objects are not hashable, so the cache is keyed by the fields that matter: every
    caller with the same configuration shares one store (and one S3 connection pool).
    """
    settings = settings or get_settings()
    if settings.storage_backend == "s3":
        return _s3_store(
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
    # Files are as durable as the database rows that point at them: SQLite in NORMAL mode
    # may lose its last commits to a power cut, so fsyncing their files buys nothing and cost
    # two syncs (several ms) on every billable response (bench rows B5, B6).
    database_syncs = settings.sqlite_synchronous == "FULL" or not _is_sqlite(settings)
    return _local_store(settings.objects_dir.resolve(), settings.secret_key, database_syncs)


def _is_sqlite(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


# Empty files made ahead per process (``api.storage.spares``): a billable call stores one file,
# so 16 cover a burst of 16 calls while a thread makes the next ones.
SPARE_FILES = 16


@lru_cache(maxsize=8)
def _local_store(root: Path, secret_key: str, durable: bool) -> LocalObjectStore:
    return LocalObjectStore(root, secret_key, durable=durable, spare_files=SPARE_FILES)


@lru_cache(maxsize=8)
def _s3_store(
    bucket: str, endpoint_url: str, region: str, access_key_id: str, secret_access_key: str
) -> S3ObjectStore:
    return S3ObjectStore(bucket, endpoint_url, region, access_key_id, secret_access_key)
