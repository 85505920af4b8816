"""What every fake provider shares: a loopback uvicorn runner, request recording, fault switches.

A fake is a Starlette app speaking the provider's real wire protocol, served by uvicorn on
``127.0.0.1:<free port>`` in a background thread. Each fake has one ``FakeState``: the keys it
accepts, every request it saw (so tests can assert what was sent), and the fault it should
play next. Faults (``FakeState.fault``):

``"500"``  answer HTTP 500 (WebSocket: deny the handshake with 500), echoing the caller's key
``"401"``  answer HTTP 401 whatever the key (body echoes the key, as some providers do)
``"hang"`` accept, then say nothing for ``HANG_SECONDS`` (longer than any test timeout)
``"empty"`` succeed with no audio
``"negative_usage"`` succeed but report negative usage
``"truncated"`` break the stream off midway
``"invalid_json"`` answer 200 with a body that is not JSON
``"task_failed"`` (DashScope) send ``task-failed`` / let the async task fail

Error bodies deliberately echo the ``Authorization`` header: the adapters must never pass an
upstream body on.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
import time
import wave
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.types import ASGIApp

HANG_SECONDS = 4.0
HOLD_LIMIT_SECONDS = 5.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None  # parsed body (JSON/msgpack/form fields) when the fake understood it


@dataclass
class FakeState:
    """One fake provider's memory; ``reset`` runs before every test."""

    valid_keys: frozenset[str]
    base_url: str = ""
    fault: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    # Streaming gate: after ``hold_after`` audio pieces the fake waits for ``hold`` to be set.
    hold: threading.Event | None = None
    hold_after: int = 2
    pieces_sent: int = 0
    finished: bool = False  # the fake sent its last byte / final event
    extra: dict[str, Any] = field(default_factory=dict)

    def reset(self) -> None:
        self.fault = None
        self.requests = []
        self.hold = None
        self.hold_after = 2
        self.pieces_sent = 0
        self.finished = False
        self.extra = {}

    def record(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> None:
        self.requests.append(RecordedRequest(method, path, dict(headers), body))

    def authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[len("Bearer ") :] in self.valid_keys

    async def piece_sent(self) -> None:
        """Count an audio piece; wait at the gate when a test holds the stream there."""
        self.pieces_sent += 1
        if self.hold is not None and self.pieces_sent == self.hold_after:
            waited = 0.0
            while not self.hold.is_set() and waited < HOLD_LIMIT_SECONDS:
                await asyncio.sleep(0.01)
                waited += 0.01

    def last(self, path_suffix: str = "") -> RecordedRequest:
        for request in reversed(self.requests):
            if request.path.endswith(path_suffix):
                return request
        raise AssertionError(f"no request to {path_suffix!r} was recorded")


class LoopbackServer:
    """uvicorn serving ``app`` on 127.0.0.1 with a free port, in a daemon thread."""

    def __init__(self, app: ASGIApp):
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,  # leave the test's logging configuration alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="wsproto",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.base_url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


# --- audio ---------------------------------------------------------------------------------------


def tone(sample_rate: int, seconds: float, frequency: float = 220.0) -> bytes:
    """A sine tone as little-endian 16-bit mono PCM."""
    count = round(sample_rate * seconds)
    t = np.arange(count) / sample_rate
    samples = (0.3 * 32767 * np.sin(2 * math.pi * frequency * t)).astype("<i2")
    return samples.tobytes()


def wav_file(pcm: bytes, sample_rate: int, *, streaming_header: bool = False) -> bytes:
    """``pcm`` wrapped in a WAV header; ``streaming_header`` writes the 0xFFFFFFFF sizes servers
    use when they start sending before they know the length."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    data = bytearray(buffer.getvalue())
    if streaming_header:
        data[4:8] = b"\xff\xff\xff\xff"
        data[40:44] = b"\xff\xff\xff\xff"
    return bytes(data)


def read_wav(data: bytes) -> tuple[int, int]:
    """(sample rate, frame count) of a mono 16-bit WAV; raises if it is anything else."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError("expected mono 16-bit WAV")
        return wav.getframerate(), wav.getnframes()
