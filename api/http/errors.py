"""Error bodies in each dialect's shape, picked by the request path.

- ``/api/open/…``: Fish open API (seed 004), ``{"error", "details", "code"}``
- ``/api/…``: AI voice backend (seed 001), ``{"code", "message", "data": null}``
- ``/v1/…``: OpenAI (seeds 002, 003), ``{"error": {"message", "type", "param", "code"}}``
- everything else: Amphion platform (seed 000), ``{"detail": "…"}``

The HTTP status is the same in every dialect; 5xx bodies never carry internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import DomainError, RateLimitedError

logger = logging.getLogger("amphion.http")

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
DEFAULT_CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}


def dialect_of(path: str) -> str:
    if path.startswith("/api/open/"):
        return "fish"
    if path.startswith("/api/"):
        return "envelope"
    if path.startswith("/v1/"):
        return "openai"
    return "detail"


def error_body(
    path: str, status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    code = code or DEFAULT_CODES.get(status, "ERROR")
    dialect = dialect_of(path)
    if dialect == "envelope":
        return {"code": status, "message": message, "data": None}
    if dialect == "fish":
        return {"error": message, "details": param or "", "code": status}
    if dialect == "openai":
        kind = OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": message, "type": kind, "param": param, "code": code.lower()}}
    return {"detail": message}


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(request.url.path, status, message, code, param)
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request", None
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    if first.get("type") == "json_invalid":
        return "Request body is not valid JSON", None
    if first.get("type") == "missing":
        return f"Missing required field: {param}", param
    message = first.get("msg", "Invalid value")
    return (f"Invalid {param}: {message}" if param else str(message)), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(
            request, exc.status, exc.message, code=exc.code, param=exc.param, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(request, 400, message, code="INVALID_INPUT", param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(request, exc.status_code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "Internal server error")
