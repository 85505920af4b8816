"""The console's state per browser session stays small with a heavy account.

A user with 1,000 history rows (and as many charges in the ledger) and 100 cloned voices walks
through the console's pages in one tab, by its navigation links, as a person would. Everything
the server sends to that tab travels as websocket deltas (``{state: {var: value}}``); merging
them, var by var, rebuilds exactly the state the browser holds (the compiled defaults it starts
from are empty strings, zeros and empty lists). Its JSON must stay under 100 kB.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest

from api.accounts.service import SESSION_COOKIE, create_session, register_user
from api.billing import ledger
from api.history import service as history
from api.keys.service import issue_key
from api.voices import service as voices
from console import routes
from tests.e2e.conftest import Server
from tests.e2e.helpers import screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"
HISTORY_ROWS = 1_000
CLONED_VOICES = 100
STATE_LIMIT_BYTES = 100_000
# Every page of the console a signed-in user reaches from the navigation.
PAGES = (
    routes.DASHBOARD,
    routes.HISTORY,
    routes.MY_VOICES,
    routes.BILLING,
    routes.KEYS,
    routes.PLAYGROUND,
    routes.CLONE,
    routes.VOICE_LIBRARY,
    routes.SETTINGS,
    routes.DEVELOPERS,
)
# Frames of Reflex's socket.io channel that carry state: 42/_event,["event",{"delta":...}]
_EVENT_FRAME = re.compile(r"^42/_event,")
QUIET_SECONDS = 1.0


class BrowserState:
    """The state a tab holds, rebuilt from the deltas the server sent it."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, object]] = {}
        self.last_frame_at = time.monotonic()

    def on_frame(self, payload: str | bytes) -> None:
        self.last_frame_at = time.monotonic()
        if isinstance(payload, bytes) or not _EVENT_FRAME.match(payload):
            return
        name, body = json.loads(payload[payload.index(",") + 1 :])
        if name != "event" or not isinstance(body, dict):
            return
        for state_name, variables in (body.get("delta") or {}).items():
            self.states.setdefault(state_name, {}).update(variables)

    def size(self) -> int:
        return len(json.dumps(self.states, ensure_ascii=False).encode())

    def largest(self, count: int = 5) -> list[tuple[int, str]]:
        """The heaviest variables, to say what to page or drop when the limit is passed."""
        sizes = [
            (len(json.dumps(value, ensure_ascii=False).encode()), f"{state}.{name}")
            for state, variables in self.states.items()
            for name, value in variables.items()
        ]
        return sorted(sizes, reverse=True)[:count]


def _heavy_account(server: Server) -> str:
    """A user with 1,000 operations (each charged) and 100 cloned voices; a session token."""
    database = server.database()
    settings = server.settings
    try:
        email = f"heavy-{uuid.uuid4().hex[:10]}@example.com"
        user = register_user(database, settings, email=email, password=PASSWORD)
        assert user.id is not None
        user_id = user.id
        with database.write() as session:
            key, _ = issue_key(
                session, user_id=user_id, name="production", secret_key=settings.secret_key
            )
            for number in range(HISTORY_ROWS):
                kind = ("tts", "asr", "sed", "voice")[number % 4]
                cost = 1_000 + number
                held = ledger.hold(
                    session, user_id, cost, idempotency_key=f"op-{number}", api_key_id=key.id
                )
                ledger.capture(session, held.id, cost, user_id=user_id)
                history.record(
                    session,
                    user_id=user_id,
                    type=kind,
                    model="cosyvoice-v3-flash" if kind == "tts" else "faster-whisper-base",
                    voice="longxiaochun" if kind == "tts" else "",
                    input_summary={"text": f"第 {number} 句：今天天气很好，我们去公园散步吧。"},
                    output_text="今天天气很好，我们去公园散步吧。" * 3 if kind == "asr" else None,
                    duration_ms=3_200 if kind != "tts" else None,
                    characters=42 if kind == "tts" else None,
                    cost_micros=cost,
                    api_key_id=key.id if number % 2 else None,
                    request_id=uuid.uuid4().hex,
                    latency_ms=180,
                )
            for number in range(CLONED_VOICES):
                voice = voices.create_voice(
                    session,
                    user_id=user_id,
                    prefix=f"v{number}",
                    target_model="cosyvoice-v3-flash",
                    sample_key=None,
                    language_hints=["zh", "en"],
                )
                if number % 10:
                    profile = {"pitch_semitones": 1.5, "formant": 1.02, "rate": 1.0}
                    voices.mark_deployed(session, voice, base_voice="zh", profile=profile)
                else:
                    voices.mark_undeployed(session, voice, reason="The sample is mostly silence")
            _, token = create_session(session, user_id=user_id, settings=settings)
    finally:
        database.dispose()
    return token


def _settle(page, seen: BrowserState, *, timeout: float = 20.0) -> None:
    """Wait until the page has stopped receiving state (its loaders have all answered)."""
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(300)
    while time.monotonic() - seen.last_frame_at < QUIET_SECONDS:
        assert time.monotonic() < deadline, "the page kept receiving state"
        page.wait_for_timeout(100)


def test_state_of_a_heavy_account_stays_under_100_kb(page, console_server, screenshot_dir: Path):
    token = _heavy_account(console_server)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token, "url": console_server.base_url}]
    )
    seen = BrowserState()
    page.on("websocket", lambda socket: socket.on("framereceived", seen.on_frame))

    page.goto(console_server.url(routes.DASHBOARD))
    page.get_by_test_id("balance").wait_for()
    _settle(page, seen)
    sizes = {routes.DASHBOARD: seen.size()}
    for route in PAGES[1:]:
        # Client-side navigation, as a person moves through the console: one websocket, one
        # state tree that keeps everything each page loaded.
        page.locator(f'a[href="{route}"] >> visible=true').first.click()
        page.wait_for_url(re.compile(rf"{re.escape(route)}/?$"))
        _settle(page, seen)
        assert page.get_by_role("heading", name="Page not found").count() == 0, route
        assert page.url.rstrip("/").endswith(route), f"{route} sent the user to {page.url}"
        sizes[route] = seen.size()
        screenshot(page, screenshot_dir / f"heavy{route.replace('/', '-')}.png", full_page=False)

    total = seen.size()
    report = ", ".join(f"{route} {size / 1000:.1f} kB" for route, size in sizes.items())
    heaviest = ", ".join(f"{name} {size / 1000:.1f} kB" for size, name in seen.largest())
    print(f"\nbrowser-held state after each page: {report}; heaviest: {heaviest}")
    assert total < STATE_LIMIT_BYTES, f"{total} bytes; heaviest: {heaviest}"
    # The pages did load the account's data (a heavy account, not an empty one, was measured).
    assert sizes[routes.DASHBOARD] > 1_000
