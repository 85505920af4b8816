"""A failing console handler shows a safe toast: user-facing messages yes, exception text never."""

from __future__ import annotations

import logging

import pytest

from api.errors import InsufficientBalanceError
from console.errors import SORRY, friendly_backend_error


def _toast_text(spec) -> str:
    return str(spec.args)


def test_an_unexpected_error_is_logged_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="amphion.console"):
        spec = friendly_backend_error(RuntimeError("SELECT * FROM users /srv/secret"))
    shown = _toast_text(spec)
    assert "SELECT" not in shown and "/srv/secret" not in shown and "RuntimeError" not in shown
    assert SORRY.encode("unicode_escape").decode() in shown or SORRY in shown
    assert "SELECT * FROM users" in caplog.text  # the operator still sees what happened


def test_a_domain_error_is_shown_as_written() -> None:
    spec = friendly_backend_error(InsufficientBalanceError("Your balance is too low for this"))
    assert "Your balance is too low for this" in _toast_text(spec)
