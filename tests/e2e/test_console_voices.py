"""Voice cloning, My voices and the voice library in a real browser, as a newcomer uses them.

Sign up → clone a voice from an uploaded speech sample (made by the offline engines) → watch
its status turn OK without a page reload → hear it → find it in My voices, rename it, delete it
→ see a too-short and a silent sample refused with the reason → narrow the voice library with
its filters and search, and play a preview. Screenshots of each page in English and Chinese,
and at 390 px.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from api import audio
from api.accounts.service import find_user_by_email
from api.engines.base import Pcm
from api.history.models import HistoryRecord
from api.voices.models import ClonedVoice
from tests.e2e.conftest import FAKE_MICROPHONE_ARGS, Server, fresh_page, launch_chromium
from tests.e2e.helpers import choose_option, new_email, screenshot, sign_up, wait_playable
from tests.speech.test_speech_cloning import sample_wav

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"
ENROLMENT_TIMEOUT_MS = 240_000  # profiling + a Whisper listening test on two busy cores


def _sign_up(page, server: Server) -> str:
    email = new_email("voices")
    sign_up(page, server, email, PASSWORD)
    return email


def _wav_file(data: bytes, name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "audio/wav", "buffer": data}


def _short_sample() -> bytes:
    speech = audio.decode(sample_wav()).pcm
    return audio.encode(Pcm(speech.samples[: 4 * speech.sample_rate], speech.sample_rate), "wav")


def _silent_sample() -> bytes:
    return audio.encode(Pcm(np.zeros(12 * 16000, dtype=np.int16), 16000), "wav")


def _upload_sample(page, data: bytes, name: str) -> None:
    page.locator("#clone-sample-zone input[type=file]").set_input_files(_wav_file(data, name))


def _voices_of(server: Server, email: str) -> list[ClonedVoice]:
    with server.connected() as database, database.read() as session:
        user = find_user_by_email(session, email)
        return list(session.exec(select(ClonedVoice).where(ClonedVoice.user_id == user.id)).all())


def _history_of(server: Server, email: str) -> list[HistoryRecord]:
    with server.connected() as database, database.read() as session:
        user = find_user_by_email(session, email)
        return list(
            session.exec(select(HistoryRecord).where(HistoryRecord.user_id == user.id)).all()
        )


def _shot(page, path: Path) -> None:
    """A full-page screenshot from the top (so sticky bars sit where a visitor sees them)."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, path)


def _switch_language(page, *, to: str) -> None:
    """Click the language switch and wait until the page speaks ``to`` ("zh" or "en")."""
    page.get_by_test_id("language-switch").first.click()
    page.wait_for_function(
        "(lang) => { const button = document.querySelector('[data-testid=\"language-switch\"]');"
        " return button && button.innerText.includes(lang === 'zh' ? 'EN' : '中文'); }",
        arg=to,
    )


