"""The ``amphion`` command: operator chores in-process, ``serve --api-only`` as a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main
from api.db import Database
from api.keys import service as keys
from api.keys.service import is_well_formed
from api.settings import get_settings
from console.local_server import free_port
from tests.conftest import TEST_SECRET
from tests.helpers import PASSWORD
from tests.scaleout.cluster import child_processes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": TEST_SECRET,
        "AMPHION_DATA_DIR": str(tmp_path / "data"),
        "AMPHION_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'cli.db'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_operator_commands(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "migrate")[0] == 0
    code, out, _ = run_cli(
        capsys, "user", "create", "--email", "ops@example.com", "--password", PASSWORD, "--admin"
    )
    assert code == 0 and "admin ops@example.com" in out

    code, out, _ = run_cli(
        capsys, "credit", "grant", "--email", "ops@example.com", "--amount", "2.5", "--note", "x"
    )
    assert code == 0 and "balance 102.5000" in out
    code, _, err = run_cli(
        capsys, "credit", "grant", "--email", "ops@example.com", "--amount", "-200", "--note", "x"
    )
    assert code == 2 and "below zero" in err

    code, out, _ = run_cli(capsys, "key", "create", "--email", "ops@example.com", "--name", "ci")
    key = out.strip()
    assert code == 0 and is_well_formed(key) and out.count("\n") == 1

    code, out, _ = run_cli(capsys, "codes", "create", "--amount", "5", "--count", "3")
    codes = out.split()
    assert code == 0 and len(codes) == 3 and all(c.startswith("AMP-") for c in codes)

    code, _, err = run_cli(capsys, "user", "create", "--email", "bad", "--password", PASSWORD)
    assert code == 2 and "e-mail" in err

    database = Database(cli_env["AMPHION_DATABASE_URL"])
    with database.read() as session:
        assert len(keys.list_keys(session, 1)) == 1
    database.dispose()


def test_serve_api_only_answers_and_stops_on_sigterm(cli_env: dict[str, str]) -> None:
    port = free_port()
    env = {**os.environ, **cli_env}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--api-only",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its worker process goes with it if the test fails
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        signed = httpx.post(
            f"{base}/api/auth/signup", json={"email": "srv@example.com", "password": PASSWORD}
        )
        assert signed.status_code == 200
        assert signed.json()["data"]["user"]["balance"] == "100.0000"
        assert httpx.get(f"{base}/docs").status_code == 200
        # The worker process that serves the app runs every thread under SCHED_BATCH
        # (api.scheduling); granian's supervising process keeps the default policy.
        workers = child_processes(server.pid)
        assert workers
        for worker, _command in workers:
            assert _thread_policies(worker) == {os.SCHED_BATCH}
        assert os.sched_getscheduler(server.pid) == os.SCHED_OTHER
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def _thread_policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(int(t.name)) for t in Path(f"/proc/{pid}/task").iterdir()}
