"""Domain errors: each carries a stable code and the HTTP status the doors render it with.

The tree, so callers can catch at the level they care about::

    DomainError
    ├── InvalidInputError           400 INVALID_INPUT
    ├── AuthenticationError         401 UNAUTHORIZED
    ├── PermissionDeniedError       403 FORBIDDEN
    │   ├── KeyRevokedError         403 KEY_REVOKED   (revoked or expired API key, seed 000)
    │   ├── InsufficientBalanceError 403 INSUFFICIENT_BALANCE (seed 000 answers 403)
    │   └── SpendCapExceededError   403 SPEND_CAP_EXCEEDED
    ├── NotFoundError               404 NOT_FOUND
    ├── ConflictError               409 CONFLICT
    ├── PayloadTooLargeError        413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaError       415 UNSUPPORTED_MEDIA
    ├── RateLimitedError            429 RATE_LIMITED  (carries retry_after seconds)
    ├── UpstreamError               502 UPSTREAM_ERROR
    ├── ServiceUnavailableError     503 SERVICE_UNAVAILABLE
    └── UpstreamTimeoutError        504 TIMEOUT

Messages are safe to show to the caller: they never carry secrets or internals.
"""

from __future__ import annotations

import math


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status: int = 400
    code: str = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param


class InvalidInputError(DomainError):
    status, code = 400, "INVALID_INPUT"


class AuthenticationError(DomainError):
    status, code = 401, "UNAUTHORIZED"


class PermissionDeniedError(DomainError):
    status, code = 403, "FORBIDDEN"


class KeyRevokedError(PermissionDeniedError):
    code = "KEY_REVOKED"


class InsufficientBalanceError(PermissionDeniedError):
    code = "INSUFFICIENT_BALANCE"


class SpendCapExceededError(PermissionDeniedError):
    code = "SPEND_CAP_EXCEEDED"


class NotFoundError(DomainError):
    status, code = 404, "NOT_FOUND"


class ConflictError(DomainError):
    status, code = 409, "CONFLICT"


class PayloadTooLargeError(DomainError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaError(DomainError):
    status, code = 415, "UNSUPPORTED_MEDIA"


class RateLimitedError(DomainError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = max(1, math.ceil(retry_after))


class UpstreamError(DomainError):
    status, code = 502, "UPSTREAM_ERROR"


class ServiceUnavailableError(DomainError):
    status, code = 503, "SERVICE_UNAVAILABLE"


class UpstreamTimeoutError(DomainError):
    status, code = 504, "TIMEOUT"
