"""LocalObjectStore: files under a root, atomic writes, and HMAC-signed URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from api.errors import InvalidInputError
from api.storage import ObjectStore
from api.storage.base import ObjectNotFoundError
from api.storage.keys import new_object_key
from api.storage.local import LocalObjectStore

SECRET = "storage-test-secret-0123456789"
BASE_URL = "http://localhost:8888"


def _files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_is_an_object_store(local_store: LocalObjectStore) -> None:
    assert isinstance(local_store, ObjectStore)


def test_put_get_exists_size_delete(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    assert not local_store.exists(key)

    local_store.put(key, b"ID3 audio bytes", "audio/mpeg")

    assert local_store.exists(key)
    assert local_store.get(key) == b"ID3 audio bytes"
    assert local_store.size(key) == len(b"ID3 audio bytes")
    assert (local_store.root / key).read_bytes() == b"ID3 audio bytes"

    local_store.delete(key)
    assert not local_store.exists(key)
    local_store.delete(key)  # deleting twice is not an error


def test_missing_objects_raise_not_found(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    with pytest.raises(ObjectNotFoundError, match="File not found"):
        local_store.get(key)
    with pytest.raises(ObjectNotFoundError):
        local_store.size(key)
    with pytest.raises(ObjectNotFoundError):
        local_store.open(key)  # at call time, not on first iteration


def test_put_replaces_and_leaves_no_temp_files(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "wav")
    local_store.put(key, b"old", "audio/wav")
    local_store.put(key, b"new and longer", "audio/wav")

    assert local_store.get(key) == b"new and longer"
    assert _files_under(local_store.root) == [local_store.root / key]


def test_a_failed_write_keeps_the_old_object_and_no_partial_file(
    local_store: LocalObjectStore,
) -> None:
    key = new_object_key("tts", "mp3")
    local_store.put(key, b"complete", "audio/mpeg")

    def encoder_that_fails() -> Iterator[bytes]:
        yield b"half of the "
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        local_store.put_stream(key, encoder_that_fails(), "audio/mpeg")

    assert local_store.get(key) == b"complete"
    assert _files_under(local_store.root) == [local_store.root / key]


def test_put_stream_and_put_file(local_store: LocalObjectStore, tmp_path: Path) -> None:
    streamed = new_object_key("tts", "pcm")
    size = local_store.put_stream(streamed, (bytes([n]) * 1000 for n in range(100)), "audio/pcm")
    assert size == 100_000
    assert local_store.get(streamed) == b"".join(bytes([n]) * 1000 for n in range(100))

    source = tmp_path / "big.wav"
    source.write_bytes(os.urandom(300_000))
    from_file = new_object_key("upload", "wav")
    local_store.put_file(from_file, source, "audio/wav")
    assert local_store.get(from_file) == source.read_bytes()


def test_open_streams_chunks_and_ranges(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, SECRET, chunk_size=7)
    key = new_object_key("tts", "mp3")
    data = bytes(range(256)) * 4
    store.put(key, data, "audio/mpeg")

    chunks = list(store.open(key))
    assert all(len(chunk) <= 7 for chunk in chunks)
    assert b"".join(chunks) == data
    assert b"".join(store.open(key, start=100)) == data[100:]
    assert b"".join(store.open(key, start=10, end=30)) == data[10:30]
    assert b"".join(store.open(key, start=5, end=5)) == b""
    assert b"".join(store.open(key, start=2000)) == b""
    with pytest.raises(InvalidInputError):
        store.open(key, start=10, end=5)


@pytest.mark.parametrize("key", ["../outside.mp3", "audio/../../outside.mp3", "/etc/passwd"])
def test_every_operation_refuses_traversal(local_store: LocalObjectStore, key: str) -> None:
    operations = [
        lambda: local_store.put(key, b"x", "audio/mpeg"),
        lambda: local_store.get(key),
        lambda: local_store.exists(key),
        lambda: local_store.delete(key),
        lambda: local_store.size(key),
        lambda: local_store.open(key),
        lambda: local_store.signed_url(key, expires_in=60, base_url=BASE_URL),
    ]
    for operation in operations:
        with pytest.raises(InvalidInputError):
            operation()
    assert not (local_store.root.parent / "outside.mp3").exists()


def test_a_symlink_cannot_lead_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwd.txt").write_text("root:x:0:0")
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    (tmp_path / "objects" / "audio").mkdir(parents=True)
    (tmp_path / "objects" / "audio" / "link").symlink_to(outside)

    with pytest.raises(InvalidInputError):
        store.get("audio/link/passwd.txt")


# -- signed URLs -------------------------------------------------------------------------------


def _expected_sig(key: str, expires: int, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_signed_url_shape(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    url = local_store.signed_url(key, expires_in=600, base_url=BASE_URL + "/", now=1_700_000_000)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL
    assert parts.path == f"/files/{key}"
    query = parse_qs(parts.query)
    assert query["expires"] == ["1700000600"]
    assert query["sig"] == [_expected_sig(key, 1_700_000_600)]
    assert "=" not in query["sig"][0]


def test_a_fresh_signature_verifies(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    query = parse_qs(urlsplit(local_store.signed_url(key, expires_in=60, base_url="")).query)

    assert local_store.verify_signature(key, query["expires"][0], query["sig"][0])


def test_tampered_signatures_are_refused(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    other_key = new_object_key("tts", "mp3")
    expires = int(time.time()) + 600
    sig = local_store.sign(key, expires)

    assert local_store.verify_signature(key, expires, sig)
    assert not local_store.verify_signature(other_key, expires, sig)
    assert not local_store.verify_signature(key, expires + 1, sig)
    assert not local_store.verify_signature(
        key, expires, sig[:-1] + ("A" if sig[-1] != "A" else "B")
    )
    assert not local_store.verify_signature(key, expires, "")
    assert not local_store.verify_signature(key, expires, None)
    assert not local_store.verify_signature(key, None, sig)
    assert not local_store.verify_signature(key, "soon", sig)
    assert not local_store.verify_signature(key, expires, "ünïcode")
    other_secret = LocalObjectStore(local_store.root, "another-secret-0123456789")
    assert not other_secret.verify_signature(key, expires, sig)


def test_expired_signatures_are_refused(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    url = local_store.signed_url(key, expires_in=60, base_url="", now=1_700_000_000)
    query = parse_qs(urlsplit(url).query)
    expires, sig = query["expires"][0], query["sig"][0]

    assert local_store.verify_signature(key, expires, sig, now=1_700_000_059)
    assert not local_store.verify_signature(key, expires, sig, now=1_700_000_060)
    assert not local_store.verify_signature(key, expires, sig)  # real clock: long past


def test_the_download_name_is_part_of_the_signature(local_store: LocalObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    url = local_store.signed_url(key, expires_in=60, base_url="", filename="我的语音.mp3")
    query = parse_qs(urlsplit(url).query)
    expires, sig = query["expires"][0], query["sig"][0]

    assert query["filename"] == ["我的语音.mp3"]
    assert local_store.verify_signature(key, expires, sig, filename="我的语音.mp3")
    assert not local_store.verify_signature(key, expires, sig, filename="other.mp3")
    assert not local_store.verify_signature(key, expires, sig)


def test_signed_url_needs_a_positive_lifetime(local_store: LocalObjectStore) -> None:
    with pytest.raises(InvalidInputError):
        local_store.signed_url(new_object_key("tts", "mp3"), expires_in=0, base_url="")


def test_objects_are_fsynced_exactly_when_the_database_syncs_its_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are as durable as the rows that point at them: SQLite NORMAL (the default) may
    lose its last commits to a power cut, so its files skip the two syncs; FULL and PostgreSQL
    sync both."""
    from api.settings import Settings
    from api.storage import get_object_store

    synced: list[int] = []
    monkeypatch.setattr("api.storage.local.os.fsync", lambda fd: synced.append(fd))

    def syncs(**overrides: str) -> int:
        synced.clear()
        settings = Settings(environment="development", data_dir=tmp_path, **overrides)
        store = get_object_store(settings)
        assert isinstance(store, LocalObjectStore)
        store.put(new_object_key("tts", "wav"), b"RIFF", "audio/wav")
        return len(synced)

    assert syncs() == 0
    assert syncs(sqlite_synchronous="FULL") == 2  # the file, then its directory entry
    assert syncs(database_url="postgresql://nobody@127.0.0.1:1/none") == 2


