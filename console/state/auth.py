"""Sign-in and sign-up forms: call the accounts service, then hand the browser a one-time ticket.

The forms are uncontrolled: the password arrives in the submit event's form data, is passed
straight to the service and is never stored in state. On success the service returns a
one-time ticket, and the browser loads ``/api/auth/session/claim?ticket=…`` in full: that API
route sets the HttpOnly session cookie (which no Reflex handler can do) and redirects on to the
dashboard, whose fresh websocket then carries the cookie.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import reflex as rx

from api.accounts.service import sign_in_with_ticket, sign_up_with_ticket
from api.db import get_database
from api.errors import DomainError, RateLimitedError
from api.ratelimit import get_rate_limiter
from api.settings import get_settings
from console import routes
from console.state.session import client_ip, current_principal, go_to

logger = logging.getLogger("amphion.console")

EXPIRED_NOTICE = "That sign-in link has expired. Please sign in again."
UNEXPECTED_ERROR = "Something went wrong on our side. Please try again in a moment."
FIELDS = ("email", "password")


def wait_text(seconds: int) -> str:
    """``42 → "42 s"``, ``600 → "10 min"``: how long a throttled visitor should wait."""
    if seconds < 120:
        return f"{seconds} s"
    return f"{-(-seconds // 60)} min"


def friendly_error(exc: DomainError) -> str:
    """The service's message, with a concrete wait instead of "later" when throttled."""
    if isinstance(exc, RateLimitedError):
        reason = exc.message.split(";", 1)[0].rstrip(".")
        return f"{reason}. Try again in {wait_text(exc.retry_after)}."
    message = exc.message.rstrip(".")
    return f"{message[:1].upper()}{message[1:]}."


class AuthState(rx.State):
    """Feedback of the sign-in and sign-up forms; never credentials."""

    error: str = ""
    # Which input the error is about ("email", "password"), or "" for the whole form.
    error_field: str = ""
    notice: str = ""
    submitting: bool = False

    @rx.var
    def form_error(self) -> str:
        """An error shown above the form (not tied to one input)."""
        return "" if self.error_field else self.error

    @rx.var
    def email_error(self) -> str:
        return self.error if self.error_field == "email" else ""

    @rx.var
    def password_error(self) -> str:
        return self.error if self.error_field == "password" else ""

    def _fail(self, message: str, field: str = "") -> None:
        self.error = message
        self.error_field = field if field in FIELDS else ""
        self.submitting = False

    @rx.event
    async def load(self):
        """On load of /signin and /signup: fresh form, or the dashboard if already signed in."""
        # The state outlives full page loads within a tab: reset what the last visit left.
        self.error, self.error_field, self.submitting = "", "", False
        expired = self.router.url.query_parameters.get("error") == "expired"
        self.notice = EXPIRED_NOTICE if expired else ""
        if await current_principal(self) is not None:
            return rx.redirect(routes.DASHBOARD, replace=True)
        return None

    async def _authenticate(
        self,
        form: dict[str, Any],
        *,
        service: Callable[..., tuple[Any, str]],
        password_prompt: str,
        next_url: str,
        name_the_field: bool,
    ) -> AsyncIterator[Any]:
        """Validate the form, run ``service`` off the event loop, then load the ticket claim."""
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        if self.submitting:
            return
        if not email.strip():
            self._fail("Enter your e-mail address.", "email")
            return
        if not password:
            self._fail(password_prompt, "password")
            return
        self.error, self.error_field, self.notice, self.submitting = "", "", "", True
        yield None
        try:
            _, ticket = await asyncio.to_thread(
                service,
                get_database(),
                get_rate_limiter(),
                get_settings(),
                email=email,
                password=password,
                ip=client_ip(self),
                user_agent=self.router.headers.user_agent,
            )
        except DomainError as exc:
            field = exc.param or ("email" if exc.code == "EMAIL_TAKEN" else "")
            self._fail(friendly_error(exc), field if name_the_field else "")
            return
        except Exception:
            logger.exception("console %s failed", service.__name__)
            self._fail(UNEXPECTED_ERROR)
            return
        # Stay "submitting" until the browser has left the page.
        yield go_to(routes.session_claim(ticket, next_url))

    @rx.event
    async def sign_in(self, form: dict[str, Any]):
        """Check the credentials; on success load the ticket-claim URL."""
        # Sign-in errors never say which of e-mail and password was wrong.
        async for update in self._authenticate(
            form,
            service=sign_in_with_ticket,
            password_prompt="Enter your password.",
            next_url=routes.DASHBOARD,
            name_the_field=False,
        ):
            yield update

    @rx.event
    async def sign_up(self, form: dict[str, Any]):
        """Create the account (with its welcome credit); on success sign in like ``sign_in``."""
        async for update in self._authenticate(
            form,
            service=sign_up_with_ticket,
            password_prompt="Choose a password.",
            next_url=routes.dashboard(welcome=True),
            name_the_field=True,
        ):
            yield update
