"""History and Billing in a real browser, for a user whose operations went through the API.

The user calls the live server's HTTP API with an API key (English and Chinese speech, a
transcription of the English speech, an emotion analysis), then opens the console: History
lists every operation with its exact charge, filters by type and date, shows the transcript,
plays and downloads the audio and deletes one record; Billing shows the same charges in the
ledger, the spend chart and the breakdowns, takes a redemption code and exports the ledger as
a CSV whose rows are the ledger's. Screenshots in English and Chinese, and at 390 px.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import httpx
import pytest

from api.billing import codes, ledger
from api.billing.money import format_yuan
from api.db import utcnow
from api.history import service as history
from api.keys.service import issue_key, mask
from tests.e2e.conftest import Server
from tests.e2e.helpers import choose_option, new_email, register, screenshot, sign_in_as

pytestmark = pytest.mark.e2e

PASSWORD = "amber-meadow-compass-77"
HISTORY = re.compile(r"/history/?$")


def _account(server: Server) -> tuple[int, str, str]:
    """A new account (with the ¥100 welcome credit) and an API key: (user id, key, masked key)."""
    user_id = register(server, new_email(), PASSWORD)
    with server.connected() as database, database.write() as session:
        key, plaintext = issue_key(
            session, user_id=user_id, name="e2e key", secret_key=server.settings.secret_key
        )
        masked = mask(key.head, key.last4)
    return user_id, plaintext, masked


def _operations(server: Server, api_key: str) -> bytes:
    """Four billed operations through the HTTP API; returns the English speech (WAV)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=180) as client:
        english = client.post(
            "/tts/v1/audio/speech",
            json={
                "model": "Qwen3-TTS",
                "input": "Good morning. The weather is lovely today.",
                "response_format": "wav",
            },
        )
        assert english.status_code == 200, english.text
        chinese = client.post(
            "/tts/v1/audio/speech", json={"model": "Qwen3-TTS", "input": "你好，欢迎使用语音平台。"}
        )
        assert chinese.status_code == 200, chinese.text
        files = {"file": ("morning.wav", english.content, "audio/wav")}
        transcript = client.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files
        )
        assert transcript.status_code == 200, transcript.text
        emotion = client.post("/sed/v1/audio/analyze", files=files)
        assert emotion.status_code == 200, emotion.text
    return english.content


def _records(server: Server, user_id: int) -> list:
    with server.connected() as database, database.read() as session:
        rows, _ = history.list_records(session, user_id=user_id, limit=100)
        return rows


def _ledger(server: Server, user_id: int) -> tuple[list, int]:
    with server.connected() as database, database.read() as session:
        entries, _ = ledger.list_entries(session, user_id, limit=1000)
        return entries, ledger.balance_of(session, user_id)


def _signed(micros: int) -> str:
    """An amount as the ledger shows it: ``-0.0100`` or ``+5.0000``."""
    return format_yuan(micros) if micros < 0 else f"+{format_yuan(micros)}"


def _shown(micros: int) -> str:
    """An amount as the ledger page shows it: ``-¥0.0100`` or ``+¥5.0000``."""
    return f"-¥{format_yuan(-micros)}" if micros < 0 else f"+¥{format_yuan(micros)}"


def _settled(page) -> None:
    """Wait for running animations (a dialog fading in) before a screenshot."""
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")


def _rows(page):
    return page.get_by_test_id("history-row")


def _row_of(page, record_id: int):
    return page.locator(f'[data-testid="history-row"][data-record="{record_id}"]')


