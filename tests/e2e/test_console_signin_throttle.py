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
THROTTLED = "Too many failed sign-in attempts"
REFUSED = "Invalid e-mail or password"


def is_sign_in_answer(payload: str | bytes) -> bool:
    """Whether a websocket frame carries the form's answer to one sign-in attempt."""
    text = str(payload)
    return REFUSED in text or THROTTLED in text


def test_repeated_failures_are_throttled_with_a_concrete_wait(browser, own_console_server):
    server = own_console_server
    email = new_email()
    register(server, email, PASSWORD)
    limit = server.settings.signin_limit_per_15min
    with fresh_page(browser) as page:
        # Each attempt waits for its own answer on the websocket: the alert of the attempt
        # before looks the same, so waiting for "an alert" could send the next attempt while
        # this one is still in flight, and a click that lands as the button turns disabled is
        # lost (fewer than limit + 1 attempts would reach the server).
        with page.expect_websocket() as opened:
            page.goto(server.url("/signin"))
        socket = opened.value
        for _ in range(limit + 1):
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill("not-the-password")
            with socket.expect_event("framereceived", predicate=is_sign_in_answer) as answer:
                page.get_by_role("button", name="Sign in").click()
            if THROTTLED in str(answer.value):
                break

        alert = page.get_by_role("alert").filter(has_text=THROTTLED)
        alert.wait_for()
        assert re.search(r"Try again in \d+ (s|min)\.", alert.inner_text())
        assert SIGNIN.search(page.url)
