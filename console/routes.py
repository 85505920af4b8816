"""Route constants and URL builders, so no page or handler spells a path by hand."""

from __future__ import annotations

from urllib.parse import urlencode

INDEX = "/"
SIGNIN = "/signin"
SIGNUP = "/signup"
DASHBOARD = "/dashboard"
KEYS = "/keys"
PLAYGROUND = "/playground"
CLONE = "/voices/clone"  # the clone wizard
MY_VOICES = "/voices"  # the caller's cloned voices
VOICE_LIBRARY = "/voices/library"  # system voices
BILLING = "/billing"
HISTORY = "/history"
SETTINGS = "/settings"
ADMIN = "/admin"
DEVELOPERS = "/developers"  # the API guide with the user's own key prefix and base URL

# Served by the FastAPI door (api/http/routes/account.py), not by Reflex: reach them with a
# full page load or fetch(), never with client-side routing.
SESSION_CLAIM = "/api/auth/session/claim"
LOGOUT = "/api/auth/logout"
API_DOCS = "/docs"

# Query flag the dashboard reads to greet a brand-new account.
WELCOME_PARAM = "welcome"


def session_claim(ticket: str, next_path: str = DASHBOARD) -> str:
    """The URL that trades a one-time sign-in ticket for the session cookie, then goes on."""
    return f"{SESSION_CLAIM}?{urlencode({'ticket': ticket, 'next': next_path})}"


def dashboard(*, welcome: bool = False) -> str:
    """The dashboard, optionally greeting an account that was just created."""
    return f"{DASHBOARD}?{urlencode({WELCOME_PARAM: '1'})}" if welcome else DASHBOARD
