"""A throw-away console on loopback, for browser tests and benchmarks.

    with local_console(root) as console:
        ...  # console.base_url, console.database_url, console.pid

The server runs exactly as ``amphion serve`` runs it (``serve_console`` in a subprocess), with
its own data directory and SQLite file under ``root``, migrated first, on a free port. Reflex
rebuilds the frontend at every start (about 5 s) because the port is baked into the bundle; it
does so in a private copy of ``.web`` whose ``node_modules`` is a link to the repository's, so a
run needs no network and never disturbs a server someone is running from the same tree. Only a
fresh clone without ``.web/node_modules`` pays for ``build_console()`` first (about 20 s, the
one step that needs the npm registry). The server is stopped by its PID (SIGTERM, which
``serve_console`` passes on to Reflex; its process group is killed only as a last resort).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from console.launcher import REPO_ROOT, WEB_DIR, build_console, frontend_installed

READY_TIMEOUT = 240  # compile + Vite build + start; normally about 8 s
STOP_TIMEOUT = 30


class ConsoleStartError(RuntimeError):
    """The console did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True)
class LocalConsole:
    """A running console: where to reach it, its database and its log; ``poll`` tells the
    server's exit code once it has exited (``Popen.poll``)."""

    base_url: str
    database_url: str
    data_dir: Path
    log: Path
    pid: int
    poll: Callable[[], int | None] = field(repr=False, compare=False)

    def url(self, path: str) -> str:
        return self.base_url + path


def log_tail(log: Path, size: int = 4000) -> str:
    """The last ``size`` characters of a server's log ("" before it exists)."""
    return log.read_text(errors="replace")[-size:] if log.exists() else ""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str) -> int:
    """The status of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _private_web_dir(target: Path) -> Path:
    """A copy of ``.web`` without build output, sharing the installed npm packages."""
    ignore = shutil.ignore_patterns("node_modules", "build", ".states")
    shutil.copytree(WEB_DIR, target, ignore=ignore, symlinks=True)
    (target / "node_modules").symlink_to(WEB_DIR / "node_modules", target_is_directory=True)
    return target


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One frontend install at a time per checkout (parallel runs share ``.web``)."""
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"amphion-console-build-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_frontend_installed() -> None:
    """Install the npm packages once per checkout (the only step that needs the registry)."""
    with _build_lock():
        if not frontend_installed() and build_console() != 0:
            raise ConsoleStartError("build_console() failed (it needs the npm registry once)")


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConsoleStartError(f"console exited with {process.returncode}:\n{log_tail(log)}")
        # The API answers as soon as the backend is up; the page once the build is mounted.
        if all(http_status(base_url + path) == 200 for path in ("/api/health", "/signin/")):
            return
        time.sleep(0.25)
    raise ConsoleStartError(f"console not ready within {READY_TIMEOUT} s:\n{log_tail(log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, then the process group's SIGKILL if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def local_console(root: Path, env: dict[str, str] | None = None) -> Iterator[LocalConsole]:
    """Run a console with its data under ``root`` (which must exist) until the block ends.

    ``env`` adds to or overrides the server's environment (``AMPHION_SECRET_KEY`` must be
    among them or already set: settings refuse to start without one).
    """
    from api.db import migrate

    ensure_frontend_installed()
    data_dir = root / "data"
    database_url = f"sqlite:///{data_dir / 'amphion.db'}"
    migrate(database_url)
    port = free_port()
    server_env = {
        **os.environ,
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_DATA_DIR": str(data_dir),
        "AMPHION_DATABASE_URL": database_url,
        "AMPHION_PORT": str(port),
        "REFLEX_WEB_WORKDIR": str(_private_web_dir(root / "web")),
        "REFLEX_STATES_WORKDIR": str(root / "states"),
        **(env or {}),
    }
    log = root / "server.log"
    code = f"import sys, console.launcher as c; sys.exit(c.serve_console({port}))"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://localhost:{port}"
    try:
        _wait_ready(process, base_url, log)
        yield LocalConsole(base_url, database_url, data_dir, log, process.pid, process.poll)
    finally:
        stop_process(process)
