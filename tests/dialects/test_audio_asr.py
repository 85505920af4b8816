"""Seed 001 speech recognition over HTTP (``/api/audio/asr``): golden requests and answers.

On the fake engines (FakeASR always hears "Hello world. This is a test."), plus one request on
the real offline recogniser. ``audio_url``/``file_url`` point at a loopback server that the
operator allowlist (``fetch_allowed_hosts``) admits, as an operator's private store would be.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api import audio
from api.accounts.models import User
from api.billing.money import format_yuan
from api.billing.pricing import Usage
from api.db import Database, utcnow
from api.engines.base import Pcm
from api.engines.fakes import tone
from api.errors import UpstreamError
from api.jobs import service as jobs
from api.settings import Settings
from api.speech.context import SpeechContext
from tests.dialects.conftest import Account, balance
from tests.dialects.envelope import assert_envelope_error, assert_ok
from tests.helpers import make_key, make_user
from tests.speech.conftest import Fakes

HEARD = "Hello world. This is a test."
EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "surprised", "disgusted")


# --- fixtures shared with test_audio_voice ----------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The loopback audio server is on the operator allowlist (like a private object store)."""
    return settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"]})


@dataclass
class AudioServer:
    base_url: str
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def serve(self, path: str, data: bytes, content_type: str = "audio/wav") -> str:
        self.files[path] = (data, content_type)
        return f"{self.base_url}{path}"


