"""Error bodies in each dialect's shape, picked by the request path.

- ``/api/open/…``: Fish open API (seed 004), ``{"error", "details", "code"}``; Fish answers a
  short balance with 429 ("请求频率超限/积分不足"), not 403
- ``/api/…``: AI voice backend (seed 001), ``{"code", "message", "data": null, "error_code"}``:
  ``code`` is the HTTP status (seed 001 clients test ``code !== 200``), ``error_code`` the
  seed's error name (``INVALID_VOICE``, ``TEXT_TOO_LONG`` …)
- ``/v1/…``: OpenAI (seeds 002, 003), ``{"error": {"message", "type", "param", "code"}}``
- everything else: Amphion platform (seed 000), ``{"detail": "…"}``

The HTTP status is the same in every dialect but that one; 5xx bodies never carry internals.
A database that is away (a restart: connections dropped, new ones refused) is a 503 with
``Retry-After`` in every dialect, never a 500; pooled connections are checked before use
(``api.db``), so the same process serves again as soon as the database is back.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import DomainError, InsufficientBalanceError

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
        return {"code": status, "message": message, "data": None, "error_code": code}
    if dialect == "fish":
        details = f"Check the '{param}' field" if param else ""
        return {"error": message, "details": details, "code": code}
    if dialect == "openai":
        kind = OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": message, "type": kind, "param": param, "code": code.lower()}}
    return {"detail": message}


def dialect_status(path: str, error: DomainError) -> int:
    """The HTTP status of ``error`` in the dialect of ``path``."""
    if dialect_of(path) == "fish" and isinstance(error, InsufficientBalanceError):
        return 429
    return error.status


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
        # A rate limit (429) and an open provider circuit (503) both say when to come back.
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        status = dialect_status(request.url.path, exc)
        return error_response(
            request, status, exc.message, code=exc.code, param=exc.param, headers=headers
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

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_database_outage(exc):
            return database_unavailable(request, exc)
        return _internal_error(request)

    @app.exception_handler(PoolTimeoutError)
    async def _database_busy(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        return database_unavailable(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    # This handler runs outside the request-id middleware (Starlette's outermost layer),
    # so the id the caller needs to report the failure is added here.
    request_id = getattr(request.state, "request_id", "")
    headers = {"X-Request-Id": request_id} if request_id else None
    return error_response(request, 500, "Internal server error", headers=headers)


# A database that restarts refuses connections for a few seconds: come back after this.
DATABASE_RETRY_AFTER_SECONDS = 2


def is_database_outage(error: BaseException) -> bool:
    """A lost or refused database connection (a restart, a failover), not a bug in a query."""
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return False


def database_unavailable(request: Request, error: BaseException) -> JSONResponse:
    """503 in the caller's dialect, with Retry-After: the database is away for a moment."""
    logger.warning("database unavailable on %s: %s", request.url.path, type(error).__name__)
    return error_response(
        request,
        503,
        "Service temporarily unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


# --- OpenAPI: each dialect's error responses -------------------------------------------------


class DetailError(BaseModel):
    detail: str


class EnvelopeError(BaseModel):
    code: int
    message: str
    data: None = None
    error_code: str


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


class FishError(BaseModel):
    error: str
    details: str = ""
    code: str = ""


_ERROR_MODELS: dict[str, type[BaseModel]] = {
    "detail": DetailError,
    "envelope": EnvelopeError,
    "openai": OpenAIError,
    "fish": FishError,
}
_MEANINGS = {
    400: "Missing or malformed parameters (text too long, unknown model or voice, bad audio)",
    401: "Missing or invalid API key",
    403: "Key revoked, expired or without the scope; account suspended; balance or cap short",
    404: "No such model, voice, task or record (or not yours)",
    413: "Request body or file too large",
    415: "Audio in a format that cannot be read",
    429: "Too many requests (see Retry-After)",
    500: "Internal error",
    502: "The upstream model service failed",
    503: "The model service is temporarily unavailable",
    504: "The upstream model service timed out",
}
_SAMPLE_PATHS = {"detail": "/", "envelope": "/api/", "openai": "/v1/", "fish": "/api/open/"}


def documented_errors(dialect: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the dialect's error body and an example."""
    statuses = statuses or (400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504)
    model = _ERROR_MODELS[dialect]
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning = _MEANINGS[status]
        example = error_body(_SAMPLE_PATHS[dialect], status, meaning)
        responses[status] = {
            "model": model,
            "description": meaning,
            "content": {"application/json": {"example": example}},
        }
    return responses
