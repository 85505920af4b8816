"""The dashboard, admin page, API guide and the sign-in/sign-up forms in a real browser.

This module runs its own console (``own_console_server``): the sign-in tests here count on
127.0.0.1's sign-in failure budget, which other modules spend on the shared one. Accounts,
roles and keys are made in-process; pages are used as a person would, and outcomes are read
back from the page and the database.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect
from sqlalchemy import select

from api.accounts.service import get_user, set_role
from api.billing import ledger
from api.billing.models import RedemptionCode
from api.keys.service import issue_key
from tests.e2e.conftest import Server
from tests.e2e.helpers import (
    DASHBOARD,
    SIGNIN,
    new_email,
    register,
    screenshot,
    sign_in_as,
    sign_in_form,
    speak_through_api,
)

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"


@pytest.fixture(scope="module")
def console_server(own_console_server: Server) -> Server:
    """This module's own console (see the module's docstring)."""
    return own_console_server


def _account(server: Server, *, admin: bool = False, balance_yuan: int | None = None) -> int:
    """A fresh account made in-process (admin through ``set_role``), optionally re-balanced."""
    user_id = register(server, new_email(), PASSWORD)
    with server.connected() as database, database.write() as session:
        if admin:
            set_role(session, user_id=user_id, role="admin")
        if balance_yuan is not None:
            delta = balance_yuan * 1_000_000 - ledger.balance_of(session, user_id)
            ledger.adjust(session, user_id, delta, note="test balance")
    return user_id


def _email_of(server: Server, user_id: int) -> str:
    with server.connected() as database, database.read() as session:
        return get_user(session, user_id).email


def _key(server: Server, user_id: int, name: str = "laptop") -> str:
    with server.connected() as database, database.write() as session:
        _, plaintext = issue_key(
            session, user_id=user_id, name=name, secret_key=server.settings.secret_key
        )
    return plaintext


def _speak(server: Server, key: str, text: str) -> None:
    """One real, charged synthesis through the seed-000 API."""
    response = speak_through_api(server, key, text)
    assert response.status_code == 200 and len(response.content) > 1000


def _switch_language(page) -> None:
    page.get_by_test_id("language-switch").first.click()


def test_pages_are_revalidated_and_name_only_assets_this_server_has(console_server):
    """A browser asks again for a page each visit (console/caching.py), and what the page
    names is there: after a release or on another server it gets that build's page."""
    page = httpx.get(console_server.url("/dashboard"), follow_redirects=True, timeout=30)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assets = set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text))
    assert assets
    for asset in assets:
        answer = httpx.get(console_server.url(asset), timeout=30)
        assert answer.status_code == 200, asset
    again = httpx.get(
        page.url,
        headers={"If-None-Match": page.headers["etag"]},
        timeout=30,
    )
    assert again.status_code == 304  # revalidating an unchanged page costs no body