@pytest.fixture
def audio_server() -> Iterator[AudioServer]:
    """A plain HTTP server on 127.0.0.1 that serves the bytes a test puts on it."""
    holder: dict[str, AudioServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server = holder["server"]
            server.hits.append(self.path)
            found = server.files.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["server"] = AudioServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder["server"]
    httpd.shutdown()
    httpd.server_close()


def wav(seconds: float, rate: int = 16000) -> bytes:
    return audio.encode(Pcm(tone(round(seconds * rate), rate, 220.0), rate), "wav")


def user_of(db: Database, account: Account) -> User:
    email = account.session["X-Test-Email"]
    with db.read() as session:
        return session.exec(select(User).where(User.email == email)).one()


def micros(db: Database, account: Account) -> int:
    return user_of(db, account).balance_micros


def per_second(speech: SpeechContext, model: str, ms: int) -> int:
    return speech.catalog.model(model).price.cost(Usage(audio_ms=ms))


def history_items(client: TestClient, account: Account, kind: str) -> list[dict[str, Any]]:
    response = client.get("/api/history", params={"type": kind}, headers=account.session)
    return assert_ok(response)["items"]


def revoke(client: TestClient, account: Account) -> None:
    [key] = assert_ok(client.get("/api/keys", headers=account.session))
    assert_ok(client.delete(f"/api/keys/{key['id']}", headers=account.session))


# --- models -----------------------------------------------------------------------------------


def test_models_lists_the_seed_models_with_their_engine(
    client: TestClient, account: Account
) -> None:
    response = client.get("/api/audio/asr/models", headers=account.bearer)
    models = {m["model_id"]: m for m in assert_ok(response)}
    assert {"qwen3-asr-flash", "qwen-audio-asr", "qwen3-asr-flash-filetrans"} <= set(models)
    flash = models["qwen3-asr-flash"]
    assert flash["model_name"] == "通义千问3-ASR-Flash"
    assert flash["description"] == "快速识别,支持上下文增强"
    assert flash["call_type"] == "sync"
    assert flash["features"] == ["上下文增强", "情感识别", "多语种"]
    assert flash["engine"] == "faster-whisper-base" and flash["provider"] == "offline"
    assert models["qwen3-asr-flash-filetrans"]["call_type"] == "async"
    assert all(m["call_type"] in ("sync", "async") for m in models.values())
    assert "X-Cost" not in response.headers  # free


def test_models_needs_a_valid_key(client: TestClient) -> None:
    assert_envelope_error(client.get("/api/audio/asr/models"), 401, "UNAUTHORIZED")
    response = client.get("/api/audio/asr/models", headers={"X-API-Key": "sk-not-a-real-key"})
    assert_envelope_error(response, 401)


# --- recognize: success ----------------------------------------------------------------------


def test_recognize_the_seed_json_example_with_an_audio_url(
    client: TestClient,
    account: Account,
    audio_server: AudioServer,
    speech: SpeechContext,
    fakes: Fakes,
    db: Database,
) -> None:
    url = audio_server.serve("/audio/input.wav", wav(3.0, 44100))
    before = micros(db, account)
    body = {"model": "qwen3-asr-flash", "audio_url": url, "language": "zh", "enable_itn": True}
    response = client.post("/api/audio/asr/recognize", headers=account.bearer, json=body)

    data = assert_ok(response)
    cost = per_second(speech, "qwen3-asr-flash", 3000)
    assert data == {
        "text": HEARD,
        "language": "zh",
        "emotion": "neutral",
        "duration": 3,
        "usage": {"input_tokens": 0, "output_tokens": 6, "seconds": 3},
        "bill": format_yuan(cost),
        "record_id": data["record_id"],
    }
    assert response.headers["X-Cost"] == format_yuan(cost)
    assert response.headers["X-Billed-Seconds"] == "3.000"
    assert response.headers["X-Balance-Remaining"] == format_yuan(before - cost)
    assert float(response.headers["X-Gateway-Overhead-Ms"]) >= 0
    assert micros(db, account) == before - cost
    assert audio_server.hits == ["/audio/input.wav"]
    [request] = fakes.asr.requests
    assert request.language == "zh" and request.audio.sample_rate == 16000

    [item] = history_items(client, account, "asr")
    assert item["id"] == data["record_id"] and item["model"] == "qwen3-asr-flash"
    assert item["bill"] == format_yuan(cost) and item["output_text"] == HEARD
    assert item["input"]["audio_url"] == url and item["input"]["enable_itn"] is True


def test_recognize_a_multipart_upload_like_the_seed_frontend(
    client: TestClient, account: Account, speech: SpeechContext, db: Database
) -> None:
    before = micros(db, account)
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.bearer,
        data={"model": "qwen-audio-asr", "enable_itn": "false", "language": "en"},
        files={"file": ("clip.wav", wav(2.5), "audio/wav")},
    )
    data = assert_ok(response)
    cost = per_second(speech, "qwen-audio-asr", 2500)
    assert data["text"] == HEARD and data["language"] == "en"
    assert data["duration"] == 3  # 2.5 s, rounded up
    assert data["usage"] == {"input_tokens": 0, "output_tokens": 6, "seconds": 3}
    assert data["bill"] == format_yuan(cost) and response.headers["X-Billed-Seconds"] == "2.500"
    assert micros(db, account) == before - cost
    [item] = history_items(client, account, "asr")
    assert item["input"]["file"] == "clip.wav"


def test_recognize_base64_with_context_as_the_prompt(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    encoded = base64.b64encode(wav(1.0)).decode()
    body = {
        "model": "qwen3-asr-flash",
        "audio_base64": f"data:audio/wav;base64,{encoded}",
        "context": "Amphion, DashScope",
    }
    response = client.post("/api/audio/asr/recognize", headers=account.headers, json=body)
    data = assert_ok(response)
    assert data["duration"] == 1 and data["text"] == HEARD
    [request] = fakes.asr.requests
    assert request.prompt == "Amphion, DashScope" and request.language is None


def test_chinese_output_tokens_count_characters(
    client: TestClient, account: Account, fakes: Fakes
) -> None:
    fakes.asr.text = "欢迎使用语音识别服务。"
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash"},
        files={"file": ("a.wav", wav(1.0), "audio/wav")},
    )
    data = assert_ok(response)
    assert data["text"] == "欢迎使用语音识别服务。" and data["usage"]["output_tokens"] == 10


# --- recognize: errors -----------------------------------------------------------------------