def test_history_and_billing_show_every_operation_with_its_exact_charge(
    page, console_server, screenshot_dir
) -> None:
    user_id, api_key, masked = _account(console_server)
    english_wav = _operations(console_server, api_key)
    records = _records(console_server, user_id)
    assert sorted(r.type for r in records) == ["asr", "sed", "tts", "tts"]
    assert all(r.status == "succeeded" and r.cost_micros > 0 for r in records)

    # --- History: every operation, with its charge, request id and key -------------------
    sign_in_as(page, console_server, user_id)
    page.goto(console_server.url("/history"))
    page.get_by_role("heading", name="History").wait_for()
    _rows(page).nth(3).wait_for()
    assert _rows(page).count() == 4
    for record in records:
        row = _row_of(page, record.id)
        text = row.inner_text()
        assert (
            row.get_by_test_id("history-cost").inner_text() == f"¥{format_yuan(record.cost_micros)}"
        )
        assert record.request_id in text
        assert masked in text and "e2e key" in text
        assert record.model in text
    screenshot(page, screenshot_dir / "history.png")

    # Filter by type: the transcription alone, and its transcript.
    asr = next(r for r in records if r.type == "asr")
    choose_option(page, "history-type-filter", "Speech recognition")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=history-row]').length === 1"
    )
    _row_of(page, asr.id).get_by_test_id("history-transcript").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("history-transcript-text").wait_for()
    assert (
        dialog.get_by_test_id("history-transcript-text").inner_text().strip()
        == asr.output_text.strip()
    )
    assert "morning" in asr.output_text.lower()
    _settled(page)
    screenshot(page, screenshot_dir / "history-transcript.png", full_page=False)
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")

    # A date range after today finds nothing; clearing brings everything back.
    choose_option(page, "history-type-filter", "All types")
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    page.get_by_test_id("history-since").fill(tomorrow)
    page.get_by_text("Nothing matches these filters").wait_for()
    page.get_by_role("button", name="Clear filters").click()
    _rows(page).nth(3).wait_for()

    # Replay the English speech: the player loads a playable source.
    choose_option(page, "history-type-filter", "Speech synthesis")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=history-row]').length === 2"
    )
    english = min((r for r in records if r.type == "tts"), key=lambda r: r.id)
    _row_of(page, english.id).get_by_test_id("history-play").click()
    player = page.get_by_test_id("history-player")
    player.wait_for()
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=history-player]');"
        " return a && a.readyState >= 1 && a.duration > 0; }"
    )
    duration = player.evaluate("audio => audio.duration")
    assert abs(duration - english.duration_ms / 1000) < 0.5
    _settled(page)
    screenshot(page, screenshot_dir / "history-player.png", full_page=False)
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.get_by_role("dialog").wait_for(state="hidden")

    # Download the same audio: the bytes the API returned.
    with page.expect_download() as download_info:
        _row_of(page, english.id).get_by_test_id("history-download").click()
    downloaded = download_info.value
    assert downloaded.suggested_filename.startswith(f"amphion-{english.id}")
    assert open(downloaded.path(), "rb").read() == english_wav

    # Delete the emotion analysis: gone from history, its charge stays in the ledger.
    entries_before, balance_before = _ledger(console_server, user_id)
    sed = next(r for r in records if r.type == "sed")
    choose_option(page, "history-type-filter", "All types")
    _rows(page).nth(3).wait_for()
    _row_of(page, sed.id).get_by_test_id("history-delete").click()
    page.get_by_role("alertdialog").get_by_test_id("confirm").click()
    page.get_by_text("Record deleted").wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=history-row]').length === 3"
    )
    assert sed.id not in {r.id for r in _records(console_server, user_id)}
    entries_after, balance_after = _ledger(console_server, user_id)
    assert [e.id for e in entries_after] == [e.id for e in entries_before]
    assert balance_after == balance_before

    # --- Billing: the same charges --------------------------------------------------------
    total_charged = sum(r.cost_micros for r in records)
    page.goto(console_server.url("/billing"))
    page.get_by_role("heading", name="Billing").wait_for()
    assert page.get_by_test_id("billing-balance").inner_text() == f"¥{format_yuan(balance_after)}"
    assert (
        page.get_by_test_id("billing-spend-total").inner_text() == f"¥{format_yuan(total_charged)}"
    )
    assert balance_after == 100_000_000 - total_charged
    # The chart has bars, the breakdowns show both models and the key.
    page.locator("[data-testid=spend-chart] .recharts-bar-rectangle").first.wait_for()
    by_model = page.get_by_test_id("spend-by-model").all_inner_texts()
    assert any("Qwen3-TTS" in t for t in by_model) and any("whisper-1" in t for t in by_model)
    by_key = page.get_by_test_id("spend-by-key").all_inner_texts()
    assert len(by_key) == 1 and masked in by_key[0]
    assert f"¥{format_yuan(total_charged)}" in by_key[0]
    # "1 call", "2 calls": every breakdown row says how many, in the right number.
    counts = [re.search(r"([\d,]+) (calls?)\b", t) for t in by_model + by_key]
    assert all(c and (c[2] == "call") == (c[1] == "1") for c in counts), by_model + by_key

    ledger_rows = page.get_by_test_id("ledger-row")
    assert ledger_rows.count() == len(entries_after) == 9
    ledger_text = "\n".join(ledger_rows.all_inner_texts())
    for record in records:
        assert f"Charged ¥{format_yuan(record.cost_micros)}" in ledger_text
    amounts = page.get_by_test_id("ledger-amount").all_inner_texts()
    assert amounts == [_shown(e.amount_micros) for e in entries_after]
    screenshot(page, screenshot_dir / "billing.png")

    # Filter the ledger by kind.
    choose_option(page, "ledger-kind-filter", "Reserved")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=ledger-row]').length === 4"
    )
    choose_option(page, "ledger-kind-filter", "All entries")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=ledger-row]').length === 9"
    )

    # Redeem: a wrong code is refused kindly, a real one adds its value.
    with console_server.connected() as database, database.write() as session:
        (code,) = codes.create_codes(
            session,
            amount_micros=5_000_000,
            count=1,
            secret_key=console_server.settings.secret_key,
        )
    page.get_by_test_id("redeem-input").fill("AMP-0000-0000-0000-0000")
    page.get_by_test_id("redeem-submit").click()
    page.get_by_text("This code is not valid or has already been used.").wait_for()
    page.get_by_test_id("redeem-input").fill(code)
    page.get_by_test_id("redeem-submit").click()
    page.get_by_text("¥5.0000 added to your balance").wait_for()
    new_balance = f"¥{format_yuan(balance_after + 5_000_000)}"
    page.wait_for_function(
        "text => document.querySelector('[data-testid=billing-balance]').innerText === text",
        arg=new_balance,
    )
    assert page.get_by_test_id("ledger-row").first.get_attribute("data-kind") == "redeem"

    # Export: the CSV's rows are the ledger's rows.
    with page.expect_download() as download_info:
        page.get_by_test_id("ledger-export").click()
    exported = download_info.value
    assert exported.suggested_filename.endswith(".csv")
    with open(exported.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    entries, _ = _ledger(console_server, user_id)
    assert [int(r["id"]) for r in rows] == [e.id for e in entries]
    assert [r["kind"] for r in rows] == [e.kind for e in entries]
    assert [r["amount"] for r in rows] == [_signed(e.amount_micros) for e in entries]
    assert [r["balance_after"] for r in rows] == [
        format_yuan(e.balance_after_micros) for e in entries
    ]

    # Dark mode keeps every figure readable (switched back afterwards).
    page.get_by_test_id("color-mode-switch").first.click()
    page.wait_for_function("() => document.documentElement.classList.contains('dark')")
    _settled(page)
    screenshot(page, screenshot_dir / "billing-dark.png")
    page.get_by_test_id("color-mode-switch").first.click()
    page.wait_for_function("() => !document.documentElement.classList.contains('dark')")

    # --- Chinese, and a phone-sized screen ----------------------------------------------------
    page.get_by_test_id("language-switch").first.click()
    page.get_by_role("heading", name="费用中心").wait_for()
    page.get_by_text("收支明细").wait_for()
    screenshot(page, screenshot_dir / "billing-zh.png")
    page.goto(console_server.url("/history"))
    page.get_by_role("heading", name="调用记录").wait_for()
    _rows(page).nth(2).wait_for()
    screenshot(page, screenshot_dir / "history-zh.png")

    # On a phone, records and ledger lines are cards with the same figures and actions.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(console_server.url("/billing"))
    page.get_by_role("heading", name="费用中心").wait_for()
    page.get_by_test_id("ledger-card").nth(9).wait_for()
    assert not page.get_by_test_id("ledger-row").first.is_visible()
    screenshot(page, screenshot_dir / "billing-390.png")
    page.goto(console_server.url("/history"))
    page.get_by_role("heading", name="调用记录").wait_for()
    cards = page.get_by_test_id("history-card")
    cards.nth(2).wait_for()
    assert cards.count() == 3
    shown_costs = sorted(c.inner_text() for c in cards.get_by_test_id("history-cost").all())
    kept = [r for r in records if r.id != sed.id]
    assert shown_costs == sorted(f"¥{format_yuan(r.cost_micros)}" for r in kept)
    screenshot(page, screenshot_dir / "history-390.png")
    # Nothing sticks out sideways: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_another_user_sees_none_of_it(page, console_server) -> None:
    owner, api_key, _ = _account(console_server)
    headers = {"Authorization": f"Bearer {api_key}"}
    response = httpx.post(
        console_server.url("/tts/v1/audio/speech"),
        json={"model": "Qwen3-TTS", "input": "Private words."},
        headers=headers,
        timeout=120,
    )
    assert response.status_code == 200
    (record,) = _records(console_server, owner)

    other, _, _ = _account(console_server)
    sign_in_as(page, console_server, other)
    page.goto(console_server.url("/history"))
    page.get_by_text("No operations yet").wait_for()
    assert record.request_id not in page.content()
    page.goto(console_server.url("/billing"))
    page.get_by_role("heading", name="Billing").wait_for()
    assert page.get_by_test_id("ledger-row").count() == 1  # the welcome credit only
    assert page.get_by_test_id("billing-spend-total").inner_text() == "¥0.0000"
    assert record.request_id not in page.content()
