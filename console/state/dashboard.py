"""The dashboard: balance, this month's spend, 30 days of usage, recent activity, the welcome.

Everything is re-read from the database for the signed-in user on every visit and reaches the
browser as display strings and small numbers: amounts are formatted from integer micro-yuan by
the billing package (``"100.0000"``), never computed here; dates are ISO (``2026-12-04``, UTC)
so they read the same in both languages, and labels are translated in the page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx

from api.accounts.service import get_user
from api.billing.ledger import balance_of, list_entries
from api.billing.money import MICROS_PER_YUAN, format_yuan
from api.db import get_database, utcnow
from api.history.service import daily_usage, list_records
from console import routes
from console.state.session import signed_in_principal

CHART_DAYS = 30
RECENT_ROWS = 8
# Below this the dashboard suggests topping up before requests start failing.
LOW_BALANCE_MICROS = 10 * MICROS_PER_YUAN


def _day_label(day: str) -> str:
    """``"2026-12-04" → "12-04"``: short enough for 30 ticks on a phone."""
    return day[5:]


@dataclass(frozen=True)
class Overview:
    """What the dashboard shows, read in one short transaction."""

    balance: str
    balance_low: bool
    welcome_credit: str
    member_since: str
    month_spend: str
    month_calls: int
    usage: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, str]] = field(default_factory=list)


def _usage_by_day(rows: list[Any], first_day: datetime, days: int) -> list[dict[str, Any]]:
    """One point per day (days without calls are zeros), oldest first."""
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        point = totals.setdefault(row.day, {"calls": 0, "characters": 0, "ms": 0})
        point["calls"] += row.calls
        point["characters"] += row.characters
        point["ms"] += row.duration_ms
    series = []
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).date().isoformat()
        point = totals.get(day, {"calls": 0, "characters": 0, "ms": 0})
        series.append(
            {
                "day": _day_label(day),
                "calls": point["calls"],
                "characters": point["characters"],
                "seconds": round(point["ms"] / 1000, 1),
            }
        )
    return series


def _activity_row(record: Any) -> dict[str, str]:
    if record.type == "tts" and record.characters:
        amount = f"{record.characters}"
        unit = "chars"
    elif record.duration_ms:
        amount = f"{record.duration_ms / 1000:.1f}"
        unit = "s"
    else:
        amount, unit = "", ""
    return {
        "id": str(record.id),
        "type": record.type,
        "model": record.model or "—",
        "status": record.status,
        "amount": amount,
        "unit": unit,
        "cost": format_yuan(record.cost_micros),
        "when": f"{record.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",
        "via": "key" if record.api_key_id is not None else "console",
    }


def read_overview(user_id: int, now: datetime | None = None) -> Overview:
    """The dashboard of one user (and only theirs: every query is keyed by ``user_id``)."""
    now = now or utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    chart_start = (now - timedelta(days=CHART_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with get_database().read() as session:
        user = get_user(session, user_id)
        balance = balance_of(session, user_id)
        bonus, _ = list_entries(session, user_id, kinds=["signup_bonus"], limit=1)
        month = daily_usage(session, user_id=user_id, since=month_start)
        chart = daily_usage(session, user_id=user_id, since=chart_start)
        recent, _ = list_records(session, user_id=user_id, limit=RECENT_ROWS)
        activity = [_activity_row(record) for record in recent]
    return Overview(
        balance=format_yuan(balance),
        balance_low=balance < LOW_BALANCE_MICROS,
        welcome_credit=format_yuan(bonus[0].amount_micros) if bonus else "",
        member_since=f"{user.created_at.astimezone(UTC):%Y-%m-%d}",
        month_spend=format_yuan(sum(row.cost_micros for row in month)),
        month_calls=sum(row.calls for row in month),
        usage=_usage_by_day(chart, chart_start, CHART_DAYS),
        recent=activity,
    )


class DashboardState(rx.State):
    """The dashboard's figures, re-read from the database on every visit."""

    loaded: bool = False
    balance: str = ""
    balance_low: bool = False
    low_balance_threshold: str = format_yuan(LOW_BALANCE_MICROS, 2)
    welcome_credit: str = ""
    member_since: str = ""
    month_spend: str = ""
    month_calls: int = 0
    usage: list[dict[str, Any]] = []
    recent: list[dict[str, str]] = []
    # True right after sign-up (the claim redirect adds ?welcome=1).
    just_joined: bool = False

    @rx.var
    def has_usage(self) -> bool:
        return any(point["calls"] for point in self.usage)

    @rx.event
    async def load(self):
        """On load: the signed-in user's overview, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        overview = await asyncio.to_thread(read_overview, principal.user_id)
        self.balance = overview.balance
        self.balance_low = overview.balance_low
        self.welcome_credit = overview.welcome_credit
        self.member_since = overview.member_since
        self.month_spend = overview.month_spend
        self.month_calls = overview.month_calls
        self.usage = overview.usage
        self.recent = overview.recent
        welcome = self.router.url.query_parameters.get(routes.WELCOME_PARAM) == "1"
        self.just_joined = welcome and bool(overview.welcome_credit)
        self.loaded = True
        return None
