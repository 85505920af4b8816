"""Who owns which object: recording stored objects and fetching them only for their owner.

Functions take the caller's SQLModel ``Session`` and never commit; the request or event scope
does. The ownership rule of the platform applies: asking for someone else's key is answered
exactly like asking for a key that does not exist (``NotFoundError("File not found")``), so keys
cannot be probed.

Bytes and rows cannot share one transaction. ``store_bytes`` writes the object first and then
the row, removing the object again if the row cannot be added; if the surrounding transaction
rolls back later, an unreferenced object is left behind, which is harmless (its key is random
and unlisted) and cheaper than the opposite failure, a row pointing at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from api.errors import NotFoundError
from api.settings import get_settings
from api.storage.base import ObjectStore
from api.storage.keys import (
    content_type_for_key,
    new_object_key,
    validate_key,
    validate_kind,
)
from api.storage.models import StoredObject

FILE_NOT_FOUND = "File not found"


def record_object(
    session: Session,
    *,
    key: str,
    user_id: int | None,
    kind: str,
    content_type: str,
    size_bytes: int,
) -> StoredObject:
    """Add the row that records ``key`` as owned by ``user_id`` (None: platform-owned)."""
    stored = StoredObject(
        **put_fields(PutObject(key, kind, content_type, size_bytes), user_id=user_id)
    )
    session.add(stored)
    # Flush, not commit: surfaces a duplicate key or unknown user now and assigns the id.
    session.flush()
    return stored


def find_object(session: Session, key: str) -> StoredObject | None:
    """The row for ``key`` regardless of owner: for platform code, never for a user's request."""
    return session.exec(select(StoredObject).where(StoredObject.key == key)).first()


def get_owned_object(session: Session, *, user_id: int, key: str) -> StoredObject:
    """The row for ``key`` if ``user_id`` owns it; otherwise ``NotFoundError``."""
    stored = session.exec(
        select(StoredObject).where(StoredObject.key == key, StoredObject.user_id == user_id)
    ).first()
    if stored is None:
        raise NotFoundError(FILE_NOT_FOUND)
    return stored


def delete_owned_object(session: Session, store: ObjectStore, *, user_id: int, key: str) -> None:
    """Delete an object the user owns: its row, then its bytes."""
    stored = get_owned_object(session, user_id=user_id, key=key)
    session.delete(stored)
    # The row goes first so a failing flush keeps the bytes. Should the scope still roll back
    # after the bytes are gone, the restored row answers 404 on download: a user asked for
    # the deletion, so that is the acceptable side to fail on.
    session.flush()
    store.delete(key)


@dataclass(frozen=True)
class PutObject:
    """Bytes written under a fresh key and not yet recorded (see ``put_bytes``)."""

    key: str
    kind: str
    content_type: str
    size_bytes: int


def put_bytes(
    store: ObjectStore, *, kind: str, ext: str, data: bytes, content_type: str | None = None
) -> PutObject:
    """Write ``data`` under a fresh key, outside any transaction; ``record_put`` records it.

    Splitting the two keeps the write off a database transaction: on SQLite every write
    transaction holds the one writer lock, and writing a file under it made every other
    request's hold wait for that file (bench row B6)."""
    key = new_object_key(kind, ext)
    resolved_type = content_type or content_type_for_key(key)
    store.put(key, data, resolved_type)
    return PutObject(key, kind, resolved_type, len(data))


def record_put(
    session: Session, store: ObjectStore, put: PutObject, *, user_id: int | None
) -> StoredObject:
    """Record a ``put_bytes`` object for ``user_id`` (removing the bytes if that fails)."""
    return _record_or_discard(
        session,
        store,
        key=put.key,
        user_id=user_id,
        kind=put.kind,
        content_type=put.content_type,
        size_bytes=put.size_bytes,
    )


def put_fields(put: PutObject, *, user_id: int | None) -> dict[str, Any]:
    """The checked fields of the row that records a ``put_bytes`` object, not yet written (for
    ``DriverConnection.insert(StoredObject, ...)`` inside a settlement; ``record_put`` writes
    it with a session)."""
    return {
        "key": validate_key(put.key),
        "user_id": user_id,
        "kind": validate_kind(put.kind),
        "content_type": put.content_type,
        "size_bytes": put.size_bytes,
    }


def store_bytes(
    session: Session,
    store: ObjectStore,
    *,
    user_id: int | None,
    kind: str,
    ext: str,
    data: bytes,
    content_type: str | None = None,
) -> StoredObject:
    """Write ``data`` under a fresh key and record it; ``content_type`` defaults from ``ext``."""
    put = put_bytes(store, kind=kind, ext=ext, data=data, content_type=content_type)
    return record_put(session, store, put, user_id=user_id)


def store_file(
    session: Session,
    store: ObjectStore,
    *,
    user_id: int | None,
    kind: str,
    ext: str,
    path: Path,
    content_type: str | None = None,
) -> StoredObject:
    """``store_bytes`` for a local file (large outputs), without reading it into memory."""
    key = new_object_key(kind, ext)
    resolved_type = content_type or content_type_for_key(key)
    size_bytes = Path(path).stat().st_size
    store.put_file(key, Path(path), resolved_type)
    return _record_or_discard(
        session,
        store,
        key=key,
        user_id=user_id,
        kind=kind,
        content_type=resolved_type,
        size_bytes=size_bytes,
    )


def _record_or_discard(
    session: Session,
    store: ObjectStore,
    *,
    key: str,
    user_id: int | None,
    kind: str,
    content_type: str,
    size_bytes: int,
) -> StoredObject:
    try:
        return record_object(
            session,
            key=key,
            user_id=user_id,
            kind=kind,
            content_type=content_type,
            size_bytes=size_bytes,
        )
    except BaseException:
        store.delete(key)
        raise


def object_url(
    store: ObjectStore,
    key: str,
    *,
    base_url: str,
    filename: str | None = None,
    expires_in: int | None = None,
) -> str:
    """A signed URL for ``key``, valid for ``expires_in`` seconds (default: the settings' TTL).

    Callers check ownership first (``get_owned_object``) when the key came from a user.
    """
    ttl = expires_in if expires_in is not None else get_settings().signed_url_ttl_seconds
    return store.signed_url(key, expires_in=ttl, base_url=base_url, filename=filename)
