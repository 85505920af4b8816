"""Reflex configuration of the console (the web door of the platform). No logic lives here.

Telemetry is off (the platform runs without internet), explicit setters only, and the product
shows its own brand instead of "Built with Reflex". The theme and fonts come from ``console``.
When the operator publishes the server under another address (``AMPHION_PUBLIC_BASE_URL``), the
browser must open the event websocket there, so that URL becomes Reflex's ``api_url``.

With ``AMPHION_REDIS_URL`` set, Reflex keeps every browser tab's state in that Redis (its
``redis`` state manager, chosen automatically once ``redis_url`` is set) instead of on the local
disk, so several servers behind a load balancer can serve the same console session: a websocket
that reconnects to another server finds the tab's state there. ``REFLEX_REDIS_URL``, when set,
still wins (Reflex reads its own variables over this file).
"""

from typing import Any

import reflex as rx

from api.settings import get_settings
from console.plugins import InterFontPlugin
from console.styles import THEME

_public_url = get_settings().public_base_url.rstrip("/")
# Only when set: an explicit api_url would stop Reflex deriving it from the port it serves on.
_published: dict[str, Any] = {"api_url": _public_url} if _public_url else {}
# Only when set: any redis_url switches Reflex from its per-server disk state to Redis.
_redis_url = get_settings().redis_url
_shared_state: dict[str, Any] = {"redis_url": _redis_url} if _redis_url else {}

config = rx.Config(
    app_name="console",
    telemetry_enabled=False,
    state_auto_setters=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(**THEME)), InterFontPlugin()],
    # A sitemap is for public sites; every console page but sign-in is private.
    disable_plugins=[rx.plugins.SitemapPlugin],
    **_published,
    **_shared_state,
)
