"""Oversized uploads are refused while they stream in, without the server holding them.

A 26 MB multipart upload to a live API server gets 413 — with a Content-Length (refused before
a byte of the body is read) and chunked (refused once the count passes the cap) — and the
server process grows by less than 50 MB meanwhile.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from tests.e2e.conftest import ApiServer
from tests.helpers import PASSWORD

UPLOAD_BYTES = 26 * 1024 * 1024
CHUNK = 256 * 1024
BOUNDARY = "amphion-upload-limit-test"


def _post_json(url: str, body: dict, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _api_key(server: ApiServer) -> str:
    email = f"upload{time.time_ns()}@example.com"
    token = _post_json(server.url("/api/auth/signup"), {"email": email, "password": PASSWORD})[
        "data"
    ]["token"]
    created = _post_json(
        server.url("/api/keys"), {"name": "uploads"}, {"Authorization": f"Bearer {token}"}
    )
    return str(created["data"]["key"])


def _resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _multipart_parts() -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail


def _upload(server: ApiServer, key: str, *, chunked: bool) -> tuple[int, int]:
    """Send the upload over a raw socket; returns (status, bytes of body sent)."""
    head, tail = _multipart_parts()
    total = len(head) + UPLOAD_BYTES + len(tail)
    host, port = server.base_url.removeprefix("http://").split(":")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    request_head = (
        "POST /v1/audio/transcriptions HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
    ).encode()

    def frame(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data

    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request_head)
        try:
            conn.sendall(frame(head))
            block = b"\0" * CHUNK
            while sent < UPLOAD_BYTES:
                conn.sendall(frame(block))
                sent += len(block)
            conn.sendall(frame(tail) + (b"0\r\n\r\n" if chunked else b""))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and hung up before taking it all: what we want
        reply = b""
        try:
            while b"\r\n" not in reply:
                data = conn.recv(4096)
                if not data:
                    break
                reply += data
        except ConnectionResetError:
            pass
    status_line = reply.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), f"no HTTP answer: {reply[:200]!r}"
    return int(status_line.split()[1]), sent


def test_a_26_mb_upload_is_refused_while_streaming_and_memory_stays_flat(
    api_server: ApiServer,
) -> None:
    key = _api_key(api_server)
    before = _resident_bytes(api_server.pid)

    status, _ = _upload(api_server, key, chunked=False)
    assert status == 413
    status, _ = _upload(api_server, key, chunked=True)
    assert status == 413

    grown = _resident_bytes(api_server.pid) - before
    assert grown < 50 * 1024 * 1024, f"server grew by {grown / 1024 / 1024:.1f} MB"