def test_clone_use_manage_and_delete_a_voice(page, console_server, screenshot_dir: Path) -> None:
    email = _sign_up(page, console_server)

    # Step 1: consent and an uploaded sample, checked at once.
    page.goto(console_server.url("/voices/clone"))
    page.get_by_test_id("consent").wait_for()
    _shot(page, screenshot_dir / "clone-en.png")
    continue_button = page.get_by_test_id("continue")
    assert continue_button.is_disabled()
    _upload_sample(page, sample_wav(), "my-voice.wav")
    verdict = page.get_by_test_id("sample-verdict")
    verdict.wait_for()
    assert "Usable" in verdict.inner_text()
    checks = page.get_by_test_id("sample-check")
    assert checks.count() == 5
    assert page.locator('[data-testid="sample-check"][data-verdict="ok"]').count() == 5
    assert "16 kHz" in page.get_by_test_id("sample-check").nth(1).inner_text()
    _shot(page, screenshot_dir / "clone-checked-en.png")
    assert continue_button.is_disabled()  # no consent yet
    page.get_by_test_id("consent").click()
    continue_button.click()

    # Step 2: name and model.
    page.get_by_test_id("prefix").fill("myvoice")
    _shot(page, screenshot_dir / "clone-details-en.png")
    assert "cosyvoice-v3-plus" in page.get_by_test_id("target-model").inner_text()
    page.get_by_test_id("create-voice").click()

    # Step 3: DEPLOYING, then OK, in the same page (the marker survives: no reload).
    status = page.get_by_test_id("voice-status")
    status.wait_for()
    page.evaluate("window.__noReload = 'still here'")
    _shot(page, screenshot_dir / "clone-status-en.png")
    voice_id = page.get_by_test_id("voice-id").inner_text().strip()
    assert voice_id.startswith("cosyvoice-v3-plus-myvoice-")
    assert status.get_attribute("data-status") in ("DEPLOYING", "OK")
    page.wait_for_selector(
        '[data-testid="voice-status"][data-status="OK"]', timeout=ENROLMENT_TIMEOUT_MS
    )
    assert page.evaluate("window.__noReload") == "still here"
    [voice] = _voices_of(console_server, email)
    assert voice.voice_id == voice_id and voice.status == "OK"

    # Step 4: try it — billed synthesis, played in the page, and the playground link.
    link = page.get_by_test_id("use-in-playground")
    assert link.get_attribute("href") == f"/playground?model=cosyvoice-v3-plus&voice={voice_id}"
    page.get_by_test_id("try-voice").click()
    wait_playable(page, "try-audio")
    assert page.get_by_test_id("try-cost").inner_text().startswith("Charged ¥0.00")
    spoken = [row for row in _history_of(console_server, email) if row.type == "tts"]
    assert len(spoken) == 1 and spoken[0].voice == voice_id and spoken[0].status == "succeeded"
    _shot(page, screenshot_dir / "clone-try-en.png")
    _switch_language(page, to="zh")
    page.get_by_text("试听你的音色").wait_for()
    _shot(page, screenshot_dir / "clone-try-zh.png")
    _switch_language(page, to="en")

    # My voices: listed with its status and the quota; rename; delete after confirming.
    page.goto(console_server.url("/voices"))
    row = page.locator(f'[data-testid="voice-row"][data-voice-id="{voice_id}"]')
    row.wait_for()
    assert page.get_by_test_id("voice-quota").inner_text().strip() == "1 of 1000"
    assert "OK" in row.inner_text()
    _shot(page, screenshot_dir / "my-voices-en.png")
    row.get_by_test_id("rename").click()
    page.get_by_test_id("rename-input").fill("renamed_1")
    page.get_by_test_id("rename-save").click()
    prefix = f'[data-voice-id="{voice_id}"] [data-testid="voice-prefix"]'
    page.wait_for_function(f"() => document.querySelector('{prefix}')?.innerText === 'renamed_1'")
    assert _voices_of(console_server, email)[0].prefix == "renamed_1"
    _switch_language(page, to="zh")
    page.get_by_text("复刻音色").first.wait_for()
    _shot(page, screenshot_dir / "my-voices-zh.png")
    _switch_language(page, to="en")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, screenshot_dir / "my-voices-390.png")
    page.set_viewport_size({"width": 1280, "height": 800})
    row.get_by_test_id("delete").click()
    page.get_by_test_id("confirm").click()
    row.wait_for(state="detached")
    page.get_by_test_id("empty-state").wait_for()
    assert _voices_of(console_server, email) == []

    # A too-short and a silent sample are refused, each with its reason.
    page.goto(console_server.url("/voices/clone"))
    page.get_by_test_id("consent").wait_for()
    _upload_sample(page, _short_sample(), "short.wav")
    page.get_by_test_id("sample-problems").wait_for()
    assert "Refused" in page.get_by_test_id("sample-verdict").inner_text()
    assert "4.0 s long; it must last 10–60 s" in page.get_by_test_id("sample-problems").inner_text()
    _upload_sample(page, _silent_sample(), "silent.wav")
    page.wait_for_function(
        """() => document.querySelector('[data-testid="sample-problems"]')
                   ?.innerText.includes('silent or far too quiet')"""
    )
    page.get_by_test_id("consent").click()
    assert page.get_by_test_id("continue").is_disabled()
    _shot(page, screenshot_dir / "clone-refused-en.png")
    _switch_language(page, to="zh")
    page.get_by_text("样本没有声音或音量过低").wait_for()
    _shot(page, screenshot_dir / "clone-refused-zh.png")
    assert _voices_of(console_server, email) == []

    # The clone wizard on a phone.
    _switch_language(page, to="en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("Your voice sample").wait_for()
    _shot(page, screenshot_dir / "clone-390.png")


def _card_count(page) -> int:
    return page.get_by_test_id("voice-card").count()


def _wait_cards(page, predicate: str) -> None:
    page.wait_for_function(
        f"() => {{ const n = document.querySelectorAll('[data-testid=\"voice-card\"]').length;"
        f" return {predicate}; }}"
    )


def _wait_every_card(page, text: str) -> None:
    """Wait until the filter has applied: every card shown mentions ``text``."""
    page.wait_for_function(
        """(text) => {
            const cards = [...document.querySelectorAll('[data-testid="voice-card"]')];
            return cards.length > 0 && cards.every((card) => card.innerText.includes(text));
        }""",
        arg=text,
    )


def test_voice_library_filters_search_and_preview(page, console_server, screenshot_dir) -> None:
    _sign_up(page, console_server)
    page.goto(console_server.url("/voices/library"))
    page.get_by_test_id("voice-card").first.wait_for()
    everything = _card_count(page)
    assert everything >= 20
    _shot(page, screenshot_dir / "voice-library-en.png")

    # Each filter narrows the cards to voices that have what was chosen.
    choose_option(page, "filter-model", "Piper (joe, en-US)")
    _wait_every_card(page, "piper-joe")
    assert 0 < _card_count(page) < everything
    page.get_by_role("button", name="Clear filters").first.click()
    _wait_cards(page, f"n === {everything}")

    choose_option(page, "filter-gender", "Female")
    _wait_every_card(page, "Female")
    females = _card_count(page)
    assert 0 < females < everything
    choose_option(page, "filter-language", "English")
    _wait_every_card(page, "English")
    assert 0 < _card_count(page) < females
    for text in page.get_by_test_id("voice-card").all_inner_texts():
        assert "Female" in text
    page.get_by_role("button", name="Clear filters").first.click()
    _wait_cards(page, f"n === {everything}")

    page.get_by_test_id("voice-search").fill("longanyang")
    _wait_cards(page, "n === 1")
    card = page.get_by_test_id("voice-card").first
    assert card.get_attribute("data-voice-id") == "longanyang"
    assert (
        card.get_by_test_id("use-in-playground").get_attribute("href")
        == "/playground?model=cosyvoice-v3-flash&voice=longanyang"
    )
    page.get_by_test_id("voice-search").fill("no such voice anywhere")
    page.get_by_test_id("empty-state").wait_for()
    page.get_by_test_id("voice-search").fill("")
    _wait_cards(page, f"n === {everything}")

    # A preview plays in the page; the second play is served from the stored copy.
    first = page.get_by_test_id("voice-card").first
    name = first.get_by_test_id("voice-name").inner_text()
    first.get_by_test_id("play-preview").click()
    wait_playable(page, "preview-audio")
    assert page.get_by_test_id("preview-name").inner_text() == name
    # The player sticks to the bottom of the window: a window-sized shot shows it in place.
    screenshot(page, screenshot_dir / "voice-library-preview-en.png", full_page=False)

    _switch_language(page, to="zh")
    page.get_by_text("音色库").first.wait_for()
    _shot(page, screenshot_dir / "voice-library-zh.png")
    page.get_by_test_id("color-mode-switch").first.click()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, screenshot_dir / "voice-library-dark-zh.png", full_page=False)
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, screenshot_dir / "voice-library-390-zh.png", full_page=False)


