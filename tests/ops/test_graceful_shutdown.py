"""Graceful shutdown: SIGTERM by PID to the real processes, with work in flight.

Each test starts a real server or worker on loopback, puts a slowly read streamed TTS answer
and a long job in flight, sends SIGTERM by PID and checks what an operator is promised: no new
connections, exit code 0 within 10 s, every credit hold captured or released exactly once
(none left open but a re-queued job's), history rows terminal ("cancelled" for a stream cut
short), and the job either finished or back in the queue for another worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from api.accounts.service import register_user
from api.billing import ledger
from api.billing.models import HOLD_CAPTURED, HOLD_HELD, HOLD_RELEASED, Hold, LedgerEntry
from api.db import Database
from api.history.models import HistoryRecord
from api.jobs import service
from api.jobs.models import PENDING, SUCCEEDED, Job
from api.keys.service import issue_key
from api.settings import Settings
from console.launcher import REPO_ROOT
from console.local_server import free_port, http_status, local_console, log_tail
from tests.helpers import wait_until
from tests.jobs.sample_handlers import CRASHABLE

EXIT_DEADLINE = 10.0  # what the README promises an operator
# Long enough to outlast the stream grace however fast the engine is: 4,000 characters of
# 48 kHz WAV, read 8 KB every 50 ms, take minutes to deliver.
LONG_TEXT = ("The quick brown fox jumps over the lazy dog while the river runs to the sea. " * 52)[
    :4000
]
# A streamed synthesis that runs for seconds: 4,000 characters as 48 kHz WAV.
LONG_STREAM = {
    "model": "tts-1",
    "input": LONG_TEXT,
    "voice": "alloy",
    "response_format": "wav",
    "sample_rate": 48000,
    "stream": True,
}
HOLD_MICROS = 5_000_000
CHARGE_MICROS = 1_234_567


@dataclass
class SlowReader:
    """A client reading a streamed answer slowly, in its own thread."""

    url: str
    api_key: str
    received: int = 0
    status: int = 0
    error: str = ""
    completed: bool = False
    # Set once the server is told to stop: the rest is read at full speed, to see how it ends.
    hurry: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread = field(init=False)

    def start(self) -> SlowReader:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            with httpx.stream(
                "POST", self.url + "/v1/audio/speech", json=LONG_STREAM, headers=headers, timeout=60
            ) as response:
                self.status = response.status_code
                for chunk in response.iter_raw(8192):
                    self.received += len(chunk)
                    if not self.hurry.is_set():
                        time.sleep(0.05)
            self.completed = True
        except httpx.HTTPError as error:
            self.error = repr(error)

    def wait_for_audio(self, timeout: float = 30) -> None:
        wait_until(lambda: self.received > 0 or not self._thread.is_alive(), timeout, "audio")
        assert self.status == 200, self.error

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the client still reads after the server exited"


def sigterm_and_time(
    pid: int, wait_exit: Callable[[float], int | None]
) -> tuple[int | None, float]:
    """SIGTERM by PID; (exit code or None if still running at the deadline, seconds taken)."""
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    code = wait_exit(EXIT_DEADLINE)
    return code, time.monotonic() - started


def popen_waiter(process: subprocess.Popen[bytes]) -> Callable[[float], int | None]:
    def wait_exit(timeout: float) -> int | None:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    return wait_exit


def pid_waiter(pid: int) -> Callable[[float], int | None]:
    """Wait for a child we did not start through Popen ourselves (it is still our child)."""

    def wait_exit(timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            if reaped:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        return None

    return wait_exit


# --- the database side ----------------------------------------------------------------------


def new_user_and_key(database: Database, settings: Settings, secret_key: str) -> tuple[int, str]:
    user = register_user(
        database, settings, email=f"stop{time.time_ns()}@example.com", password="a sturdy pw 42"
    )
    assert user.id is not None
    with database.write() as session:
        _key, plaintext = issue_key(session, user_id=user.id, name="stop", secret_key=secret_key)
    return user.id, plaintext


def submit_slow_job(database: Database, user_id: int, markers: Path, seconds: float) -> str:
    """A job (with its own hold) whose first attempt dawdles ``seconds``."""
    with database.write() as session:
        hold = ledger.hold(
            session, user_id, HOLD_MICROS, idempotency_key=f"job-{time.time_ns()}", purpose="job"
        )
        return service.submit_job(
            session,
            user_id=user_id,
            kind=CRASHABLE,
            payload={
                "marker_dir": str(markers),
                "charge_micros": CHARGE_MICROS,
                "first_attempt_seconds": seconds,
            },
            hold_id=hold.id,
        ).id


def job_row(database: Database, job_id: str) -> Job:
    with database.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def assert_money_settled(database: Database, user_id: int, still_held: set[int]) -> list[Hold]:
    """Balance == ledger sum; every hold but ``still_held`` resolved by exactly one entry."""
    with database.read() as session:
        assert ledger.unreconciled_users(session) == []
        holds = list(session.execute(select(Hold).where(col(Hold.user_id) == user_id)).scalars())
        for hold in holds:
            kinds = list(
                session.execute(
                    select(LedgerEntry.kind).where(col(LedgerEntry.hold_id) == hold.id)
                ).scalars()
            )
            if hold.id in still_held:
                assert (hold.status, kinds) == (HOLD_HELD, ["hold"])
            else:
                assert hold.status in (HOLD_CAPTURED, HOLD_RELEASED)
                assert sorted(kinds) == sorted(["hold", hold.status[:-1]]), kinds
    return holds


def history_statuses(database: Database, user_id: int) -> list[str]:
    with database.read() as session:
        rows = session.execute(
            select(HistoryRecord.status).where(col(HistoryRecord.user_id) == user_id)
        ).scalars()
        return list(rows)


# --- processes ------------------------------------------------------------------------------


def process_env(database: Database, settings: Settings) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AMPHION_")
    }
    environment.update(
        AMPHION_DATABASE_URL=database.url,
        AMPHION_DATA_DIR=str(settings.data_dir),
        AMPHION_ENVIRONMENT="test",
        AMPHION_SECRET_KEY=settings.secret_key,
        AMPHION_JOB_POLL_SECONDS="0.1",
        AMPHION_JOB_HANDLER_MODULES='["tests.jobs.sample_handlers"]',
        PYTHONPATH=str(REPO_ROOT),
    )
    return environment


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``python -m api.cli ARGS`` in its own session; anything left is killed by PID."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", *args],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def check_server_stop(
    database: Database,
    user_id: int,
    base_url: str,
    pid: int,
    wait_exit: Callable[[float], int | None],
    reader: SlowReader,
    job_id: str,
    log: Path,
) -> None:
    """SIGTERM with a stream and a job in flight; what must hold afterwards."""
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    assert http_status(base_url + "/api/health") == 0, "a new connection was served"
    code = wait_exit(EXIT_DEADLINE - (time.monotonic() - started))
    elapsed = time.monotonic() - started
    assert code == 0, f"exit {code} after {elapsed:.1f} s\n{log_tail(log)}"

    reader.hurry.set()
    reader.join()
    # Cut, not ended: a client must not take a partial answer for a whole one.
    assert not reader.completed and reader.error, reader
    job = job_row(database, job_id)
    assert (job.status, job.lease_owner, job.attempts) == (PENDING, None, 0)
    assert job.hold_id is not None
    holds = assert_money_settled(database, user_id, still_held={job.hold_id})
    stream_holds = [hold for hold in holds if hold.id != job.hold_id]
    assert [hold.status for hold in stream_holds] == [HOLD_RELEASED]
    assert history_statuses(database, user_id) == ["cancelled"]


def test_api_server_cuts_streams_requeues_its_job_and_exits_0_on_sigterm(
    db: Database, settings: Settings, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    user_id, api_key = new_user_and_key(db, settings, settings.secret_key)
    port = free_port()
    env = process_env(db, settings)
    server = spawn("api", env, "serve", "--api-only", "--host", "127.0.0.1", "--port", str(port))
    base_url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http_status(base_url + "/api/health") == 200 or server.poll() is not None,
        60,
        "the API",
    )
    assert server.poll() is None, log_tail(tmp_path / "api.log")

    markers = tmp_path / "markers"
    job_id = submit_slow_job(db, user_id, markers, seconds=60)
    wait_until(lambda: (markers / "attempt-1").exists(), 20, "the in-process worker's claim")
    reader = SlowReader(base_url, api_key).start()
    reader.wait_for_audio()

    check_server_stop(
        db,
        user_id,
        base_url,
        server.pid,
        popen_waiter(server),
        reader,
        job_id,
        tmp_path / "api.log",
    )


def test_job_worker_hands_back_its_job_on_sigterm_and_another_finishes_it_once(
    any_db: Database,
    settings: Settings,
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    user_id, _key = new_user_and_key(any_db, settings, settings.secret_key)
    env = process_env(any_db, settings)
    markers = tmp_path / "markers"
    # Longer than the hand-back grace (5 s), shorter than the test's patience for the re-run.
    job_id = submit_slow_job(any_db, user_id, markers, seconds=7)
    first = spawn("worker-1", env, "worker")
    wait_until(lambda: (markers / "attempt-1").exists(), 30, "the first worker's claim")

    code, elapsed = sigterm_and_time(first.pid, popen_waiter(first))
    assert code == 0, f"exit {code} after {elapsed:.1f} s\n{log_tail(tmp_path / 'worker-1.log')}"
    job = job_row(any_db, job_id)
    assert (job.status, job.lease_owner, job.attempts) == (PENDING, None, 0)
    assert job.hold_id is not None
    assert_money_settled(any_db, user_id, still_held={job.hold_id})

    second = spawn("worker-2", env, "worker")
    wait_until(lambda: job_row(any_db, job_id).status == SUCCEEDED, 30, "the re-run")
    code, elapsed = sigterm_and_time(second.pid, popen_waiter(second))
    assert code == 0, f"exit {code} after {elapsed:.1f} s\n{log_tail(tmp_path / 'worker-2.log')}"
    holds = assert_money_settled(any_db, user_id, still_held=set())
    assert [(hold.status, hold.captured_micros) for hold in holds] == [
        (HOLD_CAPTURED, CHARGE_MICROS)
    ]


def test_console_server_cuts_streams_requeues_its_job_and_exits_0_on_sigterm(
    tmp_path: Path, settings: Settings
) -> None:
    env = {
        "AMPHION_SECRET_KEY": settings.secret_key,
        "AMPHION_JOB_POLL_SECONDS": "0.1",
        "AMPHION_JOB_HANDLER_MODULES": '["tests.jobs.sample_handlers"]',
        "PYTHONPATH": str(REPO_ROOT),
    }
    with local_console(tmp_path, env) as console:
        database = Database(console.database_url)
        try:
            user_id, api_key = new_user_and_key(database, settings, settings.secret_key)
            markers = tmp_path / "markers"
            job_id = submit_slow_job(database, user_id, markers, seconds=60)
            wait_until(lambda: (markers / "attempt-1").exists(), 20, "the in-process worker")
            reader = SlowReader(console.base_url, api_key).start()
            reader.wait_for_audio()
            check_server_stop(
                database, user_id, console.base_url, console.pid, pid_waiter(console.pid),
                reader, job_id, console.log,
            )  # fmt: skip
        finally:
            database.dispose()


def test_job_worker_finishes_a_job_that_ends_within_the_grace_then_exits_0(
    db: Database, settings: Settings, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    user_id, _key = new_user_and_key(db, settings, settings.secret_key)
    markers = tmp_path / "markers"
    job_id = submit_slow_job(db, user_id, markers, seconds=2)
    worker = spawn("worker", process_env(db, settings), "worker")
    wait_until(lambda: (markers / "attempt-1").exists(), 30, "the worker's claim")

    code, elapsed = sigterm_and_time(worker.pid, popen_waiter(worker))
    assert code == 0, f"exit {code} after {elapsed:.1f} s\n{log_tail(tmp_path / 'worker.log')}"
    assert job_row(db, job_id).status == SUCCEEDED
    holds = assert_money_settled(db, user_id, still_held=set())
    assert [(hold.status, hold.captured_micros) for hold in holds] == [
        (HOLD_CAPTURED, CHARGE_MICROS)
    ]
