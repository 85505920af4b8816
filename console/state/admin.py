"""The admin page: accounts and balances, credit grants and adjustments, redemption codes, the
model catalog with each model's health.

Every handler asks the database who is calling and does nothing for anyone but an admin (the
operator use cases in ``api.billing.admin`` check the role once more). Which account a credit
change goes to is kept in a backend var, set from the database when the dialog opens: the
browser only ever sends an amount and a note.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import reflex as rx

from api.accounts.service import get_user
from api.billing import admin
from api.billing.money import format_yuan, parse_yuan
from api.catalog.catalog import get_catalog
from api.db import get_database
from api.engines.health import catalog_health
from api.engines.registry import get_registry
from api.errors import DomainError, InsufficientBalanceError, InvalidInputError
from api.principal import Principal
from api.settings import get_settings
from console import routes
from console.i18n import language_of, pick
from console.state.session import signed_in_principal

logger = logging.getLogger("amphion.console")

PAGE_SIZE = 20
MAX_CODES_AT_ONCE = 100
MAX_QUERY = 320
UNEXPECTED = ("Something went wrong. Please try again.", "操作失败，请稍后重试。")


def _account_row(user: Any) -> dict[str, str]:
    return {
        "id": str(user.id),
        "email": user.email,
        "role": user.role,
        "balance": format_yuan(user.balance_micros),
        "joined": f"{user.created_at.astimezone(UTC):%Y-%m-%d}",
        "active": "yes" if user.is_active else "no",
    }


@dataclass(frozen=True)
class AccountsPage:
    rows: list[dict[str, str]]
    total: int


def read_accounts(principal: Principal, query: str, page: int) -> AccountsPage:
    with get_database().read() as session:
        users, total = admin.list_accounts(
            session, principal, query=query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        return AccountsPage([_account_row(user) for user in users], total)


def read_account_email(principal: Principal, user_id: int) -> str:
    """The e-mail of one account, looked up as an admin (so a non-admin learns nothing)."""
    principal.require_admin()
    with get_database().read() as session:
        return get_user(session, user_id).email


def read_catalog() -> list[dict[str, str]]:
    """Every catalog model with its price and health (no engine is built, nothing is fetched)."""
    settings = get_settings()
    catalog = get_catalog()
    health = {
        row.model_id: row for row in catalog_health(catalog, get_registry(settings), settings)
    }
    rows = []
    for model in catalog.models():
        state = health[model.id]
        rows.append(
            {
                "id": model.id,
                "kind": model.kind,
                "provider": model.provider,
                "engine": ", ".join(state.engines),
                "price": model.price.yuan(),
                "unit": model.price.unit.value,
                "status": state.status,
                "missing": ", ".join(state.missing),
            }
        )
    return rows


def apply_credit(
    principal: Principal, email: str, amount_micros: int, note: str
) -> admin.CreditChange:
    with get_database().write() as session:
        return admin.change_credit(
            session, principal, email=email, amount_micros=amount_micros, note=note
        )


def mint(principal: Principal, amount_micros: int, count: int, batch: str) -> list[str]:
    with get_database().write() as session:
        return admin.mint_codes(
            session,
            principal,
            amount_micros=amount_micros,
            count=count,
            secret_key=get_settings().secret_key,
            batch=batch,
        )


def explain(exc: DomainError, lang: str) -> str:
    """A domain error of these forms in the admin's language (others as the service said)."""
    if isinstance(exc, InsufficientBalanceError):
        return pick(
            lang,
            "That adjustment would take the balance below zero.",
            "调整后余额将低于零，无法执行。",
        )
    if exc.param == "amount":
        return pick(
            lang,
            "Enter an amount in yuan, such as 10 or -2.50 (up to 6 decimals).",
            "请输入以元为单位的金额，例如 10 或 -2.50（最多 6 位小数）。",
        )
    if exc.param == "count":
        return pick(
            lang,
            f"Enter how many codes to create (1–{MAX_CODES_AT_ONCE}).",
            f"请输入要生成的数量（1–{MAX_CODES_AT_ONCE}）。",
        )
    return exc.message


def _count(text: Any) -> int:
    try:
        count = int(str(text).strip())
    except ValueError:
        raise InvalidInputError("count must be a whole number", param="count") from None
    if not 1 <= count <= MAX_CODES_AT_ONCE:
        raise InvalidInputError(f"count must be between 1 and {MAX_CODES_AT_ONCE}", param="count")
    return count


