"""Billing: balance, the ledger a page at a time, spend by day / model / key, codes, prices.

Amounts are integer micro-yuan in ``api/`` and reach the browser as display strings made by
``format_yuan``; the chart alone gets plain numbers (bar heights). Spend comes from the
ledger's captured holds, the charges the hold and capture entries add up to, so it matches the
ledger table exactly; the per-model split comes from history (the ledger does not know models).
The CSV export is built in a worker thread and handed to the browser as a download, never kept
in the page state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import reflex as rx

from api.billing import codes, ledger
from api.billing.models import ENTRY_KINDS, Hold, LedgerEntry
from api.billing.money import format_yuan
from api.catalog.catalog import get_catalog
from api.db import get_database, utcnow
from api.errors import DomainError
from api.history import service as history
from api.http.routes.billing import REDEEM_ATTEMPTS_PER_HOUR
from api.keys.models import ApiKey
from api.keys.service import list_keys
from api.ratelimit import get_rate_limiter
from api.settings import get_settings
from console import routes
from console.i18n import language_of, pick
from console.state.dated_pages import PAGE_SIZE, DatedPagesMixin, day_range
from console.state.history import display_time, key_label
from console.state.session import signed_in_principal

logger = logging.getLogger("amphion.console")

SPEND_PERIODS = (7, 30, 90)
EXPORT_MAX_ROWS = 100_000
CHART_SERIES = ("tts", "asr", "sed", "voice")


def _signed(micros: int) -> str:
    """``+¥5.0000`` or ``-¥0.0050``."""
    return f"-¥{format_yuan(-micros)}" if micros < 0 else f"+¥{format_yuan(micros)}"


def _redeemed_code(note: str) -> str:
    """The code's last characters from a redeem entry's note (``"code …ABCD"``)."""
    return note.rpartition("…")[2] if "…" in note else ""


def entry_row(
    entry: LedgerEntry, holds: dict[int, Hold], keys: dict[int, ApiKey]
) -> dict[str, str]:
    """One ledger line of display strings (the page describes it in the reader's language)."""
    hold = holds.get(entry.hold_id) if entry.hold_id is not None else None
    key_name, key_mask = key_label(entry.api_key_id, keys)
    return {
        "id": str(entry.id),
        "kind": entry.kind,
        "amount": _signed(entry.amount_micros),
        "credit": "1" if entry.amount_micros > 0 else "",
        "balance_after": format_yuan(entry.balance_after_micros),
        "time": display_time(entry.created_at),
        "purpose": hold.purpose if hold is not None else "",
        # What the operation finally cost (shown on its capture line).
        "charged": format_yuan(hold.captured_micros or 0) if hold is not None else "",
        # The unused part of a reservation that a capture gave back, if any.
        "refund": format_yuan(entry.amount_micros)
        if entry.kind == "capture" and entry.amount_micros > 0
        else "",
        "code": _redeemed_code(entry.note) if entry.kind == "redeem" else "",
        "note": entry.note if entry.kind in ("grant", "adjustment") else "",
        "key_name": key_name,
        "key_mask": key_mask,
    }


@dataclass(frozen=True)
class LedgerPage:
    rows: list[dict[str, str]]
    total: int
    balance: str


def read_ledger_page(user_id: int, *, kind: str, since: str, until: str, page: int) -> LedgerPage:
    start, end = day_range(since, until)
    with get_database().read() as session:
        entries, total = ledger.list_entries(
            session,
            user_id,
            kinds=(kind,) if kind in ENTRY_KINDS else (),
            since=start,
            until=end,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        hold_ids = [e.hold_id for e in entries if e.hold_id is not None]
        holds = ledger.holds_by_id(session, user_id, hold_ids)
        keys = {k.id: k for k in list_keys(session, user_id) if k.id is not None}
        balance = ledger.balance_of(session, user_id)
    return LedgerPage([entry_row(e, holds, keys) for e in entries], total, format_yuan(balance))


@dataclass(frozen=True)
class SpendReport:
    chart: list[dict[str, Any]]
    total: str
    calls: int
    by_model: list[dict[str, str]]
    by_key: list[dict[str, str]]


def _share(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.0f}%" if whole else "0%"


def read_spend(user_id: int, days: int) -> SpendReport:
    """Spend over the last ``days`` UTC days: per day and type, per model, per API key."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    with get_database().read() as session:
        per_day = ledger.spend_by_day(session, user_id, since=since)
        per_key = ledger.spend_by_key(session, user_id, since=since)
        per_model = history.usage_totals(session, user_id=user_id, since=since, group_by="model")
        keys = {k.id: k for k in list_keys(session, user_id) if k.id is not None}
    # Holds are made by the speech use cases with the operation type as their purpose.
    micros: dict[str, dict[str, int]] = {}
    for spend in per_day:
        day = micros.setdefault(spend.day, {})
        day[spend.purpose] = day.get(spend.purpose, 0) + spend.charged_micros
    chart = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        amounts = micros.get(day.isoformat(), {})
        # Bar heights only: every figure the reader sees is a format_yuan string.
        chart.append(
            {"day": day.strftime("%m-%d")}
            | {name: amounts.get(name, 0) / 1_000_000 for name in CHART_SERIES}
        )
    total = sum(s.charged_micros for s in per_day)
    model_total = sum(t.cost_micros for t in per_model)
    by_model = [
        {
            "model": str(t.group or ""),
            "calls": f"{t.calls:,}",
            "cost": format_yuan(t.cost_micros),
            "share": _share(t.cost_micros, model_total),
        }
        for t in per_model
    ]
    by_key = []
    for spend in per_key:
        name, masked = key_label(spend.api_key_id, keys)
        by_key.append(
            {
                "name": name,
                "mask": masked,
                "console": "" if spend.api_key_id is not None else "1",
                "calls": f"{spend.calls:,}",
                "cost": format_yuan(spend.charged_micros),
                "share": _share(spend.charged_micros, total),
            }
        )
    return SpendReport(chart, format_yuan(total), sum(s.calls for s in per_day), by_model, by_key)


_UNITS = {
    "call": ("per call", "每次调用"),
    "1k_characters": ("per 1,000 characters", "每千字符"),
    "10k_characters": ("per 10,000 characters", "每万字符"),
    "second": ("per second of audio", "每秒音频"),
}


def price_rows() -> list[dict[str, str]]:
    """Every model of the catalog with its unit (both languages) and price."""
    rows = []
    for model in sorted(get_catalog().models(), key=lambda m: (m.kind, m.id)):
        unit_en, unit_zh = _UNITS.get(model.price.unit.value, (model.price.unit.value,) * 2)
        rows.append(
            {
                "model": model.id,
                "name": model.name,
                "kind": model.kind,
                "unit_en": unit_en,
                "unit_zh": unit_zh,
                "price": model.price.yuan(),
            }
        )
    return rows


def export_ledger(user_id: int, *, kind: str, since: str, until: str) -> tuple[str, int]:
    start, end = day_range(since, until)
    with get_database().read() as session:
        return ledger.entries_csv(
            session,
            user_id,
            kinds=(kind,) if kind in ENTRY_KINDS else (),
            since=start,
            until=end,
            max_rows=EXPORT_MAX_ROWS,
        )


def redeem_code(user_id: int, code: str) -> tuple[str, str]:
    """Redeem for ``user_id``; (amount, new balance). Shares the API's attempt budget."""
    verdict = get_rate_limiter().hit(
        f"redeem:user:{user_id}", limit=REDEEM_ATTEMPTS_PER_HOUR, window=3600
    )
    if not verdict.allowed:
        raise TooManyAttempts
    with get_database().write() as session:
        entry = codes.redeem(
            session, user_id=user_id, code=code, secret_key=get_settings().secret_key
        )
        return format_yuan(entry.amount_micros), format_yuan(entry.balance_after_micros)


class TooManyAttempts(Exception):
    """The user tried too many codes this hour."""


class BillingState(DatedPagesMixin, rx.State):
    """Balance, the ledger page and its filters, the spend report, and the price list."""

    loaded: bool = False
    balance: str = ""

    entries: list[dict[str, str]] = []
    kind: str = ""  # "" = every kind

    spend_days: int = 30
    chart: list[dict[str, Any]] = []
    spend_total: str = "0.0000"
    spend_calls: int = 0
    by_model: list[dict[str, str]] = []
    by_key: list[dict[str, str]] = []

    prices: list[dict[str, str]] = []

    redeem_error: str = ""
    redeeming: bool = False
    exporting: bool = False

    @rx.var
    def filtered(self) -> bool:
        return bool(self.kind or self.since or self.until)

    async def _read_list(self, user_id: int) -> None:
        """The ledger page, and the balance with it."""
        found = await asyncio.to_thread(
            read_ledger_page,
            user_id,
            kind=self.kind,
            since=self.since,
            until=self.until,
            page=self.page,
        )
        self.entries, self.total, self.balance = found.rows, found.total, found.balance

    async def _read_spend(self, user_id: int) -> None:
        report = await asyncio.to_thread(read_spend, user_id, self.spend_days)
        self.chart = report.chart
        self.spend_total = report.total
        self.spend_calls = report.calls
        self.by_model = report.by_model
        self.by_key = report.by_key

    @rx.event
    async def load(self):
        """On load: balance, the first ledger page, the spend report and the prices."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            self.entries, self.by_model, self.by_key = [], [], []
            return rx.redirect(routes.SIGNIN, replace=True)
        self.page = 1
        self.redeem_error = ""
        await self._read_list(principal.user_id)
        await self._read_spend(principal.user_id)
        if not self.prices:
            self.prices = await asyncio.to_thread(price_rows)
        self.loaded = True
        return None

    @rx.event
    async def set_kind(self, value: str):
        """Show one kind of entry ("all" shows every kind)."""
        self.kind = value if value in ENTRY_KINDS else ""
        return await self._show_page(1)

    @rx.event
    async def clear_filters(self):
        self.kind = self.since = self.until = ""
        return await self._show_page(1)

    @rx.event
    async def set_spend_days(self, value: str | list[str]):
        """The spend report's period: 7, 30 or 90 days."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        try:
            days = int(value if isinstance(value, str) else value[0])
        except (TypeError, ValueError, IndexError):
            days = 30
        self.spend_days = days if days in SPEND_PERIODS else 30
        await self._read_spend(principal.user_id)
        return None

    @rx.event
    async def redeem(self, form: dict[str, Any]):
        """Redeem a code; the balance, ledger and messages follow."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        lang = await language_of(self)
        code = str(form.get("code", "")).strip()
        if not code:
            self.redeem_error = pick(lang, "Enter a code.", "请输入兑换码。")
            return
        self.redeeming = True
        self.redeem_error = ""
        yield
        try:
            amount, _ = await asyncio.to_thread(redeem_code, principal.user_id, code[:64])
        except TooManyAttempts:
            self.redeem_error = pick(
                lang,
                "Too many attempts. Try again in an hour.",
                "尝试次数过多，请一小时后再试。",
            )
        except DomainError as error:
            if error.code == "INVALID_CODE":
                self.redeem_error = pick(
                    lang,
                    "This code is not valid or has already been used.",
                    "兑换码无效或已被使用。",
                )
            else:
                self.redeem_error = error.message
        except Exception:
            logger.exception("redeeming a code failed")
            self.redeem_error = pick(
                lang, "The code could not be redeemed. Try again.", "兑换失败，请重试。"
            )
        else:
            self.page = 1
            await self._read_list(principal.user_id)
            yield rx.set_value("redeem-code", "")
            yield rx.toast.success(
                pick(lang, f"¥{amount} added to your balance", f"已到账 ¥{amount}")
            )
        finally:
            self.redeeming = False

    @rx.event
    async def export_csv(self):
        """The ledger under the current filters as a CSV download."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        lang = await language_of(self)
        self.exporting = True
        yield
        try:
            text, rows = await asyncio.to_thread(
                export_ledger,
                principal.user_id,
                kind=self.kind,
                since=self.since,
                until=self.until,
            )
        except Exception:
            logger.exception("exporting the ledger failed")
            yield rx.toast.error(pick(lang, "The export failed. Try again.", "导出失败，请重试。"))
            return
        finally:
            self.exporting = False
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        if rows >= EXPORT_MAX_ROWS:
            yield rx.toast.info(
                pick(
                    lang,
                    f"The file has the newest {EXPORT_MAX_ROWS:,} entries; "
                    "narrow the dates to export older ones.",
                    f"文件包含最新的 {EXPORT_MAX_ROWS:,} 条明细，如需更早的记录请缩小日期范围。",
                )
            )
        # The byte-order mark makes spreadsheet programs read the notes as UTF-8.
        yield rx.download(
            data="\ufeff" + text,
            filename=f"amphion-ledger-{stamp}.csv",
            mime_type="text/csv;charset=utf-8",
        )
