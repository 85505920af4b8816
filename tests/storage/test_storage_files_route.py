"""``GET /files/{key}`` on a minimal app: signed downloads, Range requests, refusals."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from api.http.routes.files import object_store, router
from api.settings import Settings
from api.storage.keys import new_object_key
from api.storage.local import LocalObjectStore
from api.storage.s3 import S3ObjectStore

AUDIO = os.urandom(200_000)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(store: object | None = None, settings: Settings | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    if store is not None:
        app.dependency_overrides[object_store] = lambda: store
    if settings is not None:
        # What create_api() provides: app.state.context.settings.
        app.state.context = SimpleNamespace(settings=settings)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(local_store: LocalObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_app(local_store)) as async_client:
        yield async_client


@pytest.fixture
def stored_key(local_store: LocalObjectStore) -> str:
    key = new_object_key("tts", "mp3")
    local_store.put(key, AUDIO, "audio/mpeg")
    return key


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _link(store: LocalObjectStore, key: str, filename: str | None = None) -> str:
    url = store.signed_url(key, expires_in=300, base_url="http://testserver", filename=filename)
    return _relative(url)


async def test_full_download(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    response = await client.get(_link(local_store, stored_key))

    assert response.status_code == 200
    assert response.content == AUDIO
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["content-length"] == str(len(AUDIO))
    assert response.headers["cache-control"].startswith("private")
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-disposition" not in response.headers  # plays inline in <audio>


async def test_range_request_for_seeking(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    link = _link(local_store, stored_key)

    middle = await client.get(link, headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206
    assert middle.content == AUDIO[1000:2000]
    assert middle.headers["content-range"] == f"bytes 1000-1999/{len(AUDIO)}"
    assert middle.headers["content-length"] == "1000"
    assert middle.headers["content-type"] == "audio/mpeg"

    tail = await client.get(link, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == AUDIO[-100:]

    open_ended = await client.get(link, headers={"Range": "bytes=199000-"})
    assert open_ended.status_code == 206
    assert open_ended.content == AUDIO[199_000:]


async def test_unsatisfiable_range(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    response = await client.get(
        _link(local_store, stored_key), headers={"Range": f"bytes={len(AUDIO)}-"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(AUDIO)}"


async def test_head_reports_the_size_without_a_body(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    response = await client.head(_link(local_store, stored_key))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(AUDIO))
    assert response.content == b""


async def test_download_name(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    response = await client.get(_link(local_store, stored_key, filename='我的"语音".mp3'))

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E6%88%91%E7%9A%84%E8%AF%AD%E9%9F%B3.mp3" in disposition


async def test_a_swapped_download_name_is_refused(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    link = _link(local_store, stored_key, filename="voice.mp3")
    response = await client.get(link.replace("filename=voice.mp3", "filename=evil.html"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "mangle",
    [
        lambda link: link.split("?")[0],  # no signature at all
        lambda link: link.replace("sig=", "sig=x"),  # tampered signature
        lambda link: link.replace("expires=", "expires=9"),  # extended expiry
        lambda link: link.replace("expires=", "expires=x"),  # malformed expiry
    ],
)
async def test_bad_signatures_get_403(
    client: httpx.AsyncClient,
    local_store: LocalObjectStore,
    stored_key: str,
    mangle: Callable[[str], str],
) -> None:
    response = await client.get(mangle(_link(local_store, stored_key)))

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid or expired link"}


async def test_an_expired_link_gets_403(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    link = _relative(
        local_store.signed_url(stored_key, expires_in=60, base_url="", now=time.time() - 120)
    )
    response = await client.get(link)
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid or expired link"}


async def test_a_signature_for_another_key_gets_403(
    client: httpx.AsyncClient, local_store: LocalObjectStore, stored_key: str
) -> None:
    other_key = new_object_key("tts", "mp3")
    local_store.put(other_key, b"someone else's audio", "audio/mpeg")
    link = _link(local_store, stored_key).replace(stored_key, other_key)

    assert (await client.get(link)).status_code == 403


async def test_a_missing_object_gets_404(
    client: httpx.AsyncClient, local_store: LocalObjectStore
) -> None:
    response = await client.get(_link(local_store, new_object_key("tts", "mp3")))

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


async def test_traversal_never_serves_a_file_outside_the_root(
    client: httpx.AsyncClient, local_store: LocalObjectStore, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    local_store.root.mkdir(parents=True, exist_ok=True)
    expires = int(time.time()) + 60
    for key in ("../secret.txt", "audio/../../secret.txt"):
        # Even a correctly computed signature cannot open a key that fails validation.
        sig = local_store.sign(key, expires)
        encoded = key.replace(".", "%2e")
        response = await client.get(f"/files/{encoded}?expires={expires}&sig={sig}")
        # Our own refusal, so the dotted key did reach the route rather than being normalized.
        assert response.status_code == 403
        assert response.json() == {"detail": "Invalid or expired link"}
        assert b"top secret" not in response.content


async def test_s3_backend_answers_404(tmp_path: Path, stored_key: str) -> None:
    s3 = S3ObjectStore("bucket", "http://127.0.0.1:9", access_key_id="a", secret_access_key="b")
    async with _client(_app(s3)) as client:
        response = await client.get(f"/files/{stored_key}?expires=1&sig=x")
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


async def test_the_default_dependency_uses_the_app_settings(tmp_path: Path) -> None:
    settings = Settings(
        environment="test",
        secret_key="route-settings-secret-0123456789",
        data_dir=tmp_path / "data",
        storage_backend="local",
    )
    store = LocalObjectStore(settings.objects_dir, settings.secret_key)
    key = new_object_key("tts", "wav")
    store.put(key, b"RIFF", "audio/wav")

    async with _client(_app(settings=settings)) as client:
        response = await client.get(_relative(store.signed_url(key, expires_in=60, base_url="")))

    assert response.status_code == 200
    assert response.content == b"RIFF"
    assert response.headers["content-type"] == "audio/wav"