def test_recognize_refuses_bad_input_and_charges_nothing(
    client: TestClient, account: Account, audio_server: AudioServer, db: Database
) -> None:
    before = micros(db, account)
    url = audio_server.serve("/a.wav", wav(1.0))
    flash = {"model": "qwen3-asr-flash"}
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        # (request keywords, status, error_code)
        ({"json": {"audio_url": url}}, 400, "INVALID_INPUT"),  # no model
        ({"json": flash}, 400, "INVALID_INPUT"),  # no audio
        ({"json": {**flash, "audio_url": url, "audio_base64": "AAAA"}}, 400, "INVALID_INPUT"),
        ({"json": {"model": "nope", "audio_url": url}}, 400, "INVALID_MODEL"),
        ({"json": {"model": "tts-1", "audio_url": url}}, 400, "INVALID_MODEL"),
        # the async model belongs to asr/transcribe
        ({"json": {"model": "qwen3-asr-flash-filetrans", "audio_url": url}}, 400, "INVALID_MODEL"),
        ({"json": {**flash, "audio_url": url, "language": "xx"}}, 400, "INVALID_INPUT"),
        ({"json": {**flash, "audio_url": url, "enable_itn": "maybe"}}, 400, "INVALID_INPUT"),
        ({"json": {**flash, "audio_base64": "not base64!"}}, 400, "INVALID_AUDIO"),
        ({"json": {**flash, "audio_url": "http://10.0.0.1/a.wav"}}, 400, "INVALID_URL"),
        ({"json": {**flash, "audio_url": "file:///etc/passwd"}}, 400, "INVALID_URL"),
        ({"json": {**flash, "audio_url": audio_server.base_url + "/gone"}}, 400, "INVALID_URL"),
        ({"content": b"{not json", "ctype": "application/json"}, 400, "INVALID_INPUT"),
        ({"content": b"[1, 2]", "ctype": "application/json"}, 400, "INVALID_INPUT"),
        ({"content": b"model=x", "ctype": "text/plain"}, 415, "UNSUPPORTED_MEDIA"),
        # a multipart request without its file, or with the file under another name
        ({"data": flash}, 400, "INVALID_INPUT"),
        ({"data": flash, "files": {"audio": ("a.wav", wav(1.0), "audio/wav")}}, 400, None),
    ]
    for keywords, status, code in cases:
        headers = dict(account.headers)
        if "ctype" in keywords:
            headers["Content-Type"] = keywords.pop("ctype")
        response = client.post("/api/audio/asr/recognize", headers=headers, **keywords)
        assert_envelope_error(response, status, code)
    assert micros(db, account) == before
    assert history_items(client, account, "asr") == []


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("archive.wav", b"PK\x03\x04" + b"\0" * 400, 415, "UNSUPPORTED_MEDIA"),
        ("empty.wav", b"", 400, "INVALID_AUDIO"),
        ("noise.mp3", bytes(range(256)) * 8, 415, "UNSUPPORTED_MEDIA"),
    ],
)
def test_recognize_probes_the_audio_not_the_file_name(
    client: TestClient,
    account: Account,
    db: Database,
    name: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    before = micros(db, account)
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash"},
        files={"file": (name, content, "audio/wav")},
    )
    assert_envelope_error(response, status, code)
    assert micros(db, account) == before


def test_recognize_limits_short_audio_to_sixty_seconds(
    client: TestClient, account: Account, db: Database
) -> None:
    before = micros(db, account)
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash"},
        files={"file": ("long.wav", wav(65.0, 8000), "audio/wav")},
    )
    body = assert_envelope_error(response, 400, "AUDIO_TOO_LONG")
    assert "60" in body["message"]
    assert micros(db, account) == before


def test_recognize_refuses_files_over_the_model_size_limit(
    client: TestClient, account: Account, audio_server: AudioServer, db: Database
) -> None:
    before = micros(db, account)
    too_big = b"\0" * (10 * 1024 * 1024 + 1)  # qwen3-asr-flash takes 10 MB
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash"},
        files={"file": ("big.wav", too_big, "audio/wav")},
    )
    assert_envelope_error(response, 413, "PAYLOAD_TOO_LARGE")
    big_url = audio_server.serve("/big.wav", too_big)
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        json={"model": "qwen3-asr-flash", "audio_url": big_url},
    )
    assert_envelope_error(response, 413, "PAYLOAD_TOO_LARGE")
    huge_base64 = "A" * (14 * 1024 * 1024)  # refused before decoding
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        json={"model": "qwen3-asr-flash", "audio_base64": huge_base64},
    )
    assert_envelope_error(response, 413)
    assert micros(db, account) == before


