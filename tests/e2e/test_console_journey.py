"""A newcomer's whole first visit, in one real browser session, through every console page.

Sign up → see the ¥100 welcome credit → create an API key (and call the API with it) →
synthesize Chinese and English speech in the playground and hear it (the ``<audio>`` element
has loaded a playable source) → transcribe an uploaded file → analyze its emotion → clone a
voice and watch its status turn OK without a reload → speak with the cloned voice in the
playground → find every operation in History and its exact charge in Billing → revoke the key
and see the API refuse it. Then a screenshot of every page in English and in Chinese.

Each page's own browser test goes deeper into that page; this one proves the pages work
together for one account, with the database as the judge of what happened.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from api.accounts.service import find_user_by_email
from api.billing import ledger
from api.billing.money import format_yuan
from api.history import service as history
from api.history.models import HistoryRecord
from console import routes
from tests.e2e.conftest import AUTOPLAY_ARG, Server, chromium
from tests.e2e.helpers import (
    analyze_in_playground,
    new_email,
    screenshot,
    sign_up,
    speak_in_playground,
    speak_through_api,
    transcribe_in_playground,
    use_language,
)
from tests.speech.test_speech_cloning import sample_wav

pytestmark = pytest.mark.e2e

PASSWORD = "amber-meadow-compass-73"
WELCOME_CREDIT_MICROS = 100_000_000
KEY_NAME = "Journey key"
# What the new key asks the API to say (seed 000's request, as the keys page's curl makes it).
KEY_TEST_TEXT = "Hello from my new key."
VOICE_PREFIX = "journey"
ENROLMENT_TIMEOUT_MS = 240_000  # profiling + a Whisper listening test on two busy cores
# Every page a signed-in newcomer reaches from the navigation (the admin page refuses them).
PAGES = (
    ("dashboard", routes.DASHBOARD),
    ("keys", routes.KEYS),
    ("playground", routes.PLAYGROUND),
    ("clone", routes.CLONE),
    ("my-voices", routes.MY_VOICES),
    ("voice-library", routes.VOICE_LIBRARY),
    ("history", routes.HISTORY),
    ("billing", routes.BILLING),
    ("settings", routes.SETTINGS),
    ("api-guide", routes.DEVELOPERS),
)


@pytest.fixture(scope="module")
def browser():
    """Chromium that may play audio without a gesture (the player starts as speech streams)."""
    with chromium(AUTOPLAY_ARG) as browser:
        yield browser


# --- what the database says -------------------------------------------------------------------


def _account(server: Server, email: str) -> tuple[list[HistoryRecord], list, int]:
    """(history newest first, ledger entries newest first, balance in µ¥) of one account."""
    with server.connected() as database, database.read() as session:
        user = find_user_by_email(session, email)
        assert user.id is not None
        records, _ = history.list_records(session, user_id=user.id, limit=100)
        entries, _ = ledger.list_entries(session, user.id, limit=1000)
        balance = ledger.balance_of(session, user.id)
        for row in (*records, *entries):
            session.expunge(row)
        return records, entries, balance


# --- browser helpers ----------------------------------------------------------------------------


def _shot(page, path: Path) -> None:
    """A full-page screenshot from the top, once dialogs and charts have stopped animating."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
    screenshot(page, path)


# --- the journey --------------------------------------------------------------------------------


