"""``amphion serve --workers N`` for the console: N Reflex workers, and only with Redis.

The console's workers keep browser tabs' state in Redis (``rxconfig.py``); without it every
worker would hold its own copy and a reconnecting tab would find nothing, so the command refuses
before touching anything. These run without PostgreSQL or Redis (no server is started).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import console.launcher
from api.cli import main
from api.settings import get_settings
from tests.conftest import TEST_SECRET


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "data"
    for name, value in {
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": TEST_SECRET,
        "AMPHION_DATA_DIR": str(data),
        "AMPHION_DATABASE_URL": f"sqlite:///{data / 'serve.db'}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AMPHION_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls of ``serve_console`` (recorded instead of starting Reflex)."""
    calls: list[dict[str, Any]] = []

    def record(port: int, *, env: dict[str, str] | None = None, host: str | None = None) -> int:
        calls.append({"port": port, "env": env})
        return 0

    monkeypatch.setattr(console.launcher, "serve_console", record)
    return calls


def test_several_console_workers_need_redis(
    data_dir: Path, served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "3", "--port", "9001"]) == 2
    assert "AMPHION_REDIS_URL" in capsys.readouterr().err
    assert served == [] and not data_dir.exists()  # refused before migrating anything


@pytest.mark.parametrize(
    ("workers", "redis_url"), [(1, ""), (1, "redis://cache:6379/0"), (3, "redis://cache:6379/0")]
)
def test_the_console_runs_as_many_workers_as_asked(
    data_dir: Path,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    redis_url: str,
) -> None:
    if redis_url:
        monkeypatch.setenv("AMPHION_REDIS_URL", redis_url)
        get_settings.cache_clear()
    assert main(["serve", "--workers", str(workers), "--port", "9001"]) == 0
    # Reflex reads GRANIAN_WORKERS; unset, it would start 2 x CPUs + 1 once it has Redis.
    assert served == [{"port": 9001, "env": {"GRANIAN_WORKERS": str(workers)}}]


def test_the_console_server_replaces_a_dead_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reflex builds its granian server itself; ``console.reflex_server`` makes the one it
    imports respawn dead workers and end stuck ones, and what Reflex passes still wins.
    (``tests/ops/test_faults.py`` kills a running console's worker.)"""
    import granian.server

    from api.http.shutdown import SERVER_KILL_AFTER_SECONDS
    from console.reflex_server import install_server_defaults

    monkeypatch.setattr(granian.server, "Server", granian.server.Server)  # restored afterwards
    install_server_defaults()
    from granian.server import Server  # as Reflex imports it when the backend starts

    server = Server("console.app:app", workers=2)
    assert server.respawn_failed_workers is True
    assert server.workers_kill_timeout == SERVER_KILL_AFTER_SECONDS
    assert server.workers == 2
    assert Server("console.app:app", respawn_failed_workers=False).respawn_failed_workers is False
    assert console.launcher._reflex("run")[1:3] == ["-m", "console.reflex_server"]
