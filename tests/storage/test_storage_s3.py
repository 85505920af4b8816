"""S3ObjectStore against a real S3 wire protocol: moto's server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from api.errors import InvalidInputError
from api.settings import Settings
from api.storage import ObjectStore, get_object_store
from api.storage.base import ObjectNotFoundError, StorageUnavailableError
from api.storage.keys import new_object_key
from api.storage.local import LocalObjectStore
from api.storage.s3 import S3ObjectStore

AUDIO = os.urandom(150_000)


def _fetch(url: str, **kwargs: object) -> httpx.Response:
    # trust_env=False: a proxy configured in the environment must not capture loopback traffic.
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(url, **kwargs)  # type: ignore[arg-type]


def test_is_an_object_store(s3_store: S3ObjectStore) -> None:
    assert isinstance(s3_store, ObjectStore)


def test_put_get_exists_size_delete(s3_store: S3ObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    assert not s3_store.exists(key)

    s3_store.put(key, AUDIO, "audio/mpeg")

    assert s3_store.exists(key)
    assert s3_store.get(key) == AUDIO
    assert s3_store.size(key) == len(AUDIO)
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)
    assert head["ContentType"] == "audio/mpeg"

    s3_store.delete(key)
    assert not s3_store.exists(key)
    s3_store.delete(key)  # deleting twice is not an error


def test_missing_objects_raise_not_found(s3_store: S3ObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    with pytest.raises(ObjectNotFoundError, match="File not found"):
        s3_store.get(key)
    with pytest.raises(ObjectNotFoundError):
        s3_store.size(key)
    with pytest.raises(ObjectNotFoundError):
        s3_store.open(key)


def test_open_ranges(s3_store: S3ObjectStore) -> None:
    key = new_object_key("tts", "wav")
    s3_store.put(key, AUDIO, "audio/wav")

    assert b"".join(s3_store.open(key, start=1000, end=2000)) == AUDIO[1000:2000]
    assert b"".join(s3_store.open(key, start=149_000)) == AUDIO[149_000:]
    assert b"".join(s3_store.open(key, start=5, end=5)) == b""
    assert b"".join(s3_store.open(key, start=len(AUDIO) + 10)) == b""
    with pytest.raises(InvalidInputError):
        s3_store.open(key, start=10, end=5)


def test_put_stream_and_put_file(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    streamed = new_object_key("tts", "pcm")
    size = s3_store.put_stream(
        streamed, (AUDIO[i : i + 4096] for i in range(0, 150_000, 4096)), "audio/pcm"
    )
    assert size == len(AUDIO)
    assert s3_store.get(streamed) == AUDIO

    source = tmp_path / "sample.flac"
    source.write_bytes(AUDIO[::-1])
    from_file = new_object_key("voice", "flac")
    s3_store.put_file(from_file, source, "audio/flac")
    assert s3_store.get(from_file) == AUDIO[::-1]


def test_presigned_url_downloads_the_object(s3_store: S3ObjectStore, s3_endpoint: str) -> None:
    key = new_object_key("tts", "mp3")
    s3_store.put(key, AUDIO, "audio/mpeg")

    url = s3_store.signed_url(key, expires_in=300, base_url="http://ignored")

    # Path-style on the custom endpoint: no wildcard DNS needed.
    assert url.startswith(f"{s3_endpoint}/{s3_store.bucket}/{key}?")
    assert "X-Amz-Signature=" in url
    response = _fetch(url)
    assert response.status_code == 200
    assert response.content == AUDIO
    assert response.headers["content-type"] == "audio/mpeg"

    seek = _fetch(url, headers={"Range": "bytes=100-199"})
    assert seek.status_code == 206
    assert seek.content == AUDIO[100:200]


def test_presigned_url_with_a_download_name(s3_store: S3ObjectStore) -> None:
    key = new_object_key("tts", "mp3")
    s3_store.put(key, AUDIO, "audio/mpeg")

    url = s3_store.signed_url(key, expires_in=300, base_url="", filename="我的语音.mp3")

    assert "response-content-disposition=" in url
    response = _fetch(url)
    assert response.status_code == 200
    assert response.content == AUDIO
    assert response.headers["content-disposition"].startswith("attachment;")


def test_the_bucket_is_created_on_first_write(make_s3_store: Callable[..., S3ObjectStore]) -> None:
    store: S3ObjectStore = make_s3_store()
    key = new_object_key("upload", "wav")

    store.put(key, b"RIFF", "audio/wav")  # no ensure_bucket() call first

    assert store.get(key) == b"RIFF"
    store.ensure_bucket()  # idempotent


def test_bucket_in_another_region(make_s3_store: Callable[..., S3ObjectStore]) -> None:
    store: S3ObjectStore = make_s3_store(region="eu-central-1")
    store.ensure_bucket()
    location = store.client.get_bucket_location(Bucket=store.bucket)
    assert location["LocationConstraint"] == "eu-central-1"


def test_keys_are_validated_before_any_request(s3_store: S3ObjectStore) -> None:
    for operation in (
        lambda: s3_store.put("../x.mp3", b"x", "audio/mpeg"),
        lambda: s3_store.get("/abs.mp3"),
        lambda: s3_store.exists("a\\b.mp3"),
        lambda: s3_store.delete("audio/../x.mp3"),
        lambda: s3_store.signed_url("../x.mp3", expires_in=60, base_url=""),
    ):
        with pytest.raises(InvalidInputError):
            operation()


def test_an_unreachable_endpoint_fails_fast_with_a_generic_error(
    make_s3_store: Callable[..., S3ObjectStore],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    store: S3ObjectStore = make_s3_store(endpoint=f"http://127.0.0.1:{closed_port}")

    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as raised:
        store.put(new_object_key("tts", "mp3"), b"x", "audio/mpeg")
    assert time.monotonic() - started < 10
    assert raised.value.status == 503
    assert "testing-secret-key" not in raised.value.message
    assert "testing-secret-key" not in repr(store)


def test_the_client_is_built_lazily() -> None:
    store = S3ObjectStore("bucket", "http://127.0.0.1:9", access_key_id="a", secret_access_key="b")
    assert store._client is None  # constructing a store makes no connection
    config = store.client.meta.config
    assert config.connect_timeout == 5
    assert config.read_timeout == 30
    assert config.retries["total_max_attempts"] == 3
    assert config.s3["addressing_style"] == "path"


def test_factory_picks_the_backend_and_caches(tmp_path: Path, s3_endpoint: str) -> None:
    local_settings = Settings(
        environment="test", secret_key="factory-secret-0123456789", data_dir=tmp_path
    )
    local = get_object_store(local_settings)
    assert isinstance(local, LocalObjectStore)
    assert local.root == (tmp_path / "objects").resolve()
    assert get_object_store(local_settings.model_copy()) is local

    s3_settings = Settings(
        environment="test",
        secret_key="factory-secret-0123456789",
        data_dir=tmp_path,
        storage_backend="s3",
        s3_bucket="factory-bucket",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="testing-access-key",
        s3_secret_access_key="testing-secret-key",
    )
    s3 = get_object_store(s3_settings)
    assert isinstance(s3, S3ObjectStore)
    assert s3.bucket == "factory-bucket"
    assert get_object_store(s3_settings) is s3

    key = new_object_key("tts", "mp3")
    s3.put(key, b"through the factory", "audio/mpeg")
    assert s3.get(key) == b"through the factory"
