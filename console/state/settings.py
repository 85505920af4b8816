"""The settings page: profile, password change, own provider keys, language.

Thin on purpose: ``api.accounts.service.change_password`` checks and replaces the password and
signs out every other session (this one stays); ``api.accounts.provider_keys`` seals and
stores a provider key. Passwords and provider keys arrive in a form submit, go straight to the
service and are never put in state; the list shows only "set · last four · when".
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import reflex as rx

from api.accounts import provider_keys
from api.accounts.models import ROLE_ADMIN
from api.accounts.service import change_password, get_user
from api.catalog.catalog import get_catalog
from api.db import get_database
from api.errors import DomainError, InvalidInputError, NotFoundError, RateLimitedError
from api.ratelimit import get_rate_limiter
from api.settings import get_settings
from console import routes
from console.i18n import language_of, pick
from console.state.auth import (
    CONFIRM_PASSWORD,
    PASSWORDS_DIFFER,
    UNEXPECTED_ERROR,
    describe,
    password_verdict,
    wait_text,
)
from console.state.session import signed_in_principal

logger = logging.getLogger("amphion.console")

# Provider names as people know them (catalog provider id → English, Chinese).
PROVIDER_NAMES = {
    "dashscope": ("Alibaba Cloud Model Studio (DashScope)", "阿里云百炼（DashScope）"),
    "openai": ("OpenAI-compatible service", "OpenAI 兼容服务"),
    "fish": ("Fish Audio", "Fish Audio"),
}
ENTER_CURRENT = ("Enter your current password.", "请输入当前密码。")
ENTER_NEW = ("Choose a new password.", "请设置新密码。")
SAME_PASSWORD = (
    "The new password must differ from the current one.",
    "新密码不能与当前密码相同。",
)
WRONG_CURRENT = ("Your current password is not correct.", "当前密码不正确。")
PASSWORD_CHANGED = (
    "Password changed. Your other sessions have been signed out.",
    "密码已修改，其他设备上的登录已全部退出。",
)
ENTER_KEY = ("Paste the provider's API key.", "请粘贴服务商的 API 密钥。")
BAD_KEY = (
    "That does not look like an API key (8–512 characters, no spaces).",
    "这看起来不像 API 密钥（8–512 个字符，不含空格）。",
)
# The password form's element id, so a successful change can empty it in the browser.
PASSWORD_FORM_ID = "password-form"


@dataclass(frozen=True)
class Profile:
    email: str
    member_since: str
    is_admin: bool


def read_profile(user_id: int) -> Profile:
    with get_database().read() as session:
        user = get_user(session, user_id)
    return Profile(user.email, f"{user.created_at:%Y-%m-%d}", user.role == ROLE_ADMIN)


def read_provider_rows(user_id: int) -> list[dict[str, str]]:
    """One row per provider that serves own-key models: its models and whether a key is set."""
    providers = provider_keys.byok_providers(get_catalog())
    with get_database().read() as session:
        stored = {
            info.provider: info for info in provider_keys.list_provider_keys(session, user_id)
        }
    rows = []
    for entry in providers:
        english, chinese = PROVIDER_NAMES.get(entry.provider, (entry.provider, entry.provider))
        info = stored.get(entry.provider)
        rows.append(
            {
                "provider": entry.provider,
                "name_en": english,
                "name_zh": chinese,
                "models": ", ".join(entry.model_ids),
                "is_set": "1" if info else "",
                "last4": info.last4 if info else "",
                "updated": f"{info.updated_at:%Y-%m-%d %H:%M}" if info else "",
            }
        )
    return rows


def _save_key(user_id: int, provider: str, api_key: str) -> None:
    with get_database().write() as session:
        provider_keys.set_provider_key(
            session,
            user_id=user_id,
            provider=provider,
            api_key=api_key,
            secret_key=get_settings().secret_key,
            catalog=get_catalog(),
        )


def _remove_key(user_id: int, provider: str) -> None:
    with get_database().write() as session:
        provider_keys.remove_provider_key(session, user_id=user_id, provider=provider)


def _clear_form_script(form_id: str) -> str:
    return f"document.getElementById({form_id!r})?.reset()"


class SettingsState(rx.State):
    """Display values of the settings page and the password form's verdicts; no secrets."""

    loaded: bool = False
    email: str = ""
    member_since: str = ""
    is_admin: bool = False

    current_error: str = ""
    new_error: str = ""
    new_ok: str = ""
    confirm_error: str = ""
    form_error: str = ""
    changing: bool = False

    providers: list[dict[str, str]] = []
    key_errors: dict[str, str] = {}
    saving_provider: str = ""

    @rx.var
    def has_providers(self) -> bool:
        return bool(self.providers)

    async def _principal_or_leave(self):
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            self.providers = []
        return principal

    def _clear_password_errors(self) -> None:
        self.current_error = self.new_error = self.new_ok = self.confirm_error = ""
        self.form_error = ""

    @rx.event
    async def load(self):
        """On load: the profile and provider keys, or the sign-in page."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self._clear_password_errors()
        self.changing, self.saving_provider, self.key_errors = False, "", {}
        profile = await asyncio.to_thread(read_profile, principal.user_id)
        self.email, self.member_since, self.is_admin = (
            profile.email,
            profile.member_since,
            profile.is_admin,
        )
        self.providers = await asyncio.to_thread(read_provider_rows, principal.user_id)
        self.loaded = True
        return None

    # --- password ------------------------------------------------------------------------

    @rx.event
    async def check_new_password(self, password: str) -> None:
        """On leaving the new-password field: the password rules (nothing stored)."""
        self.new_error = self.new_ok = ""
        principal = await signed_in_principal(self)
        if principal is None or not isinstance(password, str) or not password:
            return
        self.new_error, self.new_ok = await password_verdict(
            password, principal.email, await language_of(self)
        )

    @rx.event
    async def check_confirmation(self, confirmation: str, password: str) -> None:
        """On leaving the confirmation: does it match the new password typed above?"""
        self.confirm_error = ""
        if isinstance(confirmation, str) and confirmation and confirmation != password:
            self.confirm_error = pick(await language_of(self), *PASSWORDS_DIFFER)

    @rx.event
    async def change_password(self, form: dict[str, Any]):
        """Check the form, then let the service replace the password and end other sessions."""
        principal = await self._principal_or_leave()
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        if self.changing:
            return
        form = form if isinstance(form, dict) else {}
        current = str(form.get("current_password", ""))
        new = str(form.get("new_password", ""))
        confirmation = str(form.get("confirm_password", ""))
        lang = await language_of(self)
        self._clear_password_errors()
        if not current:
            self.current_error = pick(lang, *ENTER_CURRENT)
        if not new:
            self.new_error = pick(lang, *ENTER_NEW)
        elif new == current:
            self.new_error = pick(lang, *SAME_PASSWORD)
        if not confirmation:
            self.confirm_error = pick(lang, *CONFIRM_PASSWORD)
        elif new and confirmation != new:
            self.confirm_error = pick(lang, *PASSWORDS_DIFFER)
        if self.current_error or self.new_error or self.confirm_error:
            return
        self.changing = True
        yield None
        try:
            await asyncio.to_thread(
                change_password,
                get_database(),
                get_settings(),
                principal,
                current_password=current,
                new_password=new,
                limiter=get_rate_limiter(),
            )
        except DomainError as error:
            self.changing = False
            if error.param == "current_password":
                self.current_error = pick(lang, *WRONG_CURRENT)
            elif error.param == "password":
                self.new_error = describe(error, lang)
            elif isinstance(error, RateLimitedError):
                wait = wait_text(error.retry_after, lang)
                self.form_error = pick(
                    lang,
                    f"Too many wrong passwords. Try again in {wait}.",
                    f"密码错误次数过多，请在 {wait}后重试。",
                )
            else:
                self.form_error = error.message
            return
        except Exception:
            logger.exception("console: password change failed")
            self.changing = False
            self.form_error = pick(lang, *UNEXPECTED_ERROR)
            return
        self.changing = False
        yield [
            rx.call_script(_clear_form_script(PASSWORD_FORM_ID)),
            rx.toast.success(pick(lang, *PASSWORD_CHANGED)),
        ]

    # --- own provider keys ---------------------------------------------------------------

    def _set_key_error(self, provider: str, message: str) -> None:
        errors = dict(self.key_errors)
        if message:
            errors[provider] = message
        else:
            errors.pop(provider, None)
        self.key_errors = errors

    @rx.event
    async def save_provider_key(self, form: dict[str, Any]):
        """Seal and store the caller's key for the form's provider (replacing any earlier one)."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        form = form if isinstance(form, dict) else {}
        provider = str(form.get("provider", ""))
        if provider not in {row["provider"] for row in self.providers}:
            return None  # not a provider this page offered: nothing to do
        lang = await language_of(self)
        api_key = str(form.get("api_key", ""))
        if not api_key.strip():
            self._set_key_error(provider, pick(lang, *ENTER_KEY))
            return None
        self._set_key_error(provider, "")
        self.saving_provider = provider
        try:
            await asyncio.to_thread(_save_key, principal.user_id, provider, api_key)
        except InvalidInputError as error:
            self.saving_provider = ""
            message = pick(lang, *BAD_KEY) if error.param == "api_key" else error.message
            self._set_key_error(provider, message)
            return None
        except Exception:
            logger.exception("console: saving a provider key failed")
            self.saving_provider = ""
            return rx.toast.error(pick(lang, *UNEXPECTED_ERROR))
        self.saving_provider = ""
        self.providers = await asyncio.to_thread(read_provider_rows, principal.user_id)
        return [
            rx.call_script(_clear_form_script(f"provider-form-{provider}")),
            rx.toast.success(pick(lang, "Key saved", "密钥已保存")),
        ]

    @rx.event
    async def remove_provider_key(self, provider: str):
        """Forget the caller's key for ``provider``."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        try:
            await asyncio.to_thread(_remove_key, principal.user_id, str(provider))
        except NotFoundError:
            pass  # already gone (another tab): the refreshed list says so
        except Exception:
            logger.exception("console: removing a provider key failed")
            return rx.toast.error(pick(lang, *UNEXPECTED_ERROR))
        self.providers = await asyncio.to_thread(read_provider_rows, principal.user_id)
        return rx.toast.success(pick(lang, "Key removed", "密钥已移除"))
