"""Repeated failed sign-ins are throttled, and the page says how long to wait.

This module has its own console server: the test uses up the sign-in failure budget of
127.0.0.1, after which every other browser test on a shared server could not sign in through
the form for the rest of the window.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import fresh_page
from tests.e2e.helpers import SIGNIN, new_email, register

pytestmark = pytest.mark.e2e

PASSWORD = "violet-harbor-lantern-42"


def test_repeated_failures_are_throttled_with_a_concrete_wait(browser, own_console_server):
    server = own_console_server
    email = new_email()
    register(server, email, PASSWORD)
    limit = server.settings.signin_limit_per_15min
    with fresh_page(browser) as page:
        page.goto(server.url("/signin"))
        for _ in range(limit + 1):
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("alert").wait_for()
            if "Too many" in page.get_by_role("alert").inner_text():
                break
            # Wait for the form to be ready again before the next attempt.
            page.get_by_role("button", name="Sign in").and_(page.locator(":enabled")).wait_for()

        alert = page.get_by_role("alert").filter(has_text="Too many failed sign-in attempts")
        alert.wait_for()
        assert re.search(r"Try again in \d+ (s|min)\.", alert.inner_text())
        assert SIGNIN.search(page.url)
