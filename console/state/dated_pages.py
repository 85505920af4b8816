"""A list of the signed-in user's entries a page at a time, narrowed to a range of days: the
pager and day filters that History (operations) and Billing (ledger entries) share.

The day inputs arrive from the browser as text; anything that is not a ``YYYY-MM-DD`` date
clears that end of the range. Every page turn or filter change re-checks the session and
reads the page again for the signed-in user only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import reflex as rx

from console import routes
from console.state.session import signed_in_principal

PAGE_SIZE = 20


def parse_day(text: str) -> date | None:
    """A ``YYYY-MM-DD`` from a date input, or None for anything else."""
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def day_range(since: str, until: str) -> tuple[datetime | None, datetime | None]:
    """UTC bounds of an inclusive day range (either end may be open)."""
    first, last = parse_day(since), parse_day(until)
    start = None if first is None else datetime.combine(first, time.min, tzinfo=UTC)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def page_count(total: int) -> int:
    """Pages of ``PAGE_SIZE`` that ``total`` entries fill (at least one, shown empty)."""
    return max(1, -(-total // PAGE_SIZE))


class DatedPagesMixin(rx.State, mixin=True):
    """The page, the day range and the pager's handlers; the state reads its page of entries
    for a user in ``_read_list`` (and keeps its own kind filter, which resets the page too)."""

    page: int = 1
    total: int = 0
    # "YYYY-MM-DD" or "" (open).
    since: str = ""
    until: str = ""

    @rx.var
    def pages(self) -> int:
        return page_count(self.total)

    async def _read_list(self, user_id: int) -> None:
        """Read the current page for ``user_id`` under the filters into the state."""
        raise NotImplementedError

    async def _show_page(self, page: int):
        """Show page ``page`` for the signed-in user (the sign-in page for anyone else)."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.page = page
        await self._read_list(principal.user_id)
        return None

    @rx.event
    async def set_since(self, value: str):
        self.since = value if parse_day(value) else ""
        return await self._show_page(1)

    @rx.event
    async def set_until(self, value: str):
        self.until = value if parse_day(value) else ""
        return await self._show_page(1)

    @rx.event
    async def next_page(self):
        return await self._show_page(self.page + 1 if self.page < self.pages else self.page)

    @rx.event
    async def previous_page(self):
        return await self._show_page(max(1, self.page - 1))
