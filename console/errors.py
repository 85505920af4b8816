"""What the browser sees when an event handler fails: a friendly toast, never a traceback.

A ``DomainError`` carries a message written for users (a short balance, an unknown voice), so
it is shown as it is. Anything else is logged with its traceback on the server and the browser
gets a bilingual apology only: exception text can hold paths, SQL or other users' data.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from api.errors import DomainError

logger = logging.getLogger("amphion.console")

SORRY = "Something went wrong. Please try again. · 出了点问题，请稍后重试。"


def friendly_backend_error(exception: Exception) -> EventSpec:
    """Reflex's ``backend_exception_handler``: log the failure, toast a safe message."""
    if isinstance(exception, DomainError):
        return rx.toast.error(exception.message, id="backend_error", position="top-center")
    logger.error("console event failed", exc_info=exception)
    return rx.toast.error(SORRY, id="backend_error", position="top-center")
