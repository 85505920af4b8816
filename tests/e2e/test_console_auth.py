"""The console in a real browser: sign up, the dashboard, the session cookie, sign out and in.

Runs against the production server (``serve_console``) in headless Chromium; see conftest.py.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import (
    DASHBOARD,
    SIGNIN,
    fill_sign_up_form,
    new_email,
    register,
    screenshot,
    sign_in_form,
)

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"


def test_sign_up_dashboard_sign_out_and_sign_in_again(page, console_server, screenshot_dir):
    email = new_email()

    page.goto(console_server.url("/signup"))
    page.get_by_role("heading", name="Create your account").wait_for()
    screenshot(page, screenshot_dir / "signup.png")
    fill_sign_up_form(page, email, PASSWORD)

    page.wait_for_url(DASHBOARD)
    welcome = page.get_by_test_id("welcome")
    welcome.wait_for()
    assert "Welcome to Amphion" in welcome.inner_text()
    assert "¥100.0000" in welcome.inner_text()
    assert page.get_by_test_id("balance").inner_text() == "¥100.0000"
    assert page.get_by_text(email).first.is_visible()
    screenshot(page, screenshot_dir / "dashboard.png")

    # The session lives in an HttpOnly cookie that page scripts cannot see.
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["amphion_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert "amphion_session" not in page.evaluate("document.cookie")
    assert session["value"] not in page.content()

    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url(SIGNIN)
    page.get_by_role("heading", name="Sign in to Amphion").wait_for()
    assert "amphion_session" not in {cookie["name"] for cookie in page.context.cookies()}

    # Signed out: the dashboard sends the visitor back to sign-in.
    page.goto(console_server.url("/dashboard"))
    page.wait_for_url(SIGNIN)
    page.get_by_role("heading", name="Sign in to Amphion").wait_for()

    sign_in_form(page, console_server, email, PASSWORD)
    page.wait_for_url(DASHBOARD)
    assert page.get_by_test_id("balance").inner_text() == "¥100.0000"
    # The welcome is for the first visit after sign-up only.
    assert page.get_by_test_id("welcome").count() == 0


def test_wrong_password_shows_a_friendly_error_and_stays(page, console_server, screenshot_dir):
    email = new_email()
    register(console_server, email, PASSWORD)

    sign_in_form(page, console_server, email, "not-the-password")

    alert = page.get_by_role("alert").filter(has_text="Invalid e-mail or password")
    alert.wait_for()
    assert SIGNIN.search(page.url)
    assert "amphion_session" not in {cookie["name"] for cookie in page.context.cookies()}
    # The form keeps what was typed, so only the password needs retyping.
    assert page.get_by_label("E-mail").input_value() == email
    screenshot(page, screenshot_dir / "signin-error.png")


def test_signed_in_visitors_skip_the_sign_in_page(page, console_server, screenshot_dir):
    page.goto(console_server.url("/"))
    page.wait_for_url(SIGNIN)
    page.get_by_role("heading", name="Sign in to Amphion").wait_for()
    screenshot(page, screenshot_dir / "signin.png")

    email = new_email()
    register(console_server, email, PASSWORD)
    sign_in_form(page, console_server, email, PASSWORD)
    page.wait_for_url(DASHBOARD)

    for path in ("/signin", "/signup", "/"):
        page.goto(console_server.url(path))
        page.wait_for_url(DASHBOARD)
        page.get_by_test_id("balance").wait_for()


def test_sign_up_refuses_a_weak_password_inline(page, console_server):
    page.goto(console_server.url("/signup"))
    fill_sign_up_form(page, new_email(), "password")

    page.get_by_role("alert").filter(has_text="too common").wait_for()
    assert re.search(r"/signup/?$", page.url)


def test_an_expired_sign_in_link_says_so(page, console_server):
    page.goto(console_server.url("/api/auth/session/claim?ticket=bogus&next=/dashboard"))
    page.wait_for_url(SIGNIN)
    page.get_by_text("That sign-in link has expired").wait_for()


def test_unknown_pages_get_a_branded_404(page, console_server):
    page.goto(console_server.url("/no-such-page"))
    page.get_by_role("heading", name="Page not found").wait_for()
    page.get_by_role("button", name="Back to the console").click()
    page.wait_for_url(SIGNIN)
