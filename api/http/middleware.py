"""ASGI middleware: a request id on every response, and a cap on request body size.

The body cap is enforced while the body streams in (413 before it is all read), because
Starlette puts no limit on file parts (research/reliability.md §3.5).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.errors import error_body

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
DEFAULT_MAX_BODY = 26 * 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so body parsers re-raise it as a 413."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413, f"Request body exceeds {limit_bytes // (1024 * 1024)} MB")


class RequestContextMiddleware:
    """Adds ``X-Request-Id`` (the caller's if sane, else a new one) and enforces the body cap."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if REQUEST_ID_PATTERN.match(offered) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = time.perf_counter()  # the gateway overhead header counts from here
        path = scope.get("path", "")

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, path, request_id)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, counting_receive, tagging_send)
        except BodyTooLarge:
            if not response_started:
                await self._too_large(send, path, request_id)

    async def _too_large(self, send: Send, path: str, request_id: str) -> None:
        limit_mb = self.max_body_bytes // (1024 * 1024)
        body: dict[str, Any] = error_body(path, 413, f"Request body exceeds {limit_mb} MB")
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
