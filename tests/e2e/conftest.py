"""Browser fixtures: the real server (``serve_console``) on a free port, and headless Chromium.

The server runs exactly as ``amphion serve`` runs it, in a subprocess with its own data
directory and SQLite file, migrated first. Reflex rebuilds the frontend at every start (about
5 s) because the port is baked into the bundle; it does so in a private copy of ``.web`` whose
``node_modules`` is a link to the repository's, so a run needs no network and never disturbs a
server someone is running from the same tree. Only a fresh clone without ``.web/node_modules``
pays for ``build_console()`` first (about 20 s, the one step that needs the npm registry).

Screenshots go to ``AMPHION_E2E_SCREENSHOTS`` if set, else to a pytest temporary directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.db import Database, migrate
from api.settings import Settings
from console.launcher import REPO_ROOT, WEB_DIR, build_console, frontend_installed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET_KEY = "e2e-secret-key-that-is-long-enough"
BUILD_TIMEOUT = 600  # a fresh clone's npm install and build
READY_TIMEOUT = 240  # compile + Vite build + start; normally about 8 s
STOP_TIMEOUT = 30


@dataclass(frozen=True)
class Server:
    """A running console: where to reach it and what it runs on."""

    base_url: str
    database_url: str
    settings: Settings
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def database(self) -> Database:
        return Database(self.database_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _private_web_dir(target: Path) -> Path:
    """A copy of ``.web`` without build output, sharing the installed npm packages."""
    ignore = shutil.ignore_patterns("node_modules", "build", ".states")
    shutil.copytree(WEB_DIR, target, ignore=ignore, symlinks=True)
    (target / "node_modules").symlink_to(WEB_DIR / "node_modules", target_is_directory=True)
    return target


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"console exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        # The API answers as soon as the backend is up; the page once the build is mounted.
        if _get(base_url + "/api/health") == 200 and _get(base_url + "/signin/") == 200:
            return
        time.sleep(0.25)
    pytest.fail(f"console not ready within {READY_TIMEOUT} s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # serve_console passes SIGTERM on to Reflex; the group kill is the last resort.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One frontend install at a time per checkout (pytest-xdist workers share ``.web``)."""
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"amphion-console-build-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("console")
    with _build_lock():
        if not frontend_installed():
            built = build_console()
            assert built == 0, "build_console() failed (it needs the npm registry once)"
    data_dir = root / "data"
    database_url = f"sqlite:///{data_dir / 'amphion.db'}"
    migrate(database_url)
    settings = Settings(
        environment="test",
        secret_key=SECRET_KEY,
        data_dir=data_dir,
        database_url=database_url,
    )
    port = _free_port()
    env = {
        **os.environ,
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": SECRET_KEY,
        "AMPHION_DATA_DIR": str(data_dir),
        "AMPHION_DATABASE_URL": database_url,
        "AMPHION_PORT": str(port),
        "REFLEX_WEB_WORKDIR": str(_private_web_dir(root / "web")),
        "REFLEX_STATES_WORKDIR": str(root / "states"),
    }
    log = root / "server.log"
    code = f"import sys, console.launcher as c; sys.exit(c.serve_console({port}))"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://localhost:{port}"
    try:
        _wait_ready(process, base_url, log)
        yield Server(base_url=base_url, database_url=database_url, settings=settings, log=log)
    finally:
        _stop(process)


# Module scope: Playwright's sync API keeps an event loop running on the main thread while it
# is open, which would break any asyncio test that runs after it in the same session.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, console_server: Server):
    """A fresh browser context (own cookies) at 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


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
    port = _free_port()
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
        while _get(base_url + "/api/health") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"API server did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield ApiServer(base_url, process.pid, settings)
    finally:
        _stop(process)