def test_recognize_auth_scope_balance_and_rate_limit(
    client: TestClient,
    account: Account,
    make_account: Any,
    db: Database,
    settings: Settings,
) -> None:
    files = {"file": ("a.wav", wav(1.0), "audio/wav")}
    form = {"model": "qwen3-asr-flash"}
    path = "/api/audio/asr/recognize"
    assert_envelope_error(client.post(path, data=form, files=files), 401, "UNAUTHORIZED")
    bad_key = {"Authorization": "Bearer sk-invalid"}
    assert_envelope_error(client.post(path, data=form, files=files, headers=bad_key), 401)

    tts_only = make_account(scopes=["tts"])
    response = client.post(path, data=form, files=files, headers=tts_only.headers)
    assert_envelope_error(response, 403, "SCOPE_DENIED")

    revoked = make_account()
    revoke(client, revoked)
    response = client.post(path, data=form, files=files, headers=revoked.headers)
    assert_envelope_error(response, 403, "KEY_REVOKED")

    poor = make_user(db, settings, balance_micros=1)
    _, poor_key = make_key(db, settings, poor)
    response = client.post(path, data=form, files=files, headers={"X-API-Key": poor_key})
    assert_envelope_error(response, 403, "INSUFFICIENT_BALANCE")

    capped = make_account(spend_cap="0.0001")
    response = client.post(path, data=form, files=files, headers=capped.headers)
    assert_envelope_error(response, 403, "SPEND_CAP_EXCEEDED")

    slow = make_account(rpm_limit=1)
    assert_ok(client.post(path, data=form, files=files, headers=slow.headers))
    response = client.post(path, data=form, files=files, headers=slow.headers)
    assert_envelope_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("failure", "status"),
    [(UpstreamError("The recogniser is unavailable"), 502), (RuntimeError("/srv/secret"), 500)],
)
def test_an_engine_failure_is_a_5xx_that_costs_nothing(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    failure: Exception,
    status: int,
) -> None:
    before = micros(db, account)
    fakes.asr.fail = failure
    response = client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash"},
        files={"file": ("a.wav", wav(1.0), "audio/wav")},
    )
    body = assert_envelope_error(response, status)
    assert "/srv/secret" not in response.text
    if status == 502:
        assert body["error_code"] == "UPSTREAM_ERROR"
    assert micros(db, account) == before
    assert "X-Cost" not in response.headers


# --- transcribe and task -----------------------------------------------------------------------


