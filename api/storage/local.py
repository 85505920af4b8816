"""Objects as files under one directory, served through ``GET /files/{key}`` with signed URLs.

This is the embedded default: no service to run, and the web process serves the bytes itself.
Writes go to a hidden temp file and are renamed into place (``os.replace`` is atomic on one
file system), so a reader or a crash never sees half an object. The temp file is one of the
store's spares (``api.storage.spares``, under ``.spare/``: made ahead by a background thread)
or, when none is ready, a new one in the target directory.

A signed URL is ``{base_url}/files/{key}?expires={unix}&sig={sig}`` where ``sig`` is
HMAC-SHA256 under the server secret of ``"{key}\\n{expires}"`` (plus ``"\\n{filename}"`` when a
download name is requested, so the name cannot be swapped), URL-safe base64 without padding.
Whoever holds the URL may read the object until it expires; nobody can forge one for another key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from api.errors import InvalidInputError
from api.storage.base import CHUNK_SIZE, ObjectNotFoundError, StorageUnavailableError
from api.storage.keys import is_valid_key, validate_key
from api.storage.spares import SpareFiles

FILES_ROUTE_PREFIX = "/files/"
SPARE_DIRECTORY = ".spare"  # under the root; no key reaches it (no key segment starts with ".")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _write_all(descriptor: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
    return len(data)


def _signature_message(key: str, expires: int, filename: str | None) -> bytes:
    message = f"{key}\n{expires}"
    if filename is not None:
        message += f"\n{filename}"
    return message.encode()


class LocalObjectStore:
    """An ``ObjectStore`` on the local file system, rooted at ``root``."""

    backend = "local"

    def __init__(
        self,
        root: Path,
        secret_key: str,
        *,
        chunk_size: int = CHUNK_SIZE,
        durable: bool = True,
        spare_files: int = 0,
    ) -> None:
        """``durable``: fsync each object and its directory entry before the write returns, so
        it survives a power cut; without it a crash of the process still never shows half an
        object (the rename is atomic), but the OS may lose the last writes.

        ``spare_files``: how many empty files to keep made ahead of the writes (0: none)."""
        if not secret_key:
            raise ValueError("LocalObjectStore needs a secret key to sign URLs")
        self.root = Path(root).resolve()
        self._secret = secret_key.encode()
        self.chunk_size = chunk_size
        self.durable = durable
        spares_at = str(self.root / SPARE_DIRECTORY)
        self._spares = SpareFiles(spares_at, spare_files) if spare_files > 0 else None
        # key prefix -> its checked directory, and whether a spare can be renamed into it
        self._directories: dict[str, tuple[str, bool]] = {}

    # -- paths ---------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file backing ``key``; never outside ``root`` (checked after resolving symlinks)."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidInputError("Invalid object key", param="key")
        return path

    # -- writes --------------------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.put_stream(key, (data,), content_type)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        with Path(path).open("rb") as source:
            self.put_stream(key, iter(lambda: source.read(self.chunk_size), b""), content_type)

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        # The content type is not stored: it follows from the server-chosen extension
        # (keys.content_type_for_key) and is recorded in stored_objects.
        #
        # Few system calls on purpose: each one lets another thread take the GIL, and under
        # load the writing request waits for it again each time. The directory is checked once
        # per process; the file is written with bare descriptors (no buffered file object with
        # its fstat, ioctl and lseek): about 5 calls a write instead of 25 (bench row B6).
        name = validate_key(key).rpartition("/")[2]
        try:
            directory, descriptor, temp_path = self._create(key)
        except OSError as exc:
            raise StorageUnavailableError() from exc
        written = 0
        try:
            try:
                for chunk in chunks:
                    written += _write_all(descriptor, chunk)
                if self.durable:  # durable before visible: old or new bytes after a power cut
                    os.fsync(descriptor)
                os.fchmod(descriptor, 0o644)  # whatever the process's umask
            finally:
                os.close(descriptor)
            directory = self._move_into_place(temp_path, key, directory, name)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            if isinstance(exc, OSError):
                raise StorageUnavailableError() from exc
            raise
        if self.durable:
            self._fsync_directory(Path(directory))
        return written

    def _create(self, key: str) -> tuple[str, int, str]:
        """An empty temp file for ``key``: (its directory, the file's descriptor, its path)."""
        directory, spares_fit = self._directory_for(key)
        spare = self._spares.take() if self._spares is not None and spares_fit else None
        if spare is not None:
            with contextlib.suppress(OSError):  # removed meanwhile: a new file, as below
                return directory, os.open(spare, os.O_WRONLY | os.O_CLOEXEC), spare
        temp_name = f".tmp-{secrets.token_hex(8)}"
        temp_path = os.path.join(directory, temp_name)
        try:
            return directory, os.open(temp_path, _CREATE, 0o600), temp_path
        except FileNotFoundError:  # removed since it was checked: made and checked again
            self._directories.pop(key.rpartition("/")[0], None)
            directory, _ = self._directory_for(key)
            temp_path = os.path.join(directory, temp_name)
            return directory, os.open(temp_path, _CREATE, 0o600), temp_path

    def _move_into_place(self, temp_path: str, key: str, directory: str, name: str) -> str:
        """Rename the written temp file to ``key``'s name; returns the directory it is in."""
        try:
            os.replace(temp_path, os.path.join(directory, name))
        except FileNotFoundError:
            if not os.path.exists(temp_path):
                raise
            # A spare lives elsewhere: the key's directory was removed since it was checked.
            self._directories.pop(key.rpartition("/")[0], None)
            directory, _ = self._directory_for(key)
            os.replace(temp_path, os.path.join(directory, name))
        return directory

    def _directory_for(self, key: str) -> tuple[str, bool]:
        """The directory a key's file goes in, made and checked (no symlink out of the root)
        once per process: objects of one kind and day share it. With it: whether a spare can
        be renamed into it (the same file system as the spares')."""
        parent = key.rpartition("/")[0]
        checked = self._directories.get(parent)
        if checked is None:
            resolved = self.path_for(key).parent
            resolved.mkdir(parents=True, exist_ok=True)
            checked = self._directories[parent] = (str(resolved), self._spares_fit(resolved))
        return checked

    def _spares_fit(self, directory: Path) -> bool:
        if self._spares is None:
            return False
        try:
            return directory.stat().st_dev == self.root.stat().st_dev
        except OSError:
            return False

    @staticmethod
    def _fsync_directory(directory: Path) -> None:
        # Makes the rename itself durable; not every platform lets a directory be opened.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    # -- reads ---------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFoundError() from exc

    def get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFoundError() from exc

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise InvalidInputError("Invalid byte range")
        try:
            # Opened now, so a missing object fails here rather than mid-response.
            source = self.path_for(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFoundError() from exc
        return self._read_chunks(source, start, end)

    def _read_chunks(self, source: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with source:
            source.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                wanted = self.chunk_size if remaining is None else min(self.chunk_size, remaining)
                chunk = source.read(wanted)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    # -- signed URLs ---------------------------------------------------------------------------

    def sign(self, key: str, expires: int, filename: str | None = None) -> str:
        """The ``sig`` query value for ``key`` valid until the unix time ``expires``."""
        digest = hmac.new(
            self._secret, _signature_message(key, expires, filename), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def signed_url(
        self,
        key: str,
        *,
        expires_in: int,
        base_url: str,
        filename: str | None = None,
        now: float | None = None,
    ) -> str:
        validate_key(key)
        if expires_in <= 0:
            raise InvalidInputError("expires_in must be positive", param="expires_in")
        expires = int(now if now is not None else time.time()) + int(expires_in)
        query = {"expires": str(expires), "sig": self.sign(key, expires, filename)}
        if filename is not None:
            query["filename"] = filename
        path = FILES_ROUTE_PREFIX + quote(key, safe="/")
        return f"{base_url.rstrip('/')}{path}?{urlencode(query)}"

    def verify_signature(
        self,
        key: str,
        expires: int | str | None,
        sig: str | None,
        *,
        filename: str | None = None,
        now: float | None = None,
    ) -> bool:
        """True if ``sig`` was made by ``sign`` for these values and ``expires`` is in the future.

        The comparison is constant-time; malformed input is simply ``False``.
        """
        if not sig or expires is None or not is_valid_key(key):
            return False
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        if expires_at <= (now if now is not None else time.time()):
            return False
        expected = self.sign(key, expires_at, filename)
        return hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8", "replace"))
