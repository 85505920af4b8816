"""The API keys page: a paged, masked list; create with a reveal-once dialog; rename; revoke.

Thin on purpose: ``api.keys.service`` issues, lists, renames and revokes. Every handler asks
the database who is signed in and passes that user id to the service, which fetches each key
with its owner, so a key id crafted in the browser for someone else's key finds nothing.

The plaintext of a new key is in this state only while its reveal dialog is open: closing the
dialog clears it, and the list only ever holds the masked form (``sk-ab…wxyz``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import reflex as rx

from api.billing.money import format_yuan, parse_yuan
from api.db import get_database, utcnow
from api.errors import DomainError, InvalidInputError, NotFoundError
from api.keys import service as keys
from api.keys.models import ApiKey
from api.principal import SCOPES
from api.settings import get_settings
from console import routes
from console.i18n import language_of, pick
from console.state.session import signed_in_principal

logger = logging.getLogger("amphion.console")

PAGE_SIZE = 20
# Expiry choices of the create form: value → days (None: never).
EXPIRY_DAYS: dict[str, int | None] = {"never": None, "7": 7, "30": 30, "90": 90, "365": 365}
SCOPE_FIELD = "scope_"  # the create form's checkboxes are named scope_tts, scope_asr, ...
KEY_PLACEHOLDER = "sk-your-api-key"

UNEXPECTED = ("Something went wrong. Please try again.", "出了点问题，请重试。")
NOT_FOUND = ("That key no longer exists.", "该密钥不存在。")
NAME_REQUIRED = ("Give the key a name.", "请为密钥命名。")
NAME_TOO_LONG = (
    f"At most {keys.MAX_NAME} characters.",
    f"最多 {keys.MAX_NAME} 个字符。",
)
SCOPES_REQUIRED = ("Choose at least one permission.", "请至少选择一项权限。")
BAD_CAP = ("Enter an amount in yuan, e.g. 50 or 12.5.", "请输入金额（元），如 50 或 12.5。")
BAD_RPM = (
    f"Enter a whole number from 1 to {keys.MAX_RPM:,}.",
    f"请输入 1 到 {keys.MAX_RPM:,} 之间的整数。",
)
TOO_MANY_KEYS = (
    f"You already have {keys.MAX_ACTIVE_KEYS} active keys. Revoke one first.",
    f"有效密钥已达 {keys.MAX_ACTIVE_KEYS} 个上限，请先吊销一个。",
)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else ""


def key_row(key: ApiKey, now: datetime) -> dict[str, str]:
    """What the list shows of one key: display strings only, the secret never."""
    if key.revoked_at is not None:
        status = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "id": str(key.id),
        "name": key.name,
        "masked": keys.mask(key.head, key.last4),
        "created": _when(key.created_at),
        "last_used": _when(key.last_used_at),
        "expires": _when(key.expires_at),
        "scopes": " · ".join(key.scopes.split(",")),
        "spend_cap": format_yuan(key.spend_cap_micros, 2)
        if key.spend_cap_micros is not None
        else "",
        "rpm": str(key.rpm_limit) if key.rpm_limit is not None else "",
        "status": status,
    }


@dataclass(frozen=True)
class KeyPage:
    rows: list[dict[str, str]]
    total: int


def read_page(user_id: int, page: int) -> KeyPage:
    with get_database().read() as session:
        found, total = keys.page_keys(
            session, user_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        now = utcnow()
        return KeyPage([key_row(key, now) for key in found], total)


@dataclass(frozen=True)
class NewKeyOrder:
    """The create form, checked: what ``issue_key`` is asked for."""

    name: str
    scopes: list[str]
    expires_at: datetime | None
    spend_cap_micros: int | None
    rpm_limit: int | None


def read_form(form: dict[str, Any], lang: str) -> tuple[NewKeyOrder | None, dict[str, str]]:
    """The order in a submitted create form, or the message for each field that is wrong."""
    errors: dict[str, str] = {}
    name = str(form.get("name", "")).strip()
    if not name:
        errors["name"] = pick(lang, *NAME_REQUIRED)
    elif len(name) > keys.MAX_NAME:
        errors["name"] = pick(lang, *NAME_TOO_LONG)
    scopes = [scope for scope in SCOPES if form.get(f"{SCOPE_FIELD}{scope}")]
    if not scopes:
        errors["scopes"] = pick(lang, *SCOPES_REQUIRED)
    days = EXPIRY_DAYS.get(str(form.get("expiry", "never")), None)
    expires_at = utcnow() + timedelta(days=days) if days else None
    spend_cap: int | None = None
    cap_text = str(form.get("spend_cap", "")).strip().lstrip("¥").strip()
    if cap_text:
        try:
            spend_cap = parse_yuan(cap_text, param="spend_cap")
        except InvalidInputError:
            errors["spend_cap"] = pick(lang, *BAD_CAP)
    rpm: int | None = None
    rpm_text = str(form.get("rpm", "")).strip().replace(",", "")
    if rpm_text:
        if rpm_text.isdigit() and 1 <= int(rpm_text) <= keys.MAX_RPM:
            rpm = int(rpm_text)
        else:
            errors["rpm"] = pick(lang, *BAD_RPM)
    if errors:
        return None, errors
    return NewKeyOrder(name, scopes, expires_at, spend_cap, rpm), {}


def curl_example(base_url: str, api_key: str) -> str:
    """Seed 000's text-to-speech request, ready to paste into a terminal."""
    return (
        f"curl -X POST {base_url}/tts/v1/audio/speech \\\n"
        f'  -H "X-API-Key: {api_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "Qwen3-TTS", "input": "你好，欢迎使用 Amphion 开放平台。", '
        '"voice": "default"}\' \\\n'
        "  --output output.mp3"
    )