class AdminState(rx.State):
    """What the admin page shows; filled for admins only."""

    loaded: bool = False
    accounts: list[dict[str, str]] = []
    query: str = ""
    page: int = 1
    total: int = 0
    catalog: list[dict[str, str]] = []
    # The credit dialog: whom it is for (display) and what happened.
    credit_email: str = ""
    credit_open: bool = False
    credit_error: str = ""
    # Freshly minted codes, shown once until dismissed or the page is left.
    minted_codes: list[str] = []
    minted_amount: str = ""
    codes_error: str = ""
    busy: bool = False
    # The account a credit change goes to: set from the database, never from the browser.
    _credit_user_id: int = 0

    @rx.var
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @rx.var
    def minted_text(self) -> str:
        """All minted codes, one a line (what the copy button copies)."""
        return "\n".join(self.minted_codes)

    @rx.var
    def healthy_models(self) -> int:
        return sum(row["status"] in {"loaded", "available", "configured"} for row in self.catalog)

    async def _admin(self) -> Principal | None:
        """The caller if an admin; anyone else gets nothing (and the page's data is dropped)."""
        principal = await signed_in_principal(self)
        if principal is None or not principal.is_admin or principal.via != "session":
            self._forget()
            return None
        return principal

    def _forget(self) -> None:
        self.loaded = False
        self.accounts, self.catalog, self.minted_codes = [], [], []
        self.total, self.page, self.query = 0, 1, ""
        self.credit_open, self.credit_email, self._credit_user_id = False, "", 0

    async def _reload_accounts(self, principal: Principal) -> None:
        result = await asyncio.to_thread(read_accounts, principal, self.query, self.page)
        self.accounts, self.total = result.rows, result.total

    @rx.event
    async def load(self):
        """On load: admins get the page; others go to sign-in or to their dashboard."""
        principal = await signed_in_principal(self)
        if principal is None:
            self._forget()
            return rx.redirect(routes.SIGNIN, replace=True)
        if not principal.is_admin or principal.via != "session":
            self._forget()
            return [
                rx.redirect(routes.DASHBOARD, replace=True),
                rx.toast.error(
                    pick(
                        await language_of(self),
                        "The admin page is for administrators only.",
                        "管理后台仅限管理员访问。",
                    )
                ),
            ]
        self._forget()
        await self._reload_accounts(principal)
        self.catalog = await asyncio.to_thread(read_catalog)
        self.loaded = True
        return None

    @rx.event
    async def search(self, form: dict[str, Any]):
        """Filter accounts by a fragment of their e-mail."""
        principal = await self._admin()
        if principal is None:
            return
        self.query = str(form.get("query", "")).strip()[:MAX_QUERY]
        self.page = 1
        await self._reload_accounts(principal)

    @rx.event
    async def next_page(self):
        principal = await self._admin()
        if principal is None or self.page >= self.pages:
            return
        self.page += 1
        await self._reload_accounts(principal)

    @rx.event
    async def previous_page(self):
        principal = await self._admin()
        if principal is None or self.page <= 1:
            return
        self.page -= 1
        await self._reload_accounts(principal)

    @rx.event
    async def open_credit(self, user_id: str):
        """Open the credit dialog for one account (looked up again in the database)."""
        principal = await self._admin()
        if principal is None:
            return None
        try:
            email = await asyncio.to_thread(read_account_email, principal, int(user_id))
        except (ValueError, DomainError):
            return rx.toast.error(pick(await language_of(self), "No such account.", "账户不存在。"))
        self._credit_user_id, self.credit_email = int(user_id), email
        self.credit_error, self.credit_open = "", True
        return None

    @rx.event
    async def set_credit_open(self, is_open: bool):
        """The dialog's own close (Esc, the cancel button)."""
        if await self._admin() is None:
            return
        if not is_open:
            self.credit_open, self.credit_error = False, ""
            self.credit_email, self._credit_user_id = "", 0

    @rx.event
    async def change_credit(self, form: dict[str, Any]):
        """Grant (positive) or adjust (negative) the dialog's account's credit, with a note."""
        principal = await self._admin()
        if principal is None or not self._credit_user_id or self.busy:
            return None
        lang = await language_of(self)
        note = str(form.get("note", "")).strip()
        if not note:
            self.credit_error = pick(lang, "Add a note saying why.", "请填写备注说明原因。")
            return None
        self.busy = True
        try:
            amount = parse_yuan(str(form.get("amount", "")), allow_negative=True)
            if amount == 0:
                raise InvalidInputError("amount must not be zero", param="amount")
            # The e-mail comes from the database, keyed by the backend var.
            email = await asyncio.to_thread(read_account_email, principal, self._credit_user_id)
            change = await asyncio.to_thread(apply_credit, principal, email, amount, note)
        except DomainError as exc:
            self.credit_error = explain(exc, lang)
            return None
        except Exception:
            logger.exception("admin credit change failed")
            self.credit_error = pick(lang, *UNEXPECTED)
            return None
        finally:
            self.busy = False
        self.credit_open, self.credit_error, self._credit_user_id = False, "", 0
        await self._reload_accounts(principal)
        verb = (
            pick(lang, "Granted", "已发放")
            if change.amount_micros > 0
            else pick(lang, "Adjusted", "已调整")
        )
        balance = format_yuan(change.balance_after_micros)
        return rx.toast.success(
            pick(
                lang,
                f"{verb} ¥{format_yuan(change.amount_micros)} for {change.email}; "
                f"balance ¥{balance}.",
                f"{verb} ¥{format_yuan(change.amount_micros)}（{change.email}），余额 ¥{balance}。",
            )
        )

    @rx.event
    async def create_codes(self, form: dict[str, Any]):
        """Mint redemption codes; they are shown once, here."""
        principal = await self._admin()
        if principal is None or self.busy:
            return None
        lang = await language_of(self)
        self.codes_error, self.minted_codes = "", []
        self.busy = True
        try:
            amount = parse_yuan(str(form.get("amount", "")))
            count = _count(form.get("count", "1"))
            batch = str(form.get("batch", ""))[:64]
            codes = await asyncio.to_thread(mint, principal, amount, count, batch)
        except DomainError as exc:
            self.codes_error = explain(exc, lang)
            return None
        except Exception:
            logger.exception("admin code minting failed")
            self.codes_error = pick(lang, *UNEXPECTED)
            return None
        finally:
            self.busy = False
        self.minted_codes, self.minted_amount = codes, format_yuan(amount)
        return rx.toast.success(
            pick(lang, f"{len(codes)} codes created.", f"已生成 {len(codes)} 个兑换码。")
        )

    @rx.event
    async def dismiss_codes(self):
        """Forget the minted codes (they cannot be shown again)."""
        if await self._admin() is None:
            return
        self.minted_codes, self.minted_amount = [], ""