def test_transcription_task_lifecycle_from_the_seed_example(
    client: TestClient,
    account: Account,
    audio_server: AudioServer,
    speech: SpeechContext,
    db: Database,
    finish_jobs: Any,
) -> None:
    url = audio_server.serve("/audio/long-audio.wav", wav(75.0, 8000))  # > 60 s is fine here
    before = micros(db, account)
    body = {
        "model": "qwen3-asr-flash-filetrans",
        "file_url": url,
        "language": "zh",
        "enable_itn": True,
    }
    response = client.post("/api/audio/asr/transcribe", headers=account.bearer, json=body)
    submitted = assert_ok(response)
    assert set(submitted) == {"task_id", "task_status", "record_id"}
    assert submitted["task_status"] == "PENDING"
    task_path = f"/api/audio/asr/task/{submitted['task_id']}"

    pending = assert_ok(client.get(task_path, headers=account.bearer))
    assert pending["task_id"] == submitted["task_id"] and pending["task_status"] == "PENDING"
    assert set(pending) == {"task_id", "task_status", "submit_time"}
    assert len(pending["submit_time"]) == 19 and pending["submit_time"][10] == " "

    # A worker claims the task (its lease already run out, so the next run takes it over).
    with db.write() as session:
        jobs.claim_next(
            session,
            worker_id="test-worker",
            lease_seconds=0.001,
            dialect="sqlite",
            now=utcnow(),
        )
    running = assert_ok(client.get(task_path, headers=account.bearer))
    assert running["task_status"] == "RUNNING" and running["scheduled_time"]
    assert "end_time" not in running and "result" not in running

    finish_jobs()

    done = assert_ok(client.get(task_path, headers=account.bearer))
    cost = per_second(speech, "qwen3-asr-flash-filetrans", 75_000)
    assert done["task_status"] == "SUCCEEDED"
    assert set(done) == {
        "task_id",
        "task_status",
        "submit_time",
        "scheduled_time",
        "end_time",
        "result",
        "usage",
        "bill",
    }
    assert done["end_time"] >= done["scheduled_time"]
    assert done["usage"] == {"seconds": 75} and done["bill"] == format_yuan(cost)
    [transcript] = done["result"]["transcripts"]
    assert transcript["channel_id"] == 0 and transcript["text"] == HEARD
    first, second = transcript["sentences"]
    assert first == {
        "begin_time": 0,
        "end_time": first["end_time"],
        "text": "Hello world.",
        "sentence_id": 0,
        "language": "zh",
        "emotion": "neutral",
    }
    assert second["sentence_id"] == 1 and second["end_time"] == 75_000
    assert micros(db, account) == before - cost

    link = done["result"]["transcription_url"]
    assert link.startswith("http://testserver/files/")
    stored = client.get(link)
    assert stored.status_code == 200
    assert json.loads(stored.content)["transcripts"] == done["result"]["transcripts"]

    [item] = history_items(client, account, "asr")
    assert item["id"] == submitted["record_id"] and item["status"] == "succeeded"
    assert item["bill"] == format_yuan(cost) and item["job_id"] == submitted["task_id"]


def test_transcribe_accepts_a_multipart_file(
    client: TestClient, account: Account, finish_jobs: Any
) -> None:
    response = client.post(
        "/api/audio/asr/transcribe",
        headers=account.headers,
        data={"model": "qwen3-asr-flash-filetrans", "channel_id": "0"},
        files={"file": ("meeting.wav", wav(5.0), "audio/wav")},
    )
    task = assert_ok(response)
    finish_jobs()
    done = assert_ok(client.get(f"/api/audio/asr/task/{task['task_id']}", headers=account.headers))
    assert done["task_status"] == "SUCCEEDED" and done["usage"] == {"seconds": 5}


def test_a_failed_task_says_why_without_internals_and_costs_nothing(
    client: TestClient,
    account: Account,
    fakes: Fakes,
    db: Database,
    finish_jobs: Any,
) -> None:
    before = micros(db, account)
    tasks = []
    for failure in (UpstreamError("The recogniser is unavailable"), RuntimeError("/srv/secret")):
        response = client.post(
            "/api/audio/asr/transcribe",
            headers=account.headers,
            data={"model": "qwen3-asr-flash-filetrans"},
            files={"file": ("a.wav", wav(2.0), "audio/wav")},
        )
        tasks.append(assert_ok(response)["task_id"])
        fakes.asr.fail = failure
        finish_jobs()
    upstream, internal = (
        assert_ok(client.get(f"/api/audio/asr/task/{task}", headers=account.headers))
        for task in tasks
    )
    assert upstream["task_status"] == "FAILED" and upstream["end_time"]
    assert upstream["message"] == "The recogniser is unavailable"
    assert upstream["bill"] == "0.0000" and "result" not in upstream
    assert internal["task_status"] == "FAILED" and "secret" not in internal["message"]
    assert micros(db, account) == before
    assert {item["status"] for item in history_items(client, account, "asr")} == {"failed"}


