"""Ownership of stored objects: recorded per user, and someone else's key is a 404.

Runs on a fresh migrated SQLite file per test, and on PostgreSQL too when
``AMPHION_TEST_DATABASE_URL`` is set (the shared ``any_db`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api.accounts.models import User
from api.db import Database
from api.errors import InvalidInputError, NotFoundError
from api.storage.keys import new_object_key
from api.storage.local import LocalObjectStore
from api.storage.models import StoredObject
from api.storage.service import (
    delete_owned_object,
    find_object,
    get_owned_object,
    object_url,
    record_object,
    store_bytes,
    store_file,
)


@pytest.fixture
def user_ids(any_db: Database) -> tuple[int, int]:
    with any_db.write() as session:
        alice = User(email="alice@example.com", password_hash="x")
        bob = User(email="bob@example.com", password_hash="x")
        session.add(alice)
        session.add(bob)
        session.flush()
        assert alice.id is not None and bob.id is not None
        return alice.id, bob.id


def test_store_bytes_writes_and_records(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int]
) -> None:
    alice, _ = user_ids
    with any_db.write() as session:
        stored = store_bytes(
            session, local_store, user_id=alice, kind="tts", ext="mp3", data=b"ID3 audio"
        )
        key = stored.key

    assert key.startswith("audio/tts/") and key.endswith(".mp3")
    assert local_store.get(key) == b"ID3 audio"
    with any_db.read() as session:
        row = get_owned_object(session, user_id=alice, key=key)
        assert row.kind == "tts"
        assert row.content_type == "audio/mpeg"
        assert row.size_bytes == len(b"ID3 audio")
        assert row.created_at.tzinfo is not None


def test_someone_elses_key_is_not_found(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int]
) -> None:
    alice, bob = user_ids
    with any_db.write() as session:
        key = store_bytes(
            session, local_store, user_id=alice, kind="tts", ext="wav", data=b"RIFF"
        ).key

    with any_db.read() as session:
        with pytest.raises(NotFoundError, match="File not found") as asked_by_bob:
            get_owned_object(session, user_id=bob, key=key)
        with pytest.raises(NotFoundError, match="File not found") as nonexistent:
            get_owned_object(session, user_id=bob, key=new_object_key("tts", "wav"))
    # Same answer either way, so keys cannot be probed.
    assert asked_by_bob.value.status == nonexistent.value.status == 404
    assert asked_by_bob.value.message == nonexistent.value.message


def test_platform_objects_belong_to_no_user(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int]
) -> None:
    alice, _ = user_ids
    with any_db.write() as session:
        key = store_bytes(
            session, local_store, user_id=None, kind="voice", ext="wav", data=b"RIFF"
        ).key

    with any_db.read() as session:
        with pytest.raises(NotFoundError):
            get_owned_object(session, user_id=alice, key=key)
        found = find_object(session, key)
        assert found is not None and found.user_id is None


def test_only_the_owner_can_delete(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int]
) -> None:
    alice, bob = user_ids
    with any_db.write() as session:
        key = store_bytes(
            session, local_store, user_id=alice, kind="tts", ext="mp3", data=b"audio"
        ).key

    with pytest.raises(NotFoundError), any_db.write() as session:
        delete_owned_object(session, local_store, user_id=bob, key=key)
    assert local_store.exists(key)

    with any_db.write() as session:
        delete_owned_object(session, local_store, user_id=alice, key=key)
    assert not local_store.exists(key)
    with any_db.read() as session:
        assert find_object(session, key) is None


def test_record_object_validates_and_refuses_duplicates(
    any_db: Database, user_ids: tuple[int, int]
) -> None:
    alice, _ = user_ids
    key = new_object_key("asr", "json")
    with any_db.write() as session:
        record_object(
            session,
            key=key,
            user_id=alice,
            kind="asr",
            content_type="application/json",
            size_bytes=2,
        )

    with pytest.raises(InvalidInputError), any_db.write() as session:
        record_object(
            session,
            key="../escape.json",
            user_id=alice,
            kind="asr",
            content_type="application/json",
            size_bytes=2,
        )
    with pytest.raises(IntegrityError), any_db.write() as session:
        record_object(
            session,
            key=key,
            user_id=alice,
            kind="asr",
            content_type="application/json",
            size_bytes=2,
        )


def test_a_row_that_cannot_be_recorded_leaves_no_object(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int]
) -> None:
    unknown_user = max(user_ids) + 1000
    with pytest.raises(IntegrityError), any_db.write() as session:
        store_bytes(
            session, local_store, user_id=unknown_user, kind="tts", ext="mp3", data=b"audio"
        )

    assert not any(path.is_file() for path in local_store.root.rglob("*"))
    with any_db.read() as session:
        assert session.exec(select(StoredObject)).all() == []


def test_store_file_and_object_url(
    any_db: Database, local_store: LocalObjectStore, user_ids: tuple[int, int], tmp_path: Path
) -> None:
    alice, _ = user_ids
    source = tmp_path / "long.flac"
    source.write_bytes(b"fLaC" + bytes(100_000))
    with any_db.write() as session:
        stored = store_file(
            session, local_store, user_id=alice, kind="tts", ext="flac", path=source
        )

    assert stored.size_bytes == 100_004
    assert stored.content_type == "audio/flac"
    url = object_url(local_store, stored.key, base_url="http://localhost:8888", expires_in=60)
    parts = urlsplit(url)
    assert parts.path == f"/files/{stored.key}"
    query = parse_qs(parts.query)
    assert local_store.verify_signature(stored.key, query["expires"][0], query["sig"][0])
