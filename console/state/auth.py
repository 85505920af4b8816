"""Sign-in and sign-up forms: check as the visitor types, call the accounts service, then hand
the browser a one-time ticket.

The forms are uncontrolled: the password arrives in a blur or submit event, is passed straight
to the service's checks and is never stored in state (only the verdict is). On success the
service returns a one-time ticket, and the browser loads ``/api/auth/session/claim?ticket=…`` in
full: that API route sets the HttpOnly session cookie (which no Reflex handler can do) and
redirects on to the dashboard, whose fresh websocket then carries the cookie.

Sign-in says the same thing for an unknown e-mail and a wrong password (the service makes both
one error after the same work), and checks nothing while the visitor types.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import reflex as rx

from api.accounts.service import normalize_email, sign_in_with_ticket, sign_up_with_ticket
from api.db import get_database
from api.errors import DomainError, InvalidInputError, RateLimitedError
from api.ratelimit import get_rate_limiter
from api.security import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, check_password_policy
from api.settings import get_settings
from console import routes
from console.i18n import language_of, pick
from console.state.session import client_ip, current_principal, go_to

logger = logging.getLogger("amphion.console")

FIELDS = ("email", "password", "confirm")

# (English, Chinese) of every message these forms show. The service's English messages are
# recognised by their start (see ``describe``); anything unknown is shown as the service wrote
# it, which DomainError guarantees is safe to show.
EXPIRED_NOTICE = (
    "That sign-in link has expired. Please sign in again.",
    "登录链接已过期，请重新登录。",
)
UNEXPECTED_ERROR = (
    "Something went wrong on our side. Please try again in a moment.",
    "服务暂时出了点问题，请稍后再试。",
)
ENTER_EMAIL = ("Enter your e-mail address.", "请输入电子邮箱地址。")
ENTER_PASSWORD = ("Enter your password.", "请输入密码。")
CHOOSE_PASSWORD = ("Choose a password.", "请设置密码。")
CONFIRM_PASSWORD = ("Type the password again to confirm it.", "请再次输入密码以确认。")
PASSWORDS_DIFFER = ("The two passwords do not match.", "两次输入的密码不一致。")
PASSWORD_GOOD = ("Good: this password meets the rules.", "密码符合要求。")
_SERVICE_MESSAGES: tuple[tuple[str, tuple[str, str]], ...] = (
    ("Invalid e-mail or password", ("Invalid e-mail or password.", "邮箱或密码不正确。")),
    (
        "Enter a valid e-mail address",
        ("Enter a valid e-mail address.", "请输入有效的电子邮箱地址。"),
    ),
    (
        "Password must be at least",
        (
            f"Password must be at least {PASSWORD_MIN_LENGTH} characters.",
            f"密码至少需要 {PASSWORD_MIN_LENGTH} 个字符。",
        ),
    ),
    (
        "Password must be at most",
        (
            f"Password must be at most {PASSWORD_MAX_LENGTH} characters.",
            f"密码最多 {PASSWORD_MAX_LENGTH} 个字符。",
        ),
    ),
    (
        "This password is too common",
        (
            "This password is too common; choose a less guessable one.",
            "这个密码太常见了，请换一个不易被猜到的密码。",
        ),
    ),
    (
        "Password must not be your e-mail",
        ("Password must not be your e-mail address.", "密码不能与电子邮箱相同。"),
    ),
    (
        "An account with this e-mail already exists",
        (
            "An account with this e-mail already exists. Sign in instead?",
            "该邮箱已注册，请直接登录。",
        ),
    ),
    (
        "Too many failed sign-in attempts",
        ("Too many failed sign-in attempts.", "登录失败次数过多。"),
    ),
    ("Too many sign-ups", ("Too many sign-ups from this address.", "该网络地址注册过于频繁。")),
)


def wait_text(seconds: int, lang: str = "en") -> str:
    """``42 → "42 s"``, ``600 → "10 min"``: how long a throttled visitor should wait."""
    if seconds < 120:
        return pick(lang, f"{seconds} s", f"{seconds} 秒")
    minutes = -(-seconds // 60)
    return pick(lang, f"{minutes} min", f"{minutes} 分钟")


def describe(exc: DomainError, lang: str) -> str:
    """The service's error in the visitor's language, with a concrete wait when throttled."""
    text = ""
    for start, pair in _SERVICE_MESSAGES:
        if exc.message.startswith(start):
            text = pick(lang, *pair)
            break
    if not text:
        message = exc.message.rstrip(".")
        text = f"{message[:1].upper()}{message[1:]}."
    if isinstance(exc, RateLimitedError):
        wait = wait_text(exc.retry_after, lang)
        text += pick(lang, f" Try again in {wait}.", f"请在 {wait}后重试。")
    return text


async def password_verdict(password: str, email: str, lang: str) -> tuple[str, str]:
    """(what is wrong, "") or ("", that it is fine) of a password typed for ``email``, under
    the service's password rules (checked off the event loop; nothing is stored)."""
    try:
        # The common-password list is read from disk on first use.
        await asyncio.to_thread(check_password_policy, password, email=email)
    except InvalidInputError as exc:
        return describe(exc, lang), ""
    return "", pick(lang, *PASSWORD_GOOD)


