"""The dashboard: balance, account and the welcome credit of a new account.

Only display strings reach the browser; amounts are formatted from integer micro-yuan by the
billing package (``"100.0000"``), never computed here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx

from api.accounts.service import get_user
from api.billing.ledger import balance_of, list_entries
from api.billing.money import format_yuan
from api.db import get_database
from console import routes
from console.state.session import signed_in_principal


@dataclass(frozen=True)
class Overview:
    """What the dashboard shows, read in one short transaction."""

    balance: str
    welcome_credit: str
    member_since: str


def read_overview(user_id: int) -> Overview:
    """Balance, sign-up bonus (if one was granted) and join date of one user."""
    with get_database().read() as session:
        user = get_user(session, user_id)
        balance = balance_of(session, user_id)
        bonus, _ = list_entries(session, user_id, kinds=["signup_bonus"], limit=1)
    return Overview(
        balance=format_yuan(balance),
        welcome_credit=format_yuan(bonus[0].amount_micros) if bonus else "",
        member_since=f"{user.created_at:%B} {user.created_at.day}, {user.created_at:%Y}",
    )


class DashboardState(rx.State):
    """The dashboard's figures, re-read from the database on every visit."""

    loaded: bool = False
    balance: str = ""
    welcome_credit: str = ""
    member_since: str = ""
    # Where this console (and so the API) is reached, as the browser sees it.
    api_base: str = ""
    # True right after sign-up (the claim redirect adds ?welcome=1).
    just_joined: bool = False

    @rx.event
    async def load(self):
        """On load: the signed-in user's overview, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        overview = await asyncio.to_thread(read_overview, principal.user_id)
        self.balance = overview.balance
        self.welcome_credit = overview.welcome_credit
        self.member_since = overview.member_since
        self.api_base = self.router.url.origin
        welcome = self.router.url.query_parameters.get(routes.WELCOME_PARAM) == "1"
        self.just_joined = welcome and bool(overview.welcome_credit)
        self.loaded = True
        return None