def test_a_sample_recorded_from_the_microphone_is_checked_like_an_upload(
    browser, console_server, tmp_path: Path
) -> None:
    """Chromium's fake microphone plays a speech file; the recording arrives and is checked."""
    speech = tmp_path / "speech.wav"
    speech.write_bytes(audio.encode(audio.decode(sample_wav()).pcm, "wav", sample_rate=48000))
    microphone = launch_chromium(
        browser.browser_type, *FAKE_MICROPHONE_ARGS, f"--use-file-for-fake-audio-capture={speech}"
    )
    try:
        with fresh_page(microphone, timeout_ms=30_000) as page:
            _sign_up(page, console_server)
            page.goto(console_server.url("/voices/clone"))
            page.get_by_test_id("record-start").click()
            page.get_by_test_id("record-stop").wait_for()
            page.wait_for_timeout(12_500)  # a little more than the 10 s a sample needs
            page.get_by_test_id("record-stop").click()
            verdict = page.get_by_test_id("sample-verdict")
            verdict.wait_for()
            assert "recording.webm" in verdict.inner_text()
            assert "Usable" in verdict.inner_text()  # the fake microphone "reads" the story
            length = page.get_by_test_id("sample-check").first.inner_text()
            measured = float(re.findall(r"([\d.]+) s", length)[-1])  # after the "10–60 s" rule
            assert 10.0 <= measured <= 16.0
    finally:
        microphone.close()