# -- the write path's directory, checked once per process ---------------------------------------


def test_a_write_after_its_directory_was_removed_makes_it_again(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    first, second = new_object_key("tts", "mp3"), new_object_key("tts", "mp3")
    store.put(first, b"one", "audio/mpeg")
    directory = (store.root / first).parent
    (directory / first.rpartition("/")[2]).unlink()
    directory.rmdir()  # e.g. an operator's clean-up of an old day

    store.put(second, b"two", "audio/mpeg")

    assert store.get(second) == b"two"
    assert [path.name for path in directory.iterdir()] == [second.rpartition("/")[2]]


def test_written_objects_are_readable_by_others_whatever_the_umask(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    key = new_object_key("tts", "wav")
    previous = os.umask(0o077)
    try:
        store.put(key, b"RIFF", "audio/wav")
    finally:
        os.umask(previous)
    assert (store.root / key).stat().st_mode & 0o777 == 0o644


def test_a_symlinked_directory_is_refused_for_writes_too(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    (tmp_path / "objects" / "audio").mkdir(parents=True)
    (tmp_path / "objects" / "audio" / "link").symlink_to(outside)

    with pytest.raises(InvalidInputError):
        store.put("audio/link/planted.mp3", b"x", "audio/mpeg")
    assert list(outside.iterdir()) == []
