"""Browser fixtures: the real server (``serve_console``) on a free port, headless Chromium and
fresh pages, and a speech file to upload. Helpers for accounts and pages are in ``helpers.py``.

The console runs exactly as ``amphion serve`` runs it, in a subprocess with its own data
directory and SQLite file (``console.local_server``, shared with the benchmarks).

Screenshots go to ``AMPHION_E2E_SCREENSHOTS`` if set, else to a pytest temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.db import Database, migrate
from api.settings import Settings
from console.launcher import REPO_ROOT
from console.local_server import (
    ConsoleStartError,
    free_port,
    http_status,
    local_console,
    log_tail,
    stop_process,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Chromium's stand-in microphone (a beep, or a file given with --use-file-for-fake-audio-capture)
# that the page may use without asking.
FAKE_MICROPHONE_ARGS = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
# The playground's player starts as speech streams, without a click on the player itself.
AUTOPLAY_ARG = "--autoplay-policy=no-user-gesture-required"
SECRET_KEY = "e2e-secret-key-that-is-long-enough"
# What ``speech_wav`` says (recognition tests compare their transcript with it).
ENGLISH_SPEECH = "Hello world. This is a test of speech recognition."


@dataclass(frozen=True)
class Server:
    """A running console: where to reach it, what it runs on, and its exit code once it has
    exited (``poll``)."""

    base_url: str
    database_url: str
    settings: Settings
    log: Path
    poll: Callable[[], int | None] = field(repr=False, compare=False)

    def url(self, path: str) -> str:
        return self.base_url + path

    def database(self) -> Database:
        return Database(self.database_url)

    @contextlib.contextmanager
    def connected(self) -> Iterator[Database]:
        """The console's database for a few in-process reads or writes; this side's engine is
        closed afterwards (the server keeps its own)."""
        database = self.database()
        try:
            yield database
        finally:
            database.dispose()


@contextlib.contextmanager
def start_console(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A console of its own, with ``env`` added to the server's environment."""
    root = tmp_path_factory.mktemp("console")
    try:
        # Many tests sign up from 127.0.0.1 within the hour: sign-up throttling has its own tests.
        server_env = {
            "AMPHION_SECRET_KEY": SECRET_KEY,
            "AMPHION_SIGNUP_LIMIT_PER_HOUR": "10000",
            **(env or {}),
        }
        with local_console(root, server_env) as console:
            settings = Settings(
                environment="test",
                secret_key=SECRET_KEY,
                data_dir=console.data_dir,
                database_url=console.database_url,
                signup_limit_per_hour=10_000,
            )
            server = Server(
                console.base_url, console.database_url, settings, console.log, console.poll
            )
            _RUNNING.append(server)
            try:
                yield server
            finally:
                _RUNNING.remove(server)
    except ConsoleStartError as error:
        pytest.fail(str(error))


_RUNNING: list[Server] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test whose console has died shows how it died: the tail of the server's log.
    (Otherwise every later test only reports a refused connection.)"""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _RUNNING:
            code = server.poll()
            if code is not None:
                title = f"console {server.base_url} exited with {code}; its log ends"
                report.sections.append((title, log_tail(server.log, 3000)))


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The console most browser tests share."""
    with start_console(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def own_console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A console for one module: for tests that use up a per-address budget (sign-in throttle)."""
    with start_console(tmp_path_factory) as server:
        yield server


def launch_chromium(browser_type: Any, *extra_args: str) -> Any:
    """Headless Chromium with the usual switches and ``extra_args`` (a fake microphone, say)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    return browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Any]:
    """Playwright and a Chromium launched with ``extra_args``, for a module's ``browser``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright.chromium, *extra_args)
        yield browser
        browser.close()


# Module scope: Playwright's sync API keeps an event loop running on the main thread while it
# is open, which would break any asyncio test that runs after it in the same session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@contextlib.contextmanager
def fresh_page(browser: Any, *, timeout_ms: int = 15_000) -> Iterator[Any]:
    """A page in a fresh browser context (own cookies) at 1280 px wide, closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser, console_server: Server):
    """A fresh browser context (own cookies) at 1280 px wide."""
    with fresh_page(browser) as page:
        yield page


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory, console_server: Server) -> Path:
    """English speech (``ENGLISH_SPEECH``) from the offline Piper voice, as a WAV to upload."""
    from api import audio
    from api.engines.base import SynthesisRequest
    from api.engines.registry import get_registry

    engine = get_registry(console_server.settings).tts("piper")
    pcm = engine.synthesize(SynthesisRequest(text=ENGLISH_SPEECH, voice="joe"))
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    path.write_bytes(audio.encode(pcm, "wav"))
    return path


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("AMPHION_E2E_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ApiServer:
    """The HTTP API alone (uvicorn, one process), on real offline engines."""

    base_url: str
    pid: int
    settings: Settings

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("api")
    data_dir = root / "data"
    database_url = f"sqlite:///{data_dir / 'amphion.db'}"
    migrate(database_url)
    settings = Settings(
        environment="test", secret_key=SECRET_KEY, data_dir=data_dir, database_url=database_url
    )
    port = free_port()
    env = {
        **os.environ,
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": SECRET_KEY,
        "AMPHION_DATA_DIR": str(data_dir),
        "AMPHION_DATABASE_URL": database_url,
    }
    log = root / "api.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "api.http.app:create_api",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while http_status(base_url + "/api/health") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"API server did not start:\n{log_tail(log)}")
            time.sleep(0.1)
        yield ApiServer(base_url, process.pid, settings)
    finally:
        stop_process(process)