def test_a_newcomer_uses_every_part_of_the_console(
    page, console_server: Server, screenshot_dir: Path, speech_wav: Path
) -> None:
    server = console_server
    shots = screenshot_dir / "journey"
    shots.mkdir(exist_ok=True)

    # --- sign up, and the welcome credit ------------------------------------------------------
    email = new_email("journey")
    sign_up(page, server, email, PASSWORD)
    assert "¥100.0000" in page.get_by_test_id("welcome").inner_text()
    assert page.get_by_test_id("balance").inner_text() == "¥100.0000"
    _, _, balance = _account(server, email)
    assert balance == WELCOME_CREDIT_MICROS

    # --- an API key, shown once, that the API accepts ----------------------------------------
    page.goto(server.url(routes.KEYS))
    page.get_by_test_id("empty-state").wait_for()
    page.get_by_test_id("create-key").first.click()
    page.get_by_test_id("key-name").fill(KEY_NAME)
    page.get_by_test_id("create-key-submit").click()
    revealed = page.get_by_test_id("revealed-key")
    revealed.wait_for()
    api_key = revealed.inner_text().strip()
    assert f"X-API-Key: {api_key}" in page.get_by_test_id("revealed-curl").inner_text()
    page.get_by_test_id("reveal-done").click()
    page.get_by_test_id("reveal-dialog").wait_for(state="detached")
    assert api_key not in page.content()
    assert KEY_NAME in page.get_by_test_id("key-row").first.inner_text()
    accepted = speak_through_api(server, api_key, KEY_TEST_TEXT)
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["content-type"].startswith("audio/")

    # --- the playground: Chinese and English speech, heard in the page ------------------------
    page.goto(server.url(routes.PLAYGROUND))
    page.get_by_test_id("tts-text").wait_for()
    chinese_cost = speak_in_playground(page, "你好，欢迎来到语音合成体验中心。")
    english_cost = speak_in_playground(page, "Hello, and welcome to the Amphion playground.")
    records, _, _ = _account(server, email)
    english, chinese = records[0], records[1]
    assert english.type == chinese.type == "tts"
    assert english.status == chinese.status == "succeeded"
    assert english_cost == f"¥{format_yuan(english.cost_micros)}"
    assert chinese_cost == f"¥{format_yuan(chinese.cost_micros)}"

    # --- transcribe an uploaded file ----------------------------------------------------------
    transcribe_in_playground(page, speech_wav)

    # --- analyze its emotion ------------------------------------------------------------------
    analyze_in_playground(page, speech_wav)

    # --- clone a voice: DEPLOYING, then OK in the same page -----------------------------------
    page.goto(server.url(routes.CLONE))
    page.get_by_test_id("consent").wait_for()
    page.locator("#clone-sample-zone input[type=file]").set_input_files(
        {"name": "my-voice.wav", "mimeType": "audio/wav", "buffer": sample_wav()}
    )
    page.get_by_test_id("sample-verdict").wait_for()
    assert "Usable" in page.get_by_test_id("sample-verdict").inner_text()
    page.get_by_test_id("consent").click()
    page.get_by_test_id("continue").click()
    page.get_by_test_id("prefix").fill(VOICE_PREFIX)
    page.get_by_test_id("create-voice").click()
    status = page.get_by_test_id("voice-status")
    status.wait_for()
    page.evaluate("window.__noReload = 'still here'")
    voice_id = page.get_by_test_id("voice-id").inner_text().strip()
    assert f"-{VOICE_PREFIX}-" in voice_id
    page.wait_for_selector(
        '[data-testid="voice-status"][data-status="OK"]', timeout=ENROLMENT_TIMEOUT_MS
    )
    assert page.evaluate("window.__noReload") == "still here"

    # --- use the cloned voice in the playground -----------------------------------------------
    page.get_by_test_id("use-in-playground").click()
    page.wait_for_url(re.compile(r"/playground/?\?"))
    page.get_by_test_id("tts-voice").filter(has_text=VOICE_PREFIX).wait_for()
    speak_in_playground(page, "This is my own cloned voice speaking.")
    records, _, _ = _account(server, email)
    assert records[0].type == "tts" and records[0].voice == voice_id
    assert records[0].status == "succeeded"

    # --- every operation in History, with its charge and the key that made it ----------------
    records, entries, balance = _account(server, email)
    assert {record.type for record in records} >= {"tts", "asr", "sed"}
    assert all(record.status == "succeeded" for record in records)
    page.goto(server.url(routes.HISTORY))
    rows = page.get_by_test_id("history-row")
    rows.nth(len(records) - 1).wait_for()
    assert rows.count() == len(records)
    for record in records:
        row = page.locator(f'[data-testid="history-row"][data-record="{record.id}"]')
        assert (
            row.get_by_test_id("history-cost").inner_text() == f"¥{format_yuan(record.cost_micros)}"
        )
        assert record.request_id in row.inner_text()
    [by_key] = [record for record in records if record.api_key_id is not None]
    keyed_row = page.locator(f'[data-testid="history-row"][data-record="{by_key.id}"]')
    assert KEY_NAME in keyed_row.inner_text()

    # --- the exact charges in Billing ----------------------------------------------------------
    spent = sum(record.cost_micros for record in records)
    assert spent > 0 and balance == WELCOME_CREDIT_MICROS - spent
    page.goto(server.url(routes.BILLING))
    page.get_by_test_id("billing-balance").wait_for()
    assert page.get_by_test_id("billing-balance").inner_text() == f"¥{format_yuan(balance)}"
    assert page.get_by_test_id("billing-spend-total").inner_text() == f"¥{format_yuan(spent)}"
    ledger_rows = page.get_by_test_id("ledger-row")
    ledger_rows.nth(len(entries) - 1).wait_for()
    assert ledger_rows.count() == len(entries)
    ledger_text = "\n".join(ledger_rows.all_inner_texts())
    for record in records:
        assert f"Charged ¥{format_yuan(record.cost_micros)}" in ledger_text

    # --- revoke the key, and the API refuses it ------------------------------------------------
    page.goto(server.url(routes.KEYS))
    row = page.get_by_test_id("key-row").first
    row.wait_for()
    row.get_by_test_id("revoke-key").click()
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("key-row").first.get_by_text("Revoked").wait_for()
    deadline = time.monotonic() + 5
    refused = speak_through_api(server, api_key, KEY_TEST_TEXT)
    while refused.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.25)
        refused = speak_through_api(server, api_key, KEY_TEST_TEXT)
    assert refused.status_code in (401, 403), refused.text
    _, _, after = _account(server, email)
    assert after == balance  # the refused call cost nothing

    # --- every page, in English and in Chinese -------------------------------------------------
    for lang, switch_reads in (("en", "中文"), ("zh", "EN")):
        use_language(page, server, lang)
        for name, route in PAGES:
            page.goto(server.url(route))
            page.wait_for_url(re.compile(rf"{re.escape(route)}/?(\?.*)?$"))
            page.locator('[data-testid="language-switch"] >> visible=true').filter(
                has_text=switch_reads
            ).wait_for()
            page.get_by_role("heading").first.wait_for()
            assert page.get_by_role("heading", name="Page not found").count() == 0
            _shot(page, shots / f"{name}-{lang}.png")