class KeysState(rx.State):
    """The signed-in user's keys as display rows, the create form's verdicts, one reveal."""

    loaded: bool = False
    rows: list[dict[str, str]] = []
    page: int = 1
    total: int = 0
    api_base: str = ""

    create_open: bool = False
    creating: bool = False
    name_error: str = ""
    scopes_error: str = ""
    spend_cap_error: str = ""
    rpm_error: str = ""

    # The new key's plaintext and name, only while the reveal dialog is open.
    revealed_key: str = ""
    revealed_name: str = ""

    # The key being renamed (its id only picks the row: the handler checks the owner again).
    rename_id: str = ""
    rename_name: str = ""
    rename_error: str = ""

    @rx.var
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @rx.var
    def has_keys(self) -> bool:
        return self.total > 0

    @rx.var
    def reveal_open(self) -> bool:
        return self.revealed_key != ""

    @rx.var
    def revealed_curl(self) -> str:
        return curl_example(self.api_base, self.revealed_key or KEY_PLACEHOLDER)

    @rx.var
    def sample_curl(self) -> str:
        """The same request with ``$AMPHION_API_KEY`` for the page's quick-start card."""
        return curl_example(self.api_base, "$AMPHION_API_KEY")

    async def _principal_or_leave(self):
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            self.rows, self.total = [], 0
            self.revealed_key = self.revealed_name = ""
        return principal

    async def _reload(self, user_id: int) -> None:
        listed = await asyncio.to_thread(read_page, user_id, self.page)
        if not listed.rows and self.page > 1:  # the last row of the last page went away
            self.page = max(1, -(-listed.total // PAGE_SIZE))
            listed = await asyncio.to_thread(read_page, user_id, self.page)
        self.rows, self.total = listed.rows, listed.total

    @rx.event
    async def load(self):
        """On load: the first page of keys, or the sign-in page."""
        self.revealed_key = self.revealed_name = ""
        self.create_open = False
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.api_base = get_settings().public_base_url.rstrip("/") or self.router.url.origin
        self.page = 1
        await self._reload(principal.user_id)
        self.loaded = True
        return None

    @rx.event
    async def next_page(self):
        return await self._turn(1)

    @rx.event
    async def previous_page(self):
        return await self._turn(-1)

    async def _turn(self, step: int):
        """``step`` pages on, within the list, for the signed-in user."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        page = min(max(1, self.page + step), self.pages)
        if page != self.page:
            self.page = page
            await self._reload(principal.user_id)
        return None

    # --- create --------------------------------------------------------------------------

    def _clear_form(self) -> None:
        self.name_error = self.scopes_error = self.spend_cap_error = self.rpm_error = ""

    @rx.event
    def set_create_open(self, is_open: bool) -> None:
        """Open or close the create dialog (opening starts from a clean form)."""
        self.create_open = bool(is_open)
        self._clear_form()
        self.creating = False

    @rx.event
    async def create(self, form: dict[str, Any]):
        """Issue a key from the form and open the reveal dialog with its plaintext."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        if self.creating:
            return None
        lang = await language_of(self)
        self._clear_form()
        order, errors = read_form(form if isinstance(form, dict) else {}, lang)
        if order is None:
            self.name_error = errors.get("name", "")
            self.scopes_error = errors.get("scopes", "")
            self.spend_cap_error = errors.get("spend_cap", "")
            self.rpm_error = errors.get("rpm", "")
            return None
        self.creating = True
        try:
            name, plaintext = await asyncio.to_thread(_issue, principal.user_id, order)
        except DomainError as error:
            self.creating = False
            message = error.message
            if message.startswith("At most"):
                message = pick(lang, *TOO_MANY_KEYS)
            return rx.toast.error(message)
        except Exception:
            logger.exception("console: issuing a key failed")
            self.creating = False
            return rx.toast.error(pick(lang, *UNEXPECTED))
        self.creating = False
        self.create_open = False
        self.revealed_key, self.revealed_name = plaintext, name
        self.page = 1
        await self._reload(principal.user_id)
        return None

    @rx.event
    def dismiss_reveal(self) -> None:
        """Close the reveal dialog: the plaintext leaves the state for good."""
        self.revealed_key = self.revealed_name = ""

    @rx.event
    def reveal_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.dismiss_reveal()

    # --- rename and revoke ---------------------------------------------------------------

    @rx.event
    def start_rename(self, key_id: str, name: str) -> None:
        """Open the rename dialog for one row."""
        self.rename_id, self.rename_name, self.rename_error = str(key_id), str(name), ""

    @rx.event
    def rename_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.rename_id = self.rename_name = self.rename_error = ""

    @rx.event
    async def rename(self, form: dict[str, Any]):
        """Rename one of the caller's keys (someone else's id: not found, nothing changes)."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        key_id = self.rename_id
        name = str((form or {}).get("name", "")).strip() if isinstance(form, dict) else ""
        if not name:
            self.rename_error = pick(lang, *NAME_REQUIRED)
            return None
        if len(name) > keys.MAX_NAME:
            self.rename_error = pick(lang, *NAME_TOO_LONG)
            return None
        self.rename_error = ""
        try:
            await asyncio.to_thread(_rename, principal.user_id, _key_id(key_id), name)
        except NotFoundError:
            self.rename_id = self.rename_name = ""
            return rx.toast.error(pick(lang, *NOT_FOUND))
        except DomainError as error:
            revoked = error.code == "KEY_REVOKED"
            self.rename_error = (
                pick(lang, "A revoked key cannot be renamed.", "已吊销的密钥不能重命名。")
                if revoked
                else error.message
            )
            return None
        except Exception:
            logger.exception("console: renaming a key failed")
            return rx.toast.error(pick(lang, *UNEXPECTED))
        self.rename_id = self.rename_name = ""
        await self._reload(principal.user_id)
        return rx.toast.success(pick(lang, "Key renamed", "已重命名"))

    @rx.event
    async def revoke(self, key_id: str):
        """Revoke one of the caller's keys now (someone else's id: not found, nothing changes)."""
        principal = await self._principal_or_leave()
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        try:
            await asyncio.to_thread(_revoke, principal.user_id, _key_id(key_id))
        except NotFoundError:
            return rx.toast.error(pick(lang, *NOT_FOUND))
        except Exception:
            logger.exception("console: revoking a key failed")
            return rx.toast.error(pick(lang, *UNEXPECTED))
        await self._reload(principal.user_id)
        return rx.toast.success(
            pick(lang, "Key revoked. It stops working within a second.", "密钥已吊销，1 秒内失效。")
        )


def _key_id(raw: Any) -> int:
    """A key id from the browser: a positive integer, or not found."""
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFoundError("API key not found")
    return int(text)


def _issue(user_id: int, order: NewKeyOrder) -> tuple[str, str]:
    with get_database().write() as session:
        key, plaintext = keys.issue_key(
            session,
            user_id=user_id,
            name=order.name,
            secret_key=get_settings().secret_key,
            scopes=order.scopes,
            expires_at=order.expires_at,
            spend_cap_micros=order.spend_cap_micros,
            rpm_limit=order.rpm_limit,
        )
        return key.name, plaintext


def _rename(user_id: int, key_id: int, name: str) -> None:
    with get_database().write() as session:
        keys.update_key(session, user_id=user_id, key_id=key_id, name=name)


def _revoke(user_id: int, key_id: int) -> None:
    with get_database().write() as session:
        digest = keys.revoke_key(session, user_id=user_id, key_id=key_id).digest
    # The API is served in this process too: it refuses the key from the next call on.
    keys.invalidate_everywhere(digest)
