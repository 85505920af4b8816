"""The playground in a real browser: a newcomer synthesizes Chinese and English speech and hears
it stream, transcribes an uploaded file and a microphone recording, and scores emotions; every
run is charged and recorded like an API call.

Chromium gets a fake microphone (a beep) and may autoplay; see the ``browser`` fixture below.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import select

from api.accounts.models import User
from api.billing import ledger
from api.history.models import HistoryRecord
from tests.e2e.conftest import AUTOPLAY_ARG, FAKE_MICROPHONE_ARGS, Server, chromium
from tests.e2e.helpers import (
    analyze_in_playground,
    new_email,
    screenshot,
    sign_up,
    speak_in_playground,
    transcribe_in_playground,
    use_language,
    wait_playable,
)

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"


@pytest.fixture(scope="module")
def browser():
    """Chromium with a fake microphone (this module only: other pages need no media)."""
    with chromium(*FAKE_MICROPHONE_ARGS, AUTOPLAY_ARG) as browser:
        yield browser


def _sign_up(page, server: Server) -> str:
    email = new_email("e2e-playground")
    sign_up(page, server, email, PASSWORD)
    return email


def _account(server: Server, email: str) -> tuple[int, int, list[HistoryRecord]]:
    """(user id, balance in µ¥, history newest first) straight from the database."""
    with server.connected() as database, database.read() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        balance = ledger.balance_of(session, user.id)
        records = list(
            session.exec(
                select(HistoryRecord)
                .where(HistoryRecord.user_id == user.id)
                .order_by(HistoryRecord.id.desc())
            )
        )
        for record in records:
            session.expunge(record)
        return user.id, balance, records


def _active_panel(page):
    """The tab panel on show (the others stay mounted, hidden)."""
    return page.locator("[role=tabpanel][data-state=active]")


def test_playground_speech_recognition_emotion_and_microphone(
    page, console_server: Server, screenshot_dir: Path, speech_wav: Path
):
    page.context.grant_permissions(["microphone"], origin=console_server.base_url)
    email = _sign_up(page, console_server)
    _, start_balance, _ = _account(console_server, email)

    # --- text to speech, Chinese then English, streamed into the player --------------------
    page.goto(console_server.url("/playground"))
    page.get_by_test_id("tts-text").wait_for()
    assert page.get_by_test_id("playground-balance").inner_text() == "¥100.0000"
    chinese_cost = speak_in_playground(page, "你好，欢迎来到语音合成体验中心。")
    assert chinese_cost.startswith("¥") and chinese_cost != "¥0.0000"
    english_cost = speak_in_playground(page, "Hello, and welcome to the Amphion playground.")
    assert float(page.get_by_test_id("tts-duration").inner_text().split()[0]) > 0.5
    page.get_by_test_id("tts-download").wait_for()
    screenshot(page, screenshot_dir / "playground-tts.png")

    _, balance, records = _account(console_server, email)
    speech = [r for r in records if r.type == "tts"]
    assert [r.status for r in speech] == ["succeeded", "succeeded"]
    assert all(r.api_key_id is None and r.output_key for r in speech)
    spent = sum(r.cost_micros for r in speech)
    assert spent > 0 and balance == start_balance - spent
    assert english_cost == f"¥{speech[0].cost_micros / 1e6:.4f}"
    page.wait_for_function(
        "b => document.querySelector('[data-testid=\"playground-balance\"]').textContent === b",
        arg=f"¥{balance / 1e6:.4f}",
    )

    # --- speech to text on an uploaded WAV ---------------------------------------------------
    transcribe_in_playground(page, speech_wav)
    assert page.get_by_test_id("asr-cost").inner_text().startswith("¥")
    with page.expect_download() as download:
        page.get_by_test_id("asr-download-srt").click()
    subtitles = Path(download.value.path()).read_text()
    assert "-->" in subtitles and "test" in subtitles.lower()
    screenshot(page, screenshot_dir / "playground-asr.png")

    # --- the microphone (Chromium's fake device beeps): the run must succeed -----------------
    panel = _active_panel(page)
    panel.get_by_test_id("record-start").click()
    panel.get_by_test_id("record-stop").wait_for()
    page.wait_for_timeout(1500)
    panel.get_by_test_id("record-stop").click()
    panel.get_by_text(re.compile(r"Last file: recording\.(webm|ogg|m4a)")).wait_for(timeout=90_000)
    _, _, records = _account(console_server, email)
    recorded = [r for r in records if r.type == "asr" and "recording" in str(r.input_summary)]
    assert len(recorded) == 1 and recorded[0].status == "succeeded"
    assert recorded[0].cost_micros > 0

    # --- emotion on the same WAV ------------------------------------------------------------
    analyze_in_playground(page, speech_wav)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"sed-chart\"] .recharts-bar-rectangle')"
        ".length === 7"
    )
    screenshot(page, screenshot_dir / "playground-sed.png")

    _, balance, records = _account(console_server, email)
    assert sorted({r.type for r in records}) == ["asr", "sed", "tts"]
    assert all(r.status == "succeeded" for r in records)
    assert balance == start_balance - sum(r.cost_micros for r in records)

    # --- Chinese, and a phone-sized screen ---------------------------------------------------
    use_language(page, console_server, "zh")
    page.goto(console_server.url("/playground"))
    page.get_by_role("heading", name="体验中心").wait_for()
    # The stream link worked once; after a reload the player holds the stored file.
    assert page.get_by_test_id("tts-player").get_attribute("src").startswith("/files/")
    wait_playable(page, "tts-player")
    screenshot(page, screenshot_dir / "playground-tts-zh.png")
    page.get_by_test_id("tab-asr").click()
    _active_panel(page).get_by_text("拖放音频文件到此处，或点击选择").wait_for()
    screenshot(page, screenshot_dir / "playground-asr-zh.png")
    page.get_by_test_id("tab-sed").click()
    screenshot(page, screenshot_dir / "playground-sed-zh.png")
    page.get_by_test_id("tab-tts").click()
    page.get_by_test_id("color-mode-switch").first.click()
    page.wait_for_function("() => document.documentElement.classList.contains('dark')")
    screenshot(page, screenshot_dir / "playground-tts-zh-dark.png")
    page.get_by_test_id("color-mode-switch").first.click()
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_test_id("tab-tts").click()
    page.get_by_test_id("tts-generate").wait_for()
    screenshot(page, screenshot_dir / "playground-tts-390.png")


def test_links_preset_model_and_voice_and_a_short_balance_is_a_friendly_toast(
    page, console_server: Server
):
    email = _sign_up(page, console_server)
    page.goto(console_server.url("/playground?model=tts-1&voice=nova"))
    page.get_by_test_id("tts-model").wait_for()
    assert "TTS-1" in page.get_by_test_id("tts-model").inner_text()
    assert "nova" in page.get_by_test_id("tts-voice").inner_text().lower()
    # Another model's voice is not taken: the model's first voice is.
    page.goto(console_server.url("/playground?model=Qwen3-TTS&voice=nova"))
    page.get_by_test_id("tts-voice").wait_for()
    assert "Qwen3 TTS" in page.get_by_test_id("tts-model").inner_text()
    assert "nova" not in page.get_by_test_id("tts-voice").inner_text().lower()

    # Past the model's per-call limit (2,000 here) the long-text path is announced (and taken).
    page.goto(console_server.url("/playground?model=cosyvoice-v3-flash"))
    page.get_by_test_id("tts-text").fill("This sentence is part of a long text. " * 60)
    page.get_by_test_id("tts-long").wait_for()

    # With the balance spent elsewhere, Generate explains instead of failing.
    user_id, balance, _ = _account(console_server, email)
    with console_server.connected() as database, database.write() as session:
        ledger.hold(session, user_id, balance, idempotency_key="e2e-drain")
    page.get_by_test_id("tts-text").fill("Hello there.")
    page.get_by_test_id("tts-generate").click()
    page.get_by_text("Your balance is too low for this request").wait_for()
    assert page.get_by_test_id("tts-player").count() == 0
    assert _account(console_server, email)[2] == []  # nothing recorded, nothing charged