def test_dashboard_shows_balance_chart_and_recent_activity(page, console_server, screenshot_dir):
    user = _account(console_server)
    key = _key(console_server, user)
    _speak(console_server, key, "Hello from the dashboard test.")
    _speak(console_server, key, "你好，这是第二次调用。")

    sign_in_as(page, console_server, user)
    page.goto(console_server.url("/dashboard"))
    assert page.get_by_test_id("balance").inner_text() == "¥99.9800"
    assert page.get_by_test_id("month-spend").inner_text() == "¥0.0200"
    assert page.get_by_test_id("month-calls").inner_text() == "2"
    rows = page.get_by_test_id("activity-row")
    assert rows.count() == 2
    assert "Speech synthesis" in rows.first.inner_text() and "Qwen3-TTS" in rows.first.inner_text()
    # Today's bar is drawn (one bar per day with calls).
    page.locator("[data-testid=usage-chart] .recharts-bar-rectangle path").first.wait_for()
    assert page.get_by_test_id("low-balance").count() == 0
    for test_id in ("link-playground", "link-clone", "link-keys", "link-docs"):
        assert page.get_by_test_id(test_id).is_visible()
    screenshot(page, screenshot_dir / "dashboard-activity.png")

    _switch_language(page)
    page.get_by_role("heading", name="概览").wait_for()
    assert "语音合成" in rows.first.inner_text()
    screenshot(page, screenshot_dir / "dashboard-activity-zh.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_test_id("balance").wait_for()
    screenshot(page, screenshot_dir / "dashboard-390-zh.png")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_test_id("color-mode-switch").first.click()
    page.locator("html.dark").wait_for(state="attached")
    screenshot(page, screenshot_dir / "dashboard-dark-zh.png")


def test_a_low_balance_is_flagged(page, console_server, screenshot_dir):
    user = _account(console_server, balance_yuan=5)
    sign_in_as(page, console_server, user)
    page.goto(console_server.url("/dashboard"))
    warning = page.get_by_test_id("low-balance")
    warning.wait_for()
    assert "below ¥10.00" in warning.inner_text()
    assert page.get_by_test_id("balance").inner_text() == "¥5.0000"
    # A new account has no usage yet: the empty state says where to start.
    assert page.get_by_test_id("recent-activity").get_by_test_id("empty-state").is_visible()
    assert page.get_by_test_id("usage-chart").get_by_test_id("empty-state").is_visible()
    screenshot(page, screenshot_dir / "dashboard-low-balance.png")


def test_an_admin_grants_credit_and_creates_codes(page, console_server, screenshot_dir):
    boss = _account(console_server, admin=True)
    member = _account(console_server)
    member_email = _email_of(console_server, member)

    sign_in_as(page, console_server, boss)
    page.goto(console_server.url("/admin"))
    page.get_by_test_id("accounts").wait_for()
    page.locator("[data-testid=model-row]").first.wait_for()
    assert page.get_by_test_id("model-row").count() > 10
    assert "Available" in page.get_by_test_id("catalog").inner_text()
    screenshot(page, screenshot_dir / "admin.png")

    page.get_by_test_id("account-search").fill(member_email[:14])
    page.get_by_role("button", name="Search").click()
    row = page.get_by_test_id("account-row").filter(has_text=member_email)
    row.wait_for()
    # The unfiltered list shows the member too: wait until the search's answer replaced it.
    expect(page.get_by_test_id("account-row")).to_have_count(1)
    row.get_by_test_id("open-credit").click()
    assert page.get_by_test_id("credit-email").inner_text() == member_email
    page.get_by_label("Amount (¥)").fill("12.5")
    page.get_by_label("Note").fill("Conference speaker credit")
    page.get_by_test_id("apply-credit").click()
    page.get_by_text(f"Granted ¥12.5000 for {member_email}").wait_for()
    assert row.get_by_test_id("account-balance").inner_text() == "¥112.5000"

    with console_server.connected() as database, database.read() as session:
        assert ledger.balance_of(session, member) == 112_500_000
        (entry,), _ = ledger.list_entries(session, member, kinds=["grant"], limit=1)
        assert (entry.note, entry.actor_user_id) == ("Conference speaker credit", boss)

    page.get_by_label("Value each (¥)").fill("5")
    page.get_by_label("How many").fill("2")
    page.get_by_test_id("create-codes").click()
    codes = page.get_by_test_id("minted-code")
    codes.first.wait_for()
    assert codes.count() == 2
    minted = [codes.nth(i).inner_text() for i in range(2)]
    assert all(re.fullmatch(r"AMP(-[0-9A-Z]{4}){4}", code) for code in minted)
    assert page.get_by_test_id("copy-codes").is_visible()
    with console_server.connected() as database, database.read() as session:
        last4s = set(session.execute(select(RedemptionCode.last4)).scalars())
    assert {code[-4:] for code in minted} <= last4s
    screenshot(page, screenshot_dir / "admin-codes.png")

    _switch_language(page)
    page.get_by_role("heading", name="管理后台").wait_for()
    screenshot(page, screenshot_dir / "admin-zh.png")


def test_a_normal_user_is_refused_the_admin_page(page, console_server):
    member = _account(console_server)
    sign_in_as(page, console_server, member)
    page.goto(console_server.url("/admin"))
    page.wait_for_url(DASHBOARD)
    page.get_by_test_id("balance").wait_for()
    assert page.get_by_role("link", name="Admin").count() == 0
    assert page.get_by_test_id("accounts").count() == 0


def test_the_api_guide_uses_the_visitors_key_and_this_server(
    page, console_server, screenshot_dir, tmp_path: Path
):
    user = _account(console_server)
    sign_in_as(page, console_server, user)
    page.goto(console_server.url("/developers"))
    page.get_by_test_id("create-key-link").wait_for()  # no key yet
    assert "sk-your-api-key" in page.get_by_test_id("example-amphion-curl").inner_text()

    key = _key(console_server, user, name="laptop")
    page.reload()
    hint = page.get_by_test_id("key-hint")
    hint.wait_for()
    assert hint.inner_text() == f"{key[:5]}…{key[-4:]}"
    assert page.get_by_test_id("base-url").inner_text() == console_server.base_url
    curl = page.get_by_test_id("example-amphion-curl").inner_text()
    assert f"{console_server.base_url}/tts/v1/audio/speech" in curl and hint.inner_text() in curl
    screenshot(page, screenshot_dir / "developers.png")

    # The snippet runs as copied once the full key is in the environment.
    script = curl.replace(f'export AMPHION_API_KEY="{hint.inner_text()}"', "")
    subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "AMPHION_API_KEY": key},
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert (tmp_path / "output.mp3").stat().st_size > 1000

    page.get_by_test_id("dialect-fish").click()
    page.get_by_role("tab", name="Python").last.click()
    fish = page.get_by_test_id("example-fish-python")
    fish.wait_for()
    assert f"{console_server.base_url}/api/open/tts" in fish.inner_text()
    page.get_by_test_id("dialect-openai").click()
    assert "/v1" in page.get_by_test_id("example-openai_sdk").inner_text()
    screenshot(page, screenshot_dir / "developers-openai.png")

    _switch_language(page)
    page.get_by_role("heading", name="API 指南").wait_for()
    screenshot(page, screenshot_dir / "developers-zh.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_test_id("base-url").wait_for()
    screenshot(page, screenshot_dir / "developers-390-zh.png")


def test_sign_up_checks_fields_as_they_are_left(page, console_server, screenshot_dir):
    page.goto(console_server.url("/signup"))
    page.get_by_role("heading", name="Create your account").wait_for()
    # The page is server-rendered: a field left before its scripts are live reaches no check
    # (submitting still checks everything), so leave it again until the check has answered.
    for _ in range(30):
        page.get_by_label("E-mail").fill("not-an-address")
        page.get_by_label("Password", exact=True).focus()
        try:
            page.get_by_test_id("email-error").wait_for(timeout=500)
            break
        except PlaywrightTimeoutError:
            page.get_by_label("E-mail").focus()
    assert page.get_by_test_id("email-error").inner_text() == "Enter a valid e-mail address."

    page.get_by_label("E-mail").fill(new_email())
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Confirm password").focus()
    page.get_by_test_id("password-error").filter(has_text="at least 8 characters").wait_for()
    assert page.get_by_test_id("email-error").count() == 0

    page.get_by_label("Password", exact=True).fill("password")
    page.get_by_label("Confirm password").focus()
    page.get_by_test_id("password-error").filter(has_text="too common").wait_for()

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD + "x")
    page.get_by_role("button", name="Create account").focus()
    page.get_by_test_id("password-ok").wait_for()
    page.get_by_test_id("confirm-error").filter(has_text="do not match").wait_for()
    screenshot(page, screenshot_dir / "signup-checks.png")

    # Submitting with the mismatch creates nothing and keeps the visitor here.
    page.get_by_role("button", name="Create account").click()
    page.get_by_test_id("confirm-error").wait_for()
    assert re.search(r"/signup/?$", page.url)

    _switch_language(page)
    page.get_by_role("heading", name="创建账户").wait_for()
    page.get_by_label("确认密码").fill("different")
    page.get_by_label("电子邮箱").focus()
    page.get_by_test_id("confirm-error").filter(has_text="两次输入的密码不一致").wait_for()
    screenshot(page, screenshot_dir / "signup-zh.png")

    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="创建账户").click()
    page.wait_for_url(DASHBOARD)
    assert "¥100.0000" in page.get_by_test_id("welcome").inner_text()


def test_sign_in_says_the_same_for_unknown_e_mail_and_wrong_password(
    page, console_server, screenshot_dir
):
    email = _email_of(console_server, _account(console_server))
    page.goto(console_server.url("/signin"))
    page.get_by_role("heading", name="Sign in to Amphion").wait_for()
    screenshot(page, screenshot_dir / "signin-en.png")

    answers = []
    for address, password in ((email, "not-the-password"), (new_email("nobody"), PASSWORD)):
        # A fresh form each time, so the answer is this one's.
        sign_in_form(page, console_server, address, password)
        alert = page.get_by_test_id("form-error")
        alert.wait_for()
        answers.append(alert.inner_text())
        assert page.get_by_test_id("email-error").count() == 0
        assert page.get_by_test_id("password-error").count() == 0
    assert answers == ["Invalid e-mail or password.", "Invalid e-mail or password."]
    assert SIGNIN.search(page.url)

    _switch_language(page)
    page.get_by_role("heading", name="登录 Amphion").wait_for()
    page.get_by_label("电子邮箱").fill(email)
    page.get_by_label("密码").fill("still-not-the-password")
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_test_id("form-error").filter(has_text="邮箱或密码不正确").wait_for()
    screenshot(page, screenshot_dir / "signin-zh.png")