def test_transcribe_refuses_bad_input(
    client: TestClient, account: Account, audio_server: AudioServer, db: Database
) -> None:
    before = micros(db, account)
    url = audio_server.serve("/a.wav", wav(1.0))
    path = "/api/audio/asr/transcribe"
    cases = [
        ({"model": "qwen3-asr-flash-filetrans"}, 400, "INVALID_INPUT"),  # no file_url
        ({"model": "qwen3-asr-flash", "file_url": url}, 400, "INVALID_MODEL"),  # a sync model
        ({"model": "qwen3-asr-flash-filetrans", "file_url": url, "language": "xx"}, 400, None),
        ({"model": "qwen3-asr-flash-filetrans", "file_url": url, "channel_id": [1]}, 400, None),
        ({"model": "qwen3-asr-flash-filetrans", "file_url": url, "channel_id": "x"}, 400, None),
        ({"model": "qwen3-asr-flash-filetrans", "file_url": "ftp://x/a.wav"}, 400, "INVALID_URL"),
    ]
    for body, status, code in cases:
        assert_envelope_error(client.post(path, headers=account.headers, json=body), status, code)
    zipped = audio_server.serve("/a.zip.wav", b"PK\x03\x04" + b"\0" * 300)
    response = client.post(
        path,
        headers=account.headers,
        json={"model": "qwen3-asr-flash-filetrans", "file_url": zipped},
    )
    assert_envelope_error(response, 415)
    assert micros(db, account) == before
    assert history_items(client, account, "asr") == []


def test_tasks_are_private_and_unknown_ids_are_404(
    client: TestClient, account: Account, make_account: Any, finish_jobs: Any
) -> None:
    response = client.post(
        "/api/audio/asr/transcribe",
        headers=account.headers,
        data={"model": "qwen3-asr-flash-filetrans"},
        files={"file": ("a.wav", wav(1.0), "audio/wav")},
    )
    task_id = assert_ok(response)["task_id"]
    stranger = make_account()
    for who, task in (
        (stranger, task_id),
        (account, "8fab76d0-0eed-4d20-929f-000000000000"),
    ):
        response = client.get(f"/api/audio/asr/task/{task}", headers=who.headers)
        assert_envelope_error(response, 404, "TASK_NOT_FOUND")
    assert_envelope_error(
        client.get("/api/audio/asr/task/not-a-task!", headers=account.headers), 400
    )
    assert_envelope_error(client.get(f"/api/audio/asr/task/{task_id}"), 401)
    tts_only = make_account(scopes=["tts"])
    response = client.get(f"/api/audio/asr/task/{task_id}", headers=tts_only.headers)
    assert_envelope_error(response, 403, "SCOPE_DENIED")


def test_the_openapi_document_shows_both_request_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/audio/asr/recognize", "/api/audio/asr/transcribe"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        form = content["multipart/form-data"]["schema"]
        assert form["properties"]["file"] == {
            "type": "string",
            "format": "binary",
            "description": form["properties"]["file"]["description"],
        }
        assert "model" in content["application/json"]["schema"]["required"]
    recognize = spec["paths"]["/api/audio/asr/recognize"]["post"]
    assert (
        "audio_base64"
        in recognize["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert {"200", "400", "401", "403", "413", "415", "429"} <= set(recognize["responses"])


# --- the real recogniser ----------------------------------------------------------------------


def test_recognize_real_speech_with_the_offline_recogniser(
    account: Account, real_client: TestClient, db: Database
) -> None:
    from tests.engines import speech_samples as samples

    speech = samples.espeak(samples.ENGLISH_SENTENCE, "en-us")
    before = micros(db, account)
    response = real_client.post(
        "/api/audio/asr/recognize",
        headers=account.headers,
        data={"model": "qwen3-asr-flash", "language": "en"},
        files={"file": ("sentence.wav", audio.encode(speech, "wav"), "audio/wav")},
    )
    data = assert_ok(response)
    words = data["text"].lower()
    assert data["text"] != HEARD
    for word in ("weather", "morning", "market"):
        assert word in words, data["text"]
    assert data["language"] == "en" and data["duration"] == math.ceil(speech.duration_seconds)
    assert data["emotion"] in (
        "neutral",
        "happy",
        "sad",
        "angry",
        "fearful",
        "surprised",
        "disgusted",
    )
    spent = before - micros(db, account)
    assert spent > 0 and format_yuan(spent) == data["bill"] == response.headers["X-Cost"]
    assert balance(real_client, account) == format_yuan(before - spent)
