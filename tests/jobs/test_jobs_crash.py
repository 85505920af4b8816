"""The crash test (G42): SIGKILL a worker process mid-job; a fresh one finishes it, charged once.

Real processes, real signals: ``python -m api.jobs.worker`` runs against the test's database
(the SQLite file, and PostgreSQL when ``AMPHION_TEST_DATABASE_URL`` is set). While the first
worker runs the job, a second one is already polling, so the test also shows that heartbeats
from another process keep the job away from it; after the SIGKILL the lease runs out and the
second worker re-runs the job from the start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.accounts.models import User
from api.billing.models import HOLD_CAPTURED
from api.db import Database
from api.jobs import service
from api.jobs.models import RUNNING, SUCCEEDED, TERMINAL, Job
from api.settings import Settings
from tests.jobs.helpers import (
    SIGNUP_CREDIT,
    assert_reconciled,
    balance,
    hold_entries,
    hold_row,
    job_row,
    place_hold,
)
from tests.jobs.sample_handlers import CRASHABLE

REPO_ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2
HOLD_MICROS = 5_000_000
CHARGE_MICROS = 1_234_567
WORKER_SECRET = "crash-test-secret-key-long-enough-to-pass"

MakeUser = Callable[[Database], User]
StartWorker = Callable[[str], subprocess.Popen[bytes]]


def _wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    worker_logs = "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')}"
        for path in sorted(logs.glob("*.log"))
    )
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{worker_logs}")


def _polling(log: Path) -> bool:
    return any(
        "job worker" in line and line.endswith("started")
        for line in log.read_text(errors="replace").splitlines()
    )


@pytest.fixture
def start_worker(any_db: Database, settings: Settings, tmp_path: Path) -> Iterator[StartWorker]:
    """Start worker processes on the test's database; every one is killed (by PID) at the end."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AMPHION_")
    }
    environment.update(
        AMPHION_DATABASE_URL=any_db.url,
        AMPHION_DATA_DIR=str(settings.data_dir),
        AMPHION_ENVIRONMENT="test",
        AMPHION_SECRET_KEY=WORKER_SECRET,
        AMPHION_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        AMPHION_JOB_POLL_SECONDS="0.1",
        AMPHION_JOB_HANDLER_MODULES='["tests.jobs.sample_handlers"]',
        PYTHONPATH=str(REPO_ROOT),
    )
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "api.jobs.worker"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own descriptor
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_sigkilled_worker_job_is_finished_once_by_a_fresh_worker(
    any_db: Database, make_user: MakeUser, start_worker: StartWorker, tmp_path: Path
) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, HOLD_MICROS, "crash-test")
    markers = tmp_path / "markers"
    with any_db.write() as session:
        job_id = service.submit_job(
            session,
            user_id=user.id,
            kind=CRASHABLE,
            payload={"marker_dir": str(markers), "charge_micros": CHARGE_MICROS},
            hold_id=hold_id,
        ).id

    doomed = start_worker("doomed")
    _wait_for((markers / "attempt-1").exists, 30, "the first attempt to start", tmp_path)
    first_owner = job_row(any_db, job_id).lease_owner
    assert first_owner is not None and f":{doomed.pid}:" in first_owner

    fresh = start_worker("fresh")
    _wait_for(
        lambda: _polling(tmp_path / "fresh.log"),
        30,
        "the fresh worker to start polling",
        tmp_path,
    )
    # Longer than a lease: only the doomed worker's heartbeats keep the job from the fresh one.
    time.sleep(1.5 * LEASE_SECONDS)
    running: Job = job_row(any_db, job_id)
    assert (running.status, running.attempts, running.lease_owner) == (RUNNING, 1, first_owner)

    os.kill(doomed.pid, signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL

    _wait_for(
        lambda: job_row(any_db, job_id).status in TERMINAL,
        LEASE_SECONDS + 20,
        "the fresh worker to finish the job",
        tmp_path,
    )
    assert fresh.poll() is None  # still serving

    job = job_row(any_db, job_id)
    assert job.status == SUCCEEDED
    assert job.attempts == 2
    assert job.result == {"done": True, "attempt": 2}
    assert job.lease_owner is not None and f":{fresh.pid}:" in job.lease_owner
    assert (markers / "attempt-2").exists()
    held = hold_row(any_db, hold_id)
    assert held.status == HOLD_CAPTURED and held.captured_micros == CHARGE_MICROS
    assert hold_entries(any_db, hold_id) == ["hold", "capture"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT - CHARGE_MICROS
    assert_reconciled(any_db)

    # A clean stop: SIGTERM lets the worker exit on its own.
    os.kill(fresh.pid, signal.SIGTERM)
    assert fresh.wait(timeout=10) == 0
