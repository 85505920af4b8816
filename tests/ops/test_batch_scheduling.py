"""``api.scheduling``: a serving process's threads under ``SCHED_BATCH``, and the ones they
start later too; ``AMPHION_BATCH_SCHEDULING=false`` leaves the default policy.

Each case runs in a process of its own: the policy is per thread and inherited, and the test
process must keep its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.launcher import REPO_ROOT
from tests.conftest import TEST_SECRET

# Threads before the call, the call, a thread after it; prints every thread's policy.
_PROBE = textwrap.dedent(
    """
    import json, os, threading
    from api.scheduling import run_threads_as_batch

    stop = threading.Event()
    before = threading.Thread(target=stop.wait)
    before.start()
    moved = run_threads_as_batch()
    after = threading.Thread(target=stop.wait)
    after.start()
    policies = {int(t): os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}
    stop.set()
    print(json.dumps({"moved": moved, "policies": list(policies.values()),
                      "after": os.sched_getscheduler(after.native_id)}))
    """
)


def _run(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_every_thread_and_the_threads_started_later_run_as_batch() -> None:
    seen = _run(_PROBE)
    assert seen["moved"] == 2  # the main thread and the one started before
    assert seen["policies"] == [os.SCHED_BATCH] * 3
    assert seen["after"] == os.SCHED_BATCH


def test_a_system_that_refuses_the_call_leaves_the_server_as_it_was() -> None:
    refused = _PROBE.replace(
        "from api.scheduling import run_threads_as_batch",
        "from api.scheduling import run_threads_as_batch\n"
        "def refuse(*_args):\n"
        "    raise PermissionError(1, 'Operation not permitted')\n"
        "os.sched_setscheduler = refuse",
    )
    seen = _run(refused)
    assert seen["moved"] == 0
    assert seen["policies"] == [os.SCHED_OTHER] * 3


# A serving app's start-up (its lifespan), as ``amphion serve`` and the console run it.
_SERVING = textwrap.dedent(
    """
    import asyncio, json, os
    from api.db import migrate
    from api.http.app import create_api
    from api.settings import get_settings

    migrate(get_settings().resolved_database_url)
    app = create_api(serving=True)

    async def start_and_look() -> list[int]:
        async with app.router.lifespan_context(app):
            return [os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")]

    print(json.dumps({"policies": sorted(set(asyncio.run(start_and_look())))}))
    """
)


@pytest.mark.parametrize(
    ("setting", "policy"), [("true", os.SCHED_BATCH), ("false", os.SCHED_OTHER)]
)
def test_a_serving_app_moves_its_threads_unless_the_settings_say_not_to(
    tmp_path: Path, setting: str, policy: int
) -> None:
    env = {
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": TEST_SECRET,
        "AMPHION_DATA_DIR": str(tmp_path),
        "AMPHION_DATABASE_URL": f"sqlite:///{tmp_path / 'amphion.db'}",
        "AMPHION_BATCH_SCHEDULING": setting,
    }
    assert _run(_SERVING, env)["policies"] == [policy]
