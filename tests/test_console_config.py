"""The console's configuration keeps its security promises (DESIGN §1, §3 "Reflex")."""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Releases with published advisories: CVE-2025-47425 (GHSA-rf8x-9mhr-49wg) is fixed in 0.7.12.
FIRST_SAFE_REFLEX = (0, 7, 12)


def test_reflex_is_pinned_to_a_release_without_known_advisories() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [d for d in project["project"]["dependencies"] if d.startswith("reflex")]
    assert pins == ["reflex==0.10.1"]
    installed = tuple(int(part) for part in re.findall(r"\d+", version("reflex"))[:3])
    assert installed == (0, 10, 1) and installed >= FIRST_SAFE_REFLEX


def test_rxconfig_turns_off_auto_setters_telemetry_and_the_reflex_badge() -> None:
    config = importlib.import_module("rxconfig").config
    assert config.app_name == "console"
    assert config.state_auto_setters is False
    assert config.telemetry_enabled is False
    assert config.show_built_with_reflex is False


def _reflex_model_uses(tree: ast.AST) -> list[int]:
    """Lines that touch Reflex's deprecated table base (``Model`` on the ``rx`` module)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "Model"
        and isinstance(node.value, ast.Name)
        and node.value.id == "rx"
    ]


def test_tables_are_plain_sqlmodel_and_no_passlib() -> None:
    sources = list((ROOT / "api").rglob("*.py")) + list((ROOT / "console").rglob("*.py"))
    for path in sources:
        text = path.read_text()
        assert not _reflex_model_uses(ast.parse(text)), path
        assert not re.search(r"^\s*(from|import) passlib", text, re.M), path


def test_forms_submitted_before_the_scripts_run_keep_the_password_out_of_the_url() -> None:
    """A click on "Sign in" before the page's scripts load is a native form submission: with
    the default GET it would put the e-mail and password in the URL (seen in the scale-out
    test), so every console form is rendered with method="post"."""
    from console.components.forms import sign_in_form
    from console.state.auth import AuthState

    rendered = str(
        sign_in_form(
            on_submit=AuthState.sign_in,
            email_error=AuthState.email_error,
            password_error=AuthState.password_error,
            submitting=AuthState.submitting,
        ).render()
    )
    found = re.search(r"method[^,]{0,12}post", rendered)
    assert found is not None, rendered[:400]
