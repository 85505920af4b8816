"""What the console's browser tests share: accounts and sessions made in-process, the sign-up
and sign-in forms used as a person would, and waits on what the page shows.

An account made in-process leaves the sign-up throttle of 127.0.0.1 to the tests of the form
itself; a session made in-process is handed to the browser as the cookie the sign-in route
sets (HttpOnly), so the page is reached exactly as after a real sign-in.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from api.accounts.service import SESSION_COOKIE, create_session, register_user
from tests.e2e.conftest import Server

DASHBOARD = re.compile(r"/dashboard/?(\?.*)?$")
SIGNIN = re.compile(r"/signin/?(\?.*)?$")
AUDIO_TIMEOUT_MS = 60_000
RECOGNITION_TIMEOUT_MS = 90_000  # a file's transcript or emotions, on two busy cores


def new_email(tag: str = "e2e") -> str:
    """An address no other test uses."""
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def register(server: Server, email: str, password: str) -> int:
    """An account (with the welcome credit) made in-process; its user id."""
    with server.connected() as database:
        user = register_user(database, server.settings, email=email, password=password)
    assert user.id is not None
    return user.id


def new_session(server: Server, user_id: int) -> str:
    """A live console session for ``user_id`` (another device signing in): its token."""
    with server.connected() as database, database.write() as session:
        _, token = create_session(session, user_id=user_id, settings=server.settings)
    return token


def sign_in_as(page, server: Server, user_id: int, *, lang: str | None = "en") -> str:
    """Give the browser a live session cookie for ``user_id``, as the sign-in's ticket claim
    would, and the language cookie (``None``: the browser's own language); the token."""
    token = new_session(server, user_id)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token, "url": server.base_url, "httpOnly": True}]
    )
    if lang is not None:
        use_language(page, server, lang)
    return token


def use_language(page, server: Server, lang: str) -> None:
    """The language the console speaks from the next page load on ("en" or "zh")."""
    page.context.add_cookies([{"name": "amphion_lang", "value": lang, "url": server.base_url}])


def sign_in_form(page, server: Server, email: str, password: str) -> None:
    """Submit the sign-in form (the outcome is for the caller to wait for)."""
    page.goto(server.url("/signin"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def fill_sign_up_form(page, email: str, password: str) -> None:
    """Fill in the open sign-up form (English) and submit it."""
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()


def sign_up(page, server: Server, email: str, password: str) -> None:
    """Sign up through the form, as a newcomer does, and land on the dashboard."""
    page.goto(server.url("/signup"))
    fill_sign_up_form(page, email, password)
    page.wait_for_url(DASHBOARD)


def choose_option(page, trigger_test_id: str, option: str) -> None:
    """Pick ``option`` in the select opened by ``trigger_test_id``."""
    page.get_by_test_id(trigger_test_id).click()
    page.get_by_role("option", name=option, exact=True).click()


def wait_playable(page, test_id: str, *, timeout_ms: int = AUDIO_TIMEOUT_MS) -> None:
    """The <audio> element has loaded a playable source (HAVE_CURRENT_DATA or better)."""
    page.wait_for_function(
        """id => { const el = document.querySelector(`[data-testid="${id}"]`);
                   return !!el && el.readyState >= 2 && el.duration > 0 && !el.error; }""",
        arg=test_id,
        timeout=timeout_ms,
    )


def speak_in_playground(page, text: str) -> str:
    """Type, see the estimate, generate, and wait until the player, streaming the new speech,
    can play it; the cost shown."""
    player = page.get_by_test_id("tts-player")
    previous = player.get_attribute("src") if player.count() else None
    page.get_by_test_id("tts-text").fill(text)
    page.wait_for_function(
        "n => document.querySelector('[data-testid=\"tts-characters\"]')?.textContent === n",
        arg=str(len(text)),
    )
    assert page.get_by_test_id("tts-estimate").inner_text() != "0.0000"
    page.get_by_test_id("tts-generate").click()
    page.wait_for_function(
        "old => { const p = document.querySelector('[data-testid=\"tts-player\"]');"
        " return !!p && !!p.getAttribute('src') && p.getAttribute('src') !== old; }",
        arg=previous,
    )
    assert player.get_attribute("src").startswith("/api/playground/speech/")
    wait_playable(page, "tts-player")
    page.get_by_test_id("tts-cost").wait_for(timeout=AUDIO_TIMEOUT_MS)
    return page.get_by_test_id("tts-cost").inner_text()


def speak_through_api(server: Server, api_key: str, text: str) -> httpx.Response:
    """Seed 000's speech request with ``api_key``, as the keys page's curl example makes it
    (one real, charged synthesis when the key is good)."""
    return httpx.post(
        server.url("/tts/v1/audio/speech"),
        headers={"X-API-Key": api_key},
        json={"model": "Qwen3-TTS", "input": text, "voice": "default"},
        timeout=120,
    )


def transcribe_in_playground(page, wav: Path) -> None:
    """On the recognition tab, upload ``wav`` (``speech_wav``) and wait for its transcript and
    segments; the transcript has the recording's words."""
    page.get_by_test_id("tab-asr").click()
    page.locator("#asr-upload-zone input[type=file]").set_input_files(str(wav))
    transcript = page.get_by_test_id("asr-text")
    transcript.wait_for(timeout=RECOGNITION_TIMEOUT_MS)
    assert "test" in transcript.inner_text().lower()
    page.get_by_test_id("asr-segments").wait_for()


def analyze_in_playground(page, wav: Path) -> None:
    """On the emotion tab, upload ``wav`` and wait until the chart draws its scores."""
    page.get_by_test_id("tab-sed").click()
    page.locator("#sed-upload-zone input[type=file]").set_input_files(str(wav))
    page.get_by_test_id("sed-chart").wait_for(timeout=RECOGNITION_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"sed-chart\"] .recharts-bar-rectangle')"
        ".length > 0"
    )
    assert page.get_by_test_id("sed-duration").inner_text().endswith(" s")


def screenshot(page, path: Path, *, full_page: bool = True) -> None:
    """Save what ``page`` shows now to ``path``: a record for people to look at, never a check.

    Chromium now and then never hands back a full-page capture on a busy machine (CI once:
    the dashboard at 390 px, fonts loaded, then nothing for 15 s). A full-page capture lays the
    page out beyond the viewport; the viewport alone is a plain capture, so that is what is
    saved when the full page times out, rather than failing a test whose checks all passed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.screenshot(path=str(path), full_page=full_page)
    except PlaywrightTimeout:
        if not full_page:
            raise
        page.screenshot(path=str(path))
