"""A serving process freezes its start-up heap (``gc.freeze``); apps built for tests do not."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from api.http.app import create_api
from api.http.context import AppContext

SERVING = """
import gc
from fastapi.testclient import TestClient
from api.http.app import create_api
app = create_api()  # as granian's factory call builds it
assert gc.get_freeze_count() == 0
with TestClient(app) as client:
    assert client.get("/api/health").status_code == 200
    # Every route was built at start-up: a first call to any of them builds nothing.
    import fastapi.routing
    built = []
    real = fastapi.routing._populate_api_route_state
    fastapi.routing._populate_api_route_state = lambda *a, **k: built.append(a) or real(*a, **k)
    for path in ("/v1/models", "/v1/audio/speech", "/api/v1/tts/synthesize", "/api/account"):
        client.post(path, json={})
    assert not built, len(built)
    print(gc.get_freeze_count())
"""


def test_a_server_built_from_settings_freezes_what_it_holds_at_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": "a-secret-key-long-enough-for-the-test",
        "AMPHION_DATA_DIR": str(tmp_path / "data"),
        "AMPHION_DATABASE_URL": f"sqlite:///{tmp_path / 'amphion.db'}",
    }
    subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    ran = subprocess.run(
        [sys.executable, "-c", SERVING], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert int(ran.stdout.split()[-1]) > 50_000  # the app, its imports, its engines' tables


def test_an_app_built_around_a_context_leaves_the_heap_alone(context: AppContext) -> None:
    before = gc.get_freeze_count()
    with TestClient(create_api(context)) as client:
        assert client.get("/api/health").status_code == 200
    assert gc.get_freeze_count() == before