class AuthState(rx.State):
    """Feedback of the sign-in and sign-up forms; never credentials."""

    form_error: str = ""
    email_error: str = ""
    password_error: str = ""
    confirm_error: str = ""
    # Set when the password passed the rules on blur, so the visitor sees it is fine.
    password_ok: str = ""
    notice: str = ""
    submitting: bool = False

    def _clear(self) -> None:
        self.form_error = self.email_error = self.password_error = self.confirm_error = ""
        self.password_ok = ""

    def _fail(self, message: str, field: str = "") -> None:
        if field == "email":
            self.email_error = message
        elif field == "password":
            self.password_error, self.password_ok = message, ""
        elif field == "confirm":
            self.confirm_error = message
        else:
            self.form_error = message
        self.submitting = False

    @rx.event
    async def load(self):
        """On load of /signin and /signup: fresh form, or the dashboard if already signed in."""
        # The state outlives full page loads within a tab: reset what the last visit left.
        self._clear()
        self.submitting = False
        expired = self.router.url.query_parameters.get("error") == "expired"
        self.notice = pick(await language_of(self), *EXPIRED_NOTICE) if expired else ""
        if await current_principal(self) is not None:
            return rx.redirect(routes.DASHBOARD, replace=True)
        return None

    # --- checks while the visitor types (sign-up only) ----------------------------------

    @rx.event
    async def check_email(self, email: str) -> None:
        """On leaving the e-mail field: is it an address? (Empty is left for the submit.)"""
        self.email_error = ""
        if not isinstance(email, str) or not email.strip():
            return
        try:
            normalize_email(email)
        except InvalidInputError as exc:
            self.email_error = describe(exc, await language_of(self))

    @rx.event
    async def check_password(self, password: str, email: str = "") -> None:
        """On leaving the password field: the service's password rules, nothing stored."""
        self.password_error = self.password_ok = ""
        if not isinstance(password, str) or not password:
            return
        self.password_error, self.password_ok = await password_verdict(
            password, str(email).strip(), await language_of(self)
        )

    @rx.event
    async def check_confirmation(self, confirmation: str, password: str) -> None:
        """On leaving the confirmation: does it match the password typed above?"""
        self.confirm_error = ""
        if not isinstance(confirmation, str) or not confirmation:
            return
        if confirmation != password:
            self.confirm_error = pick(await language_of(self), *PASSWORDS_DIFFER)

    # --- submits ------------------------------------------------------------------------

    async def _authenticate(
        self,
        form: dict[str, Any],
        *,
        service: Callable[..., tuple[Any, str]],
        next_url: str,
        signing_up: bool,
    ) -> AsyncIterator[Any]:
        """Validate the form, run ``service`` off the event loop, then load the ticket claim."""
        if self.submitting:
            return
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        lang = await language_of(self)
        self._clear()
        failed = False
        if not email.strip():
            self._fail(pick(lang, *ENTER_EMAIL), "email")
            failed = True
        if not password:
            self._fail(pick(lang, *(CHOOSE_PASSWORD if signing_up else ENTER_PASSWORD)), "password")
            failed = True
        if signing_up:
            confirmation = str(form.get("confirm", ""))
            if not confirmation:
                self._fail(pick(lang, *CONFIRM_PASSWORD), "confirm")
                failed = True
            elif confirmation != password:
                self._fail(pick(lang, *PASSWORDS_DIFFER), "confirm")
                failed = True
        if failed:
            return
        self.notice, self.submitting = "", True
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
            # Sign-in errors never say which of e-mail and password was wrong.
            self._fail(describe(exc, lang), field if signing_up and field in FIELDS else "")
            return
        except Exception:
            logger.exception("console %s failed", service.__name__)
            self._fail(pick(lang, *UNEXPECTED_ERROR))
            return
        # Stay "submitting" until the browser has left the page.
        yield go_to(routes.session_claim(ticket, next_url))

    @rx.event
    async def sign_in(self, form: dict[str, Any]):
        """Check the credentials; on success load the ticket-claim URL."""
        async for update in self._authenticate(
            form, service=sign_in_with_ticket, next_url=routes.DASHBOARD, signing_up=False
        ):
            yield update

    @rx.event
    async def sign_up(self, form: dict[str, Any]):
        """Create the account (with its welcome credit); on success sign in like ``sign_in``."""
        async for update in self._authenticate(
            form,
            service=sign_up_with_ticket,
            next_url=routes.dashboard(welcome=True),
            signing_up=True,
        ):
            yield update
