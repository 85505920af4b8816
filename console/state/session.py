"""Who is signed in: the HttpOnly session cookie, resolved in-process to a ``Principal``.

The session token lives only in the ``amphion_session`` cookie that the API door sets
(HttpOnly, SameSite=Lax). Page scripts cannot read it, but the browser sends it with the
websocket handshake, and Reflex keeps the handshake headers on the server
(``router.headers.cookie`` is left out of what goes to the browser). A new handshake happens on
every full page load, so the console signs in and out with full page loads.

What the browser shows proves nothing: every handler that acts for a user calls
:func:`current_principal` (or :func:`signed_in_principal`) again, and the answer comes from the
database, through the same ``resolve_session`` the API uses.
"""

from __future__ import annotations

import asyncio
import json

import reflex as rx
from reflex.event import EventSpec

from api.accounts.service import SESSION_COOKIE, resolve_session
from api.db import get_database
from api.principal import Principal
from api.security import client_address
from api.settings import get_settings
from console import routes


def session_token(cookie_header: str) -> str:
    """The console session token in a ``Cookie`` header, or ``""``."""
    # A hand-rolled split: http.cookies gives up on the whole header at the first cookie it
    # dislikes, and other apps on the same host may set such cookies.
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == SESSION_COOKIE:
            return value.strip().strip('"')
    return ""


async def current_principal(state: rx.State) -> Principal | None:
    """The live session behind the websocket's cookie, or None (without touching any state)."""
    token = session_token(state.router.headers.cookie)
    if not token:
        return None
    # resolve_session is blocking database work: keep it off the event loop.
    return await asyncio.to_thread(resolve_session, get_database(), get_settings(), token)


async def signed_in_principal(state: rx.State) -> Principal | None:
    """Like :func:`current_principal`, and refresh the app shell's account display with it."""
    principal = await current_principal(state)
    session = await state.get_state(SessionState)
    session._show(principal)
    return principal


def client_ip(state: rx.State) -> str:
    """The browser's address for throttling (see ``api.security.client_address``)."""
    forwarded = state.router.headers.raw_headers.get("x-forwarded-for", "")
    return client_address(state.router.session.client_ip, forwarded, get_settings().trusted_proxies)


# Reflex keys a tab's states by a token in sessionStorage. Dropping it whenever the signed-in
# account changes gives the next page a fresh state tree, so nothing one account loaded can be
# sent to the browser again under another.
_FORGET_STATES = "window.sessionStorage.clear();"


def go_to(url: str) -> EventSpec:
    """A full page load into a new session: fresh states, and a websocket that re-reads cookies.

    API routes such as the ticket claim are not Reflex pages, so client-side routing cannot
    reach them anyway.
    """
    return rx.call_script(f"{_FORGET_STATES} window.location.assign({json.dumps(url)})")


# The API clears the HttpOnly cookie (page scripts cannot); whatever it answers, leave the page.
_SIGN_OUT_SCRIPT = (
    f"fetch({json.dumps(routes.LOGOUT)}, {{method: 'POST', credentials: 'same-origin'}})"
    ".catch(() => null)"
    f".finally(() => {{ {_FORGET_STATES} window.location.assign({json.dumps(routes.SIGNIN)}); }})"
)


class SessionState(rx.State):
    """The signed-in account as the app shell shows it: display values only, no secrets."""

    email: str = ""
    signed_in: bool = False
    # Only decides whether the admin entry is shown; admin handlers check the role themselves.
    is_admin: bool = False

    @rx.var
    def initial(self) -> str:
        """The avatar letter."""
        return self.email[:1].upper()

    def _show(self, principal: Principal | None) -> None:
        shown = (
            principal is not None,
            principal.email if principal is not None else "",
            principal is not None and principal.is_admin,
        )
        # Only a change is assigned: any assignment sends the vars to the browser again, and
        # every page's outer rx.cond reads signed_in, so the whole page would re-render after
        # each event (measured by bench.console_roundtrip).
        if (self.signed_in, self.email, self.is_admin) != shown:
            self.signed_in, self.email, self.is_admin = shown

    @rx.event
    async def route_index(self):
        """``/``: the dashboard for a signed-in visitor, the sign-in page for anyone else."""
        principal = await signed_in_principal(self)
        target = routes.DASHBOARD if principal is not None else routes.SIGNIN
        return rx.redirect(target, replace=True)

    @rx.event
    async def require_signed_in(self):
        """On-load guard of private pages that need nothing else loaded."""
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        return None

    @rx.event
    def sign_out(self):
        """End the session through the API (which clears the cookie), then go to sign-in."""
        self._show(None)
        return rx.call_script(_SIGN_OUT_SCRIPT)
