"""The ``ObjectStore`` protocol every storage backend implements, and what they share.

Objects are immutable blobs addressed by server-generated keys (see ``api.storage.keys``). A
store knows nothing about owners: who may read an object is recorded in the ``stored_objects``
table and checked by ``api.storage.service``. Clients never receive a key they can turn into a
path; they receive a time-limited signed URL.

Errors are domain errors so both doors render them without knowing the backend: a missing
object is ``ObjectNotFoundError`` (404), an unreachable backend ``StorageUnavailableError`` (503).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from api.errors import NotFoundError, ServiceUnavailableError

# Big enough to keep syscalls and S3 round trips few, small enough to start playback quickly.
CHUNK_SIZE = 64 * 1024


class ObjectNotFoundError(NotFoundError):
    """No object is stored under the key."""

    def __init__(self, message: str = "File not found") -> None:
        super().__init__(message)


class StorageUnavailableError(ServiceUnavailableError):
    """The backend could not be reached or refused the operation; the message stays generic."""

    def __init__(self, message: str = "Object storage is unavailable") -> None:
        super().__init__(message)


@runtime_checkable
class ObjectStore(Protocol):
    """Put, read, delete and hand out signed URLs for objects addressed by validated keys.

    Every method validates its key with ``validate_key`` first. Writes replace any object
    already stored under the key, atomically: a reader sees the old bytes or the new, never a
    mix. ``delete`` of a missing object is not an error.
    """

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``."""
        ...

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the content of a local file (large outputs: nothing is read into memory)."""
        ...

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        """Store the concatenation of ``chunks`` (e.g. an encoder's output); returns the size."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; raises ``ObjectNotFoundError`` if missing."""
        ...

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of the object as chunks, for streaming responses.

        Raises ``ObjectNotFoundError`` at call time (not on first iteration) if missing.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object if it exists."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; raises ``ObjectNotFoundError`` if missing."""
        ...

    def signed_url(
        self, key: str, *, expires_in: int, base_url: str, filename: str | None = None
    ) -> str:
        """A URL that lets anyone holding it GET the object for ``expires_in`` seconds.

        ``base_url`` is the platform's public origin (used by stores served through
        ``/files``); ``filename`` makes the response a download with that name.
        """
        ...


def attachment_disposition(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value that is safe for any user-supplied name.

    Control characters, path separators and quotes are dropped, so the header cannot be split
    or point elsewhere; the ASCII ``filename`` is a fallback, ``filename*`` (RFC 6266/5987)
    carries the real UTF-8 name.
    """
    cleaned = (
        "".join(
            char
            for char in unicodedata.normalize("NFC", filename)
            if unicodedata.category(char)[0] != "C" and char not in '/\\"'
        ).strip()
        or "download"
    )
    cleaned = cleaned[:200]
    ascii_fallback = (
        "".join(char if 0x20 <= ord(char) < 0x7F else "_" for char in cleaned) or "download"
    )
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"
