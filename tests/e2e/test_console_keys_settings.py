"""API keys and Settings in a real browser, against a console whose catalog has an own-key model.

Keys: a newcomer creates a key, sees it once with its curl example, copies it, calls the live
API with it, renames it and revokes it, after which the API refuses it. Settings: the password
is changed with inline checks (the other session ends, this one stays; the old password no
longer signs in, the new one does), a provider key is saved and never shown back and a call to
the own-key model reaches the (fake) provider with exactly that key, and the language switches.

The console here is this module's own: its catalog routes ``tts-1`` to an OpenAI-compatible
provider marked bring-your-own-key, served by the provider tests' fake on loopback, with no
operator key configured at all. Screenshots in English and Chinese at 1280 px, and at 390 px.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api.accounts.models import ProviderKey, User
from api.accounts.service import resolve_session
from api.catalog.catalog import DEFAULT_CATALOG
from api.keys.models import ApiKey
from api.keys.service import issue_key
from api.security import verify_password
from tests.e2e.conftest import SECRET_KEY, Server, fresh_page, start_console
from tests.e2e.helpers import (
    DASHBOARD,
    SIGNIN,
    new_email,
    new_session,
    register,
    screenshot,
    sign_in_as,
    sign_in_form,
    speak_through_api,
    use_language,
)
from tests.providers.fake_openai import create_openai_app
from tests.providers.fake_upstream import FakeState, LoopbackServer

pytestmark = pytest.mark.e2e

PASSWORD = "copper-lantern-orchard-31"
NEW_PASSWORD = "silver-harbor-meadow-58"
PROVIDER_KEY = "sk-myOwnOpenAIKey-7c1e9b44d2a0f3e8QRST"
SETTINGS = re.compile(r"/settings/?$")


@pytest.fixture(scope="module")
def fake_provider() -> Iterator[FakeState]:
    """An OpenAI-compatible speech server that accepts only the user's own key."""
    state = FakeState(valid_keys=frozenset({PROVIDER_KEY}))
    server = LoopbackServer(create_openai_app(state))
    state.base_url = server.start()
    try:
        yield state
    finally:
        server.stop()


def _own_key_catalog(path: Path) -> Path:
    """The shipped catalog with tts-1 served by the "openai" provider on the user's own key."""
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    marked = text.replace('id = "tts-1"\n', 'id = "tts-1"\nprovider = "openai"\nbyok = true\n', 1)
    assert marked != text
    path.write_text(marked, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeState) -> Iterator[Server]:
    catalog = _own_key_catalog(tmp_path_factory.mktemp("catalog") / "catalog.toml")
    env = {
        "AMPHION_CATALOG_PATH": str(catalog),
        # Where the provider is, and deliberately no operator key: only users' own keys work.
        "AMPHION_PROVIDERS": json.dumps({"openai": {"base_url": fake_provider.base_url + "/v1"}}),
    }
    with start_console(tmp_path_factory, env) as console:
        yield console


@pytest.fixture
def browser_page(browser, server: Server):
    """A fresh browser context at 1280 px that may use the clipboard."""
    with fresh_page(browser) as page:
        page.context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=server.base_url
        )
        yield page


def _register(server: Server) -> tuple[int, str]:
    email = new_email()
    return register(server, email, PASSWORD), email


