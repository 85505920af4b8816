"""The console app: pages, and the platform's HTTP API mounted on the same server.

``rx.App(api_transformer=...)`` mounts Reflex inside our FastAPI app, so API routes win and
Reflex serves everything else. The API is built from the same process-wide settings, database
and rate limiter the console's states use, so both doors share one SQLite writer lock and one
set of throttling counters.

Reflex serves the app from a Starlette wrapper whose lifespan runs only Reflex's own lifespan
tasks; a mounted app's lifespan never runs there. The API's lifespan (which starts the
in-process job worker) is therefore registered as a lifespan task of its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import reflex as rx

from api.db import get_database
from api.http.app import create_api
from api.http.context import AppContext
from api.ratelimit import get_rate_limiter
from api.settings import get_settings
from console import routes, styles
from console.caching import revalidate_pages
from console.components.layout import LOGO
from console.errors import friendly_backend_error
from console.pages.admin import admin_page
from console.pages.billing import billing_page
from console.pages.clone import clone_page
from console.pages.dashboard import dashboard_page
from console.pages.developers import developers_page
from console.pages.history import history_page
from console.pages.index import index_page
from console.pages.keys import keys_page
from console.pages.my_voices import my_voices_page
from console.pages.not_found import not_found_page
from console.pages.playground import playground_page
from console.pages.settings import settings_page
from console.pages.signin import signin_page
from console.pages.signup import signup_page
from console.pages.voice_library import voice_library_page
from console.state.admin import AdminState
from console.state.auth import AuthState
from console.state.billing import BillingState
from console.state.clone import CloneState
from console.state.dashboard import DashboardState
from console.state.developers import DevelopersState
from console.state.history import HistoryState
from console.state.keys import KeysState
from console.state.my_voices import MyVoicesState
from console.state.playground_tts import PlaygroundTtsState
from console.state.session import SessionState
from console.state.settings import SettingsState
from console.state.voice_library import VoiceLibraryState

api = create_api(
    AppContext(settings=get_settings(), db=get_database(), limiter=get_rate_limiter()),
    serving=True,  # see create_api
)


@contextlib.asynccontextmanager
async def api_lifespan() -> AsyncIterator[None]:
    """Run the API app's own lifespan (job worker start and stop) inside Reflex's."""
    async with api.router.lifespan_context(api):
        yield


app = rx.App(
    # The API with Reflex mounted inside it, then pages marked for revalidation (caching.py).
    api_transformer=[api, revalidate_pages],
    backend_exception_handler=friendly_backend_error,
    style=styles.GLOBAL_STYLE,
    html_lang="en",
    head_components=[
        rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml"),
        rx.el.meta(name="theme-color", content="#312e81"),
    ],
)
app.register_lifespan_task(api_lifespan)

app.add_page(index_page, route=routes.INDEX, title="Amphion", on_load=SessionState.route_index)
# (page, route, title, on_load): every titled page of the console.
_PAGES = (
    (signin_page, routes.SIGNIN, "Sign in", AuthState.load),
    (signup_page, routes.SIGNUP, "Create your account", AuthState.load),
    (dashboard_page, routes.DASHBOARD, "Overview", DashboardState.load),
    (keys_page, routes.KEYS, "API keys", KeysState.load),
    (settings_page, routes.SETTINGS, "Settings", SettingsState.load),
    (billing_page, routes.BILLING, "Billing", BillingState.load),
    (history_page, routes.HISTORY, "History", HistoryState.load),
    (admin_page, routes.ADMIN, "Admin", AdminState.load),
    (developers_page, routes.DEVELOPERS, "API guide", DevelopersState.load),
    (clone_page, routes.CLONE, "Clone a voice", CloneState.load),
    (my_voices_page, routes.MY_VOICES, "My voices", MyVoicesState.load),
    (voice_library_page, routes.VOICE_LIBRARY, "Voice library", VoiceLibraryState.load),
    (playground_page, routes.PLAYGROUND, "Playground", PlaygroundTtsState.load),
    (not_found_page, "404", "Page not found", None),
)
for page, route, title, on_load in _PAGES:
    app.add_page(page, route=route, title=f"{title} · Amphion", image=LOGO, on_load=on_load)

# The benchmark's trivial counter (bench/console_roundtrip.py): imported, and so part of the
# state tree, only when asked for; a production console never serves it.
if os.environ.get("AMPHION_BENCH_PAGES") == "1":
    from console.pages.bench_counter import ROUTE as BENCH_COUNTER_ROUTE
    from console.pages.bench_counter import bench_counter_page

    app.add_page(bench_counter_page, route=BENCH_COUNTER_ROUTE, title="Bench counter")