def _shot(page, path: Path, *, full_page: bool = True) -> None:
    """A screenshot from the top of the page (a sticky sidebar or top bar would otherwise be
    drawn where the page was scrolled to), once toasts have gone and dialogs have opened."""
    toasts = page.locator("[data-sonner-toast]")
    if toasts.count():  # let a "Saved" toast fade rather than cover the page
        page.mouse.move(0, 0)  # a pointer resting on a toast keeps it open
        toasts.first.wait_for(state="detached", timeout=10_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(400)
    screenshot(page, path, full_page=full_page)


def _speak(server: Server, api_key: str) -> httpx.Response:
    """Seed 000's TTS request with ``api_key``, as the page's curl example makes it."""
    return speak_through_api(server, api_key, "Hello from the new key.")


def _keys_of(server: Server, user_id: int) -> list[tuple[str, object]]:
    with server.connected() as database, database.read() as session:
        rows = session.execute(
            select(ApiKey.name, ApiKey.revoked_at).where(ApiKey.user_id == user_id)
        ).all()
    return [(name, revoked) for name, revoked in rows]


def test_create_reveal_copy_use_rename_and_revoke_a_key(
    browser_page, server: Server, screenshot_dir: Path
) -> None:
    page = browser_page
    user_id, _ = _register(server)
    sign_in_as(page, server, user_id, lang=None)

    page.goto(server.url("/keys"))
    page.get_by_test_id("empty-state").wait_for()
    assert "No API keys yet" in page.get_by_test_id("empty-state").inner_text()
    sample = page.get_by_test_id("sample-curl").inner_text()
    assert f"{server.base_url}/tts/v1/audio/speech" in sample
    _shot(page, screenshot_dir / "keys-empty.png")

    # Create: a name is required (inline), then a key limited to speech with a spend cap.
    page.get_by_test_id("create-key").first.click()
    page.get_by_test_id("create-key-submit").click()
    page.get_by_text("Give the key a name.").wait_for()
    page.get_by_test_id("key-name").fill("Website backend")
    page.get_by_test_id("key-cap").fill("25")
    page.get_by_test_id("key-rpm").fill("120")
    page.locator("#key-expiry").click()
    page.get_by_role("option", name="In 30 days").click()
    page.get_by_test_id("scope-history").click()  # leave history out
    page.get_by_test_id("create-key-submit").click()

    revealed = page.get_by_test_id("revealed-key")
    revealed.wait_for()
    plaintext = revealed.inner_text().strip()
    assert re.fullmatch(r"sk-[0-9A-Za-z]{38}", plaintext)
    curl = page.get_by_test_id("revealed-curl").inner_text()
    assert f"curl -X POST {server.base_url}/tts/v1/audio/speech" in curl
    assert f"X-API-Key: {plaintext}" in curl
    page.get_by_test_id("copy-key").click()
    assert page.evaluate("navigator.clipboard.readText()") == plaintext
    _shot(page, screenshot_dir / "keys-reveal.png", full_page=False)

    # The key works against the live API, exactly as the example sends it.
    spoken = _speak(server, plaintext)
    assert spoken.status_code == 200, spoken.text
    assert spoken.headers["content-type"].startswith("audio/") and len(spoken.content) > 1000

    # Closed: the plaintext is gone from the page for good; the list shows the masked form.
    page.get_by_test_id("reveal-done").click()
    page.get_by_test_id("reveal-dialog").wait_for(state="detached")
    assert plaintext not in page.content()
    row = page.get_by_test_id("key-row").first
    row_text = row.inner_text()
    assert "Website backend" in row_text and f"{plaintext[:5]}…{plaintext[-4:]}" in row_text
    assert "Active" in row_text and "tts · asr · sed · voice" in row_text
    assert "history" not in row_text and "Cap ¥25.00" in row_text
    page.reload()  # the call above is the key's first use; it expires in 30 days
    row = page.get_by_test_id("key-row").first
    row.wait_for()
    assert "Never" not in row.inner_text()
    _shot(page, screenshot_dir / "keys-list.png")

    # Rename.
    row.get_by_test_id("rename-key").click()
    page.get_by_test_id("rename-input").fill("Website backend (prod)")
    page.get_by_test_id("rename-save").click()
    page.get_by_test_id("key-name-cell").filter(has_text="Website backend (prod)").wait_for()
    assert _keys_of(server, user_id) == [("Website backend (prod)", None)]

    # Revoke, after an explicit confirmation; the API refuses the key within a second or so.
    row.get_by_test_id("revoke-key").click()
    page.get_by_role("alertdialog").get_by_text("Revoke this key?").wait_for()
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("key-row").first.get_by_text("Revoked").wait_for()
    ((name, revoked_at),) = _keys_of(server, user_id)
    assert revoked_at is not None
    deadline = time.monotonic() + 5
    refused = _speak(server, plaintext)
    while refused.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.25)
        refused = _speak(server, plaintext)
    assert refused.status_code in (401, 403), refused.text

    # Chinese, and the small screen.
    use_language(page, server, "zh")
    page.reload()
    page.get_by_role("heading", name="API 密钥").wait_for()
    assert "已吊销" in page.get_by_test_id("key-row").first.inner_text()
    _shot(page, screenshot_dir / "keys-zh.png")
    page.get_by_test_id("create-key").first.click()
    page.get_by_text("创建 API 密钥").wait_for()
    _shot(page, screenshot_dir / "keys-create-zh.png", full_page=False)
    page.keyboard.press("Escape")
    use_language(page, server, "en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_role("heading", name="API keys").wait_for()
    card = page.get_by_test_id("key-card").first  # cards instead of the wide table
    card.wait_for()
    assert "Website backend (prod)" in card.inner_text() and "Revoked" in card.inner_text()
    assert not page.get_by_test_id("key-row").first.is_visible()
    _shot(page, screenshot_dir / "keys-390.png")


def test_password_provider_key_and_language(
    browser_page, browser, server: Server, fake_provider: FakeState, screenshot_dir: Path
) -> None:
    page = browser_page
    user_id, email = _register(server)
    sign_in_form(page, server, email, PASSWORD)
    page.wait_for_url(DASHBOARD)
    elsewhere = new_session(server, user_id)  # another device signed in to the account

    page.goto(server.url("/settings"))
    assert page.get_by_test_id("profile-email").inner_text() == email
    _shot(page, screenshot_dir / "settings.png")

    # Inline checks as the visitor leaves each field.
    page.get_by_test_id("new-password").fill("password")
    page.get_by_test_id("confirm-password").click()
    page.get_by_text("This password is too common").wait_for()
    page.get_by_test_id("new-password").fill(NEW_PASSWORD)
    page.get_by_test_id("confirm-password").fill(NEW_PASSWORD + "x")
    page.get_by_test_id("current-password").click()
    page.get_by_text("The two passwords do not match.").wait_for()
    page.get_by_text("Good: this password meets the rules.").wait_for()

    # A wrong current password changes nothing.
    page.get_by_test_id("confirm-password").fill(NEW_PASSWORD)
    page.get_by_test_id("current-password").fill("not-my-password-at-all")
    page.get_by_test_id("change-password").click()
    page.get_by_text("Your current password is not correct.").wait_for()
    assert resolve(server, elsewhere) is not None

    page.get_by_test_id("current-password").fill(PASSWORD)
    page.get_by_test_id("change-password").click()
    page.get_by_text("Password changed. Your other sessions have been signed out.").wait_for()
    expect(page.get_by_test_id("current-password")).to_have_value("")
    assert resolve(server, elsewhere) is None  # the other device is signed out
    page.reload()  # this one is not
    page.wait_for_url(SETTINGS)
    page.get_by_test_id("profile-email").wait_for()
    assert password_matches(server, user_id, NEW_PASSWORD)

    # Own provider key: saved sealed, shown only as its last four characters.
    row = page.get_by_test_id("provider-row")
    assert "OpenAI-compatible service" in row.inner_text() and "tts-1" in row.inner_text()
    assert "Not set" in row.inner_text()
    row.get_by_test_id("provider-key-input").fill(PROVIDER_KEY)
    row.get_by_test_id("save-provider-key").click()
    row.get_by_text("Set", exact=True).wait_for()
    assert f"••••{PROVIDER_KEY[-4:]}" in row.inner_text()
    expect(row.get_by_test_id("provider-key-input")).to_have_value("")
    assert PROVIDER_KEY not in page.content()
    assert PROVIDER_KEY not in stored_provider_keys(server, user_id)
    _shot(page, screenshot_dir / "settings-provider-key.png")

    # The own-key model now speaks through the provider, with exactly this user's key.
    api_key = new_api_key(server, user_id)
    fake_provider.reset()
    spoken = httpx.post(
        server.url("/v1/audio/speech"),
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "tts-1", "input": "Hello there.", "voice": "alloy"},
        timeout=60,
    )
    assert spoken.status_code == 200, spoken.text
    sent = fake_provider.last("/v1/audio/speech")
    assert sent.headers["authorization"] == f"Bearer {PROVIDER_KEY}"

    # Language: the switch on this page, with the current language shown.
    assert page.get_by_test_id("current-language").inner_text() == "English"
    page.get_by_test_id("language-zh").click()
    page.get_by_role("heading", name="设置").wait_for()
    assert page.get_by_test_id("current-language").inner_text() == "简体中文"
    _shot(page, screenshot_dir / "settings-zh.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, screenshot_dir / "settings-zh-390.png")
    page.get_by_test_id("language-en").click()
    page.get_by_role("heading", name="Settings").wait_for()

    # Removing the key: the own-key model is refused again (seed 001's 403, nothing charged).
    row.get_by_test_id("remove-provider-key").click()
    page.get_by_test_id("confirm").click()
    row.get_by_text("Not set").wait_for()
    refused = httpx.post(
        server.url("/v1/audio/speech"),
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "tts-1", "input": "Hello there.", "voice": "alloy"},
        timeout=60,
    )
    assert refused.status_code == 403 and "no_api_key" in refused.text

    # Signed out, the old password no longer signs in; the new one does.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url(SIGNIN)
    sign_in_form(page, server, email, PASSWORD)
    page.get_by_text("Invalid e-mail or password.").wait_for()
    assert SIGNIN.search(page.url)
    sign_in_form(page, server, email, NEW_PASSWORD)
    page.wait_for_url(DASHBOARD)


# --- database checks -----------------------------------------------------------------------


def resolve(server: Server, token: str):
    with server.connected() as database:
        return resolve_session(database, server.settings, token)


def password_matches(server: Server, user_id: int, password: str) -> bool:
    with server.connected() as database, database.read() as session:
        user = session.get(User, user_id)
        assert user is not None
        return verify_password(password, user.password_hash)[0]


def stored_provider_keys(server: Server, user_id: int) -> str:
    """Every stored column of the user's provider keys, as text."""
    with server.connected() as database, database.read() as session:
        rows = session.execute(select(ProviderKey).where(ProviderKey.user_id == user_id)).scalars()
        return repr([row.model_dump() for row in rows])


def new_api_key(server: Server, user_id: int) -> str:
    with server.connected() as database, database.write() as session:
        _, plaintext = issue_key(
            session, user_id=user_id, name="own-key test", secret_key=SECRET_KEY
        )
    return plaintext
