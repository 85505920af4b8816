"""Faults, on real processes: SIGKILL mid-job and mid-stream, and a PostgreSQL restart under load.

- A job worker SIGKILLed while its job provably runs: another worker re-runs the job after its
  lease, the job ends SUCCEEDED, its hold is captured exactly once and its history row ends
  terminal; the sweeper leaves the job's hold alone although the process that queued it is dead.
- A web server SIGKILLed while a streamed answer is on the wire: once started again, its
  sweeper releases the dead process's hold exactly once and ends the request's history row
  ``failed``; a request that had got its complete 200 keeps its history row; a stream in
  flight on the new server is never touched.
- A web worker process SIGKILLed mid-stream (a crash in native code, the OOM killer): granian
  starts a new one on the same port at once, and its sweeper releases the dead one's hold once.
  The console's worker (``amphion serve``) is replaced the same way.
- PostgreSQL "restarts" (a TCP proxy drops every connection and refuses new ones, the shared
  server itself is never touched) while clients keep calling: every answer is a 200 or a 503
  in the dialect's envelope with ``Retry-After``, none hangs, and the same server process
  answers 200 again once the database is back.

Heartbeats and leases are shortened through the environment so each test takes seconds; every
wait is on an observable event, with a generous deadline only as a hang guard.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import col

from api.billing import ledger, sweeper
from api.billing.models import HOLD_CAPTURED, HOLD_HELD, HOLD_RELEASED, Hold, LedgerEntry
from api.billing.sweeper import HoldOwner, ProcessInstance
from api.db import Database
from api.history import service as history
from api.history.models import HistoryRecord
from api.jobs import service as jobs
from api.jobs.models import RUNNING, SUCCEEDED, Job
from api.settings import Settings
from console.local_server import local_console, log_tail
from tests.conftest import TEST_DATABASE_URL, TEST_SECRET
from tests.helpers import wait_until
from tests.ops.fault_handlers import GATED
from tests.ops.tcp_proxy import TcpProxy
from tests.ops.test_graceful_shutdown import (
    LONG_STREAM,
    free_port,
    http_status,
    new_user_and_key,
    process_env,
)
from tests.scaleout.cluster import child_processes

HOLD_MICROS = 3_000_000
CHARGE_MICROS = 1_111_111
PATIENCE = 60.0  # a hang guard, never a timing assertion


def fault_env(database: Database, settings: Settings, **extra: str) -> dict[str, str]:
    env = process_env(database, settings)
    env.update(
        AMPHION_JOB_HANDLER_MODULES='["tests.ops.fault_handlers"]',
        AMPHION_JOB_LEASE_SECONDS="2",
        AMPHION_INSTANCE_HEARTBEAT_SECONDS="0.2",
        AMPHION_INSTANCE_STALE_SECONDS="1.5",
        **extra,
    )
    return env


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its children (granian's workers): a crash, no clean-up at all."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=PATIENCE)


def ledger_kinds(database: Database, hold_id: int) -> list[str]:
    with database.read() as session:
        return sorted(
            session.execute(
                select(LedgerEntry.kind).where(col(LedgerEntry.hold_id) == hold_id)
            ).scalars()
        )


def hold_row(database: Database, hold_id: int) -> Hold:
    with database.read() as session:
        hold = session.get(Hold, hold_id)
        assert hold is not None
        return hold


def user_holds(database: Database, user_id: int) -> list[Hold]:
    with database.read() as session:
        return list(
            session.execute(
                select(Hold).where(col(Hold.user_id) == user_id).order_by(col(Hold.id))
            ).scalars()
        )


def history_rows(database: Database, user_id: int) -> list[HistoryRecord]:
    with database.read() as session:
        return list(
            session.execute(
                select(HistoryRecord)
                .where(col(HistoryRecord.user_id) == user_id)
                .order_by(col(HistoryRecord.id))
            ).scalars()
        )


def assert_reconciled(database: Database) -> None:
    with database.read() as session:
        assert ledger.unreconciled_users(session) == []


# --- SIGKILL a job worker mid-job -------------------------------------------------------------


def queue_gated_job(database: Database, user_id: int, markers: Path) -> tuple[str, int, int]:
    """Hold, pending history row and job, as ``Charge.queue_job`` does; (job, hold, row)."""
    with database.write() as session:
        hold = ledger.hold(
            session, user_id, HOLD_MICROS, idempotency_key="asr:req-gated-1", purpose="asr"
        )
        row = history.record(
            session, user_id=user_id, type="asr", status="pending", request_id="req-gated-1"
        )
        job = jobs.submit_job(
            session,
            user_id=user_id,
            kind=GATED,
            payload={
                "marker_dir": str(markers),
                "charge_micros": CHARGE_MICROS,
                "record_id": row.id,
            },
            hold_id=hold.id,
        )
        row.job_id = job.id
        session.add(row)
        assert hold.id is not None and row.id is not None
        return job.id, hold.id, row.id


def test_a_job_worker_killed_mid_job_its_job_is_rerun_and_charged_once(
    fault_db: Database,
    settings: Settings,
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    user_id, _key = new_user_and_key(fault_db, settings, settings.secret_key)
    markers = tmp_path / "markers"
    job_id, hold_id, record_id = queue_gated_job(fault_db, user_id, markers)
    # The web process that queued it died too: the sweeper must still leave a job's hold alone.
    with fault_db.write() as session:
        sweeper.beat(session, "web-that-died")
        owner = session.get(HoldOwner, hold_id)
        assert owner is not None
        owner.instance_id = "web-that-died"
        session.add(owner)
        dead = session.get(ProcessInstance, "web-that-died")
        assert dead is not None
        dead.beat_at -= 3600
        session.add(dead)

    env = fault_env(fault_db, settings)
    first = spawn("worker-1", env, "worker")
    wait_until(lambda: (markers / "attempt-1").exists(), PATIENCE, "the first worker's claim")
    kill_group(first)
    with fault_db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and (job.status, job.attempts) == (RUNNING, 1)
    assert hold_row(fault_db, hold_id).status == HOLD_HELD

    # The web process that queued the job is dead, but a job's hold is the job's to settle.
    with fault_db.write() as session:
        assert sweeper.sweep(session, stale_seconds=1.5) == []
    assert hold_row(fault_db, hold_id).status == HOLD_HELD

    second = spawn("worker-2", env, "worker")

    def finished() -> bool:
        with fault_db.read() as session:
            job = session.get(Job, job_id)
            return job is not None and job.status == SUCCEEDED

    wait_until(finished, PATIENCE, "the re-run\n" + log_tail(tmp_path / "worker-2.log"))
    kill_group(second)

    assert (markers / "attempt-2").exists()
    hold = hold_row(fault_db, hold_id)
    assert (hold.status, hold.captured_micros) == (HOLD_CAPTURED, CHARGE_MICROS)
    assert ledger_kinds(fault_db, hold_id) == ["capture", "hold"]
    rows = history_rows(fault_db, user_id)
    assert [(row.id, row.status, row.cost_micros) for row in rows] == [
        (record_id, "succeeded", CHARGE_MICROS)
    ]
    assert_reconciled(fault_db)


# --- SIGKILL a web server mid-stream ----------------------------------------------------------


def start_api(
    spawn: Callable[..., subprocess.Popen[bytes]], name: str, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = spawn(name, env, "serve", "--api-only", "--host", "127.0.0.1", "--port", str(port))
    base_url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http_status(base_url + "/api/health") == 200 or server.poll() is not None,
        PATIENCE,
        f"the API ({name})",
    )
    assert server.poll() is None, log_tail(log)
    return server, base_url


def speak(base_url: str, api_key: str, text: str) -> httpx.Response:
    return httpx.post(
        base_url + "/v1/audio/speech",
        json={"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=PATIENCE,
    )


class Streamer:
    """A streamed TTS answer read slowly in a thread; ``abort`` hangs up mid-way."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url, self.api_key = base_url, api_key
        self.received = 0
        self.status = 0
        self.request_id = ""
        self.error = ""
        self.first_bytes = threading.Event()
        self.abort = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> Streamer:
        self._thread.start()
        return self

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            with httpx.stream(
                "POST",
                self.base_url + "/v1/audio/speech",
                json=LONG_STREAM,
                headers=headers,
                timeout=60,
            ) as response:
                self.status = response.status_code
                self.request_id = response.headers.get("x-request-id", "")
                for chunk in response.iter_raw(8192):
                    self.received += len(chunk)
                    self.first_bytes.set()
                    if self.abort.wait(0.05):
                        return
        except httpx.HTTPError as error:
            self.error = repr(error)
        finally:
            self.first_bytes.set()

    def wait_for_audio(self) -> None:
        assert self.first_bytes.wait(PATIENCE), "no audio"
        assert self.status == 200 and self.received > 0, self.error

    def join(self) -> None:
        self._thread.join(PATIENCE)
        assert not self._thread.is_alive(), "the client still reads"


def owned_and_registered(database: Database, hold_id: int) -> bool:
    """The hold's owner is known and has beaten: the server's death is now detectable."""
    with database.read() as session:
        owner = session.get(HoldOwner, hold_id)
        return owner is not None and session.get(ProcessInstance, owner.instance_id) is not None


def held_holds(database: Database, user_id: int) -> list[Hold]:
    return [hold for hold in user_holds(database, user_id) if hold.status == HOLD_HELD]


def stream_on_record(
    database: Database, user_id: int, base_url: str, api_key: str
) -> tuple[Streamer, Hold]:
    """A streamed answer on the wire, its hold taken and its owner known to have beaten: from
    here on a death of the serving process is detectable by the sweeper."""
    reader = Streamer(base_url, api_key).start()
    reader.wait_for_audio()
    wait_until(lambda: len(held_holds(database, user_id)) == 1, PATIENCE, "the stream's hold")
    [stream_hold] = held_holds(database, user_id)
    assert stream_hold.id is not None
    wait_until(
        lambda: owned_and_registered(database, stream_hold.id or 0),
        PATIENCE,
        "the serving process's heartbeat",
    )
    return reader, stream_hold


def wait_released_once(database: Database, hold: Hold, log: Path) -> None:
    """The sweeper of a live server (``log``) releases ``hold``: one release, nothing else."""
    wait_until(
        lambda: hold_row(database, hold.id or 0).status != HOLD_HELD,
        PATIENCE,
        "the sweeper\n" + log_tail(log),
    )
    assert hold.id is not None
    assert hold_row(database, hold.id).status == HOLD_RELEASED
    assert ledger_kinds(database, hold.id) == ["hold", "release"]


def assert_swept(by_request: dict[str, HistoryRecord], hold: Hold) -> None:
    """The history row of the request whose hold the sweeper released: failed, free."""
    swept = by_request[hold.idempotency_key.split(":")[1]]
    assert (swept.status, swept.error, swept.cost_micros) == ("failed", sweeper.SWEPT_ERROR, 0)


def test_a_web_server_killed_mid_stream_its_hold_is_released_once_on_restart(
    fault_db: Database,
    settings: Settings,
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    user_id, api_key = new_user_and_key(fault_db, settings, settings.secret_key)
    env = fault_env(fault_db, settings)
    first, base_url = start_api(spawn, "api-1", env, tmp_path / "api-1.log")

    complete = speak(base_url, api_key, "A whole answer before the crash.")
    assert complete.status_code == 200 and complete.content[:4] == b"RIFF"
    complete_id = complete.headers["x-request-id"]

    reader, stream_hold = stream_on_record(fault_db, user_id, base_url, api_key)
    kill_group(first)
    reader.join()  # the connection broke off
    assert hold_row(fault_db, stream_hold.id).status == HOLD_HELD  # nobody is left to settle it

    second, base_url = start_api(spawn, "api-2", env, tmp_path / "api-2.log")
    # A stream in flight on the new server while it sweeps: its hold must stay untouched.
    live = Streamer(base_url, api_key).start()
    live.wait_for_audio()
    wait_released_once(fault_db, stream_hold, tmp_path / "api-2.log")
    [live_hold] = held_holds(fault_db, user_id)
    assert live_hold.id is not None and live_hold.id != stream_hold.id
    live.abort.set()  # the caller hangs up: the live server itself releases its hold
    live.join()
    wait_until(
        lambda: hold_row(fault_db, live_hold.id or 0).status != HOLD_HELD,
        PATIENCE,
        "the live stream's release",
    )
    kill_group(second)
    assert ledger_kinds(fault_db, live_hold.id) == ["hold", "release"]

    # Once more, nothing left to sweep: released exactly once.
    with fault_db.write() as session:
        assert sweeper.sweep(session, stale_seconds=0.0) == []
    assert ledger_kinds(fault_db, stream_hold.id) == ["hold", "release"]

    by_request = {row.request_id: row for row in history_rows(fault_db, user_id)}
    assert by_request[complete_id].status == "succeeded"  # the complete 200 kept its row
    assert_swept(by_request, stream_hold)
    assert by_request[live.request_id].status == "cancelled"
    assert len(by_request) == 3
    assert_reconciled(fault_db)


def test_a_crashed_web_worker_is_replaced_and_its_stream_hold_released_once(
    fault_db: Database,
    settings: Settings,
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """``amphion serve --api-only`` outlives a crash of its worker process: granian starts a
    new one on the same port, with no operator in the loop, and the new worker's sweeper
    releases the dead one's stream hold once."""
    user_id, api_key = new_user_and_key(fault_db, settings, settings.secret_key)
    server, base_url = start_api(spawn, "api", fault_env(fault_db, settings), tmp_path / "api.log")
    reader, stream_hold = stream_on_record(fault_db, user_id, base_url, api_key)
    [(crashed, _command)] = child_processes(server.pid)  # granian's one worker
    os.kill(crashed, signal.SIGKILL)
    reader.join()  # the connection broke off

    def replaced() -> bool:
        workers = [pid for pid, _command in child_processes(server.pid)]
        return (
            bool(workers)
            and crashed not in workers
            and http_status(base_url + "/api/health") == 200
        )

    wait_until(replaced, PATIENCE, "a new worker\n" + log_tail(tmp_path / "api.log"))
    assert server.poll() is None  # the same server process, never restarted
    after = speak(base_url, api_key, "Served by the new worker.")
    assert after.status_code == 200 and after.content[:4] == b"RIFF"
    wait_released_once(fault_db, stream_hold, tmp_path / "api.log")
    by_request = {row.request_id: row for row in history_rows(fault_db, user_id)}
    assert by_request[after.headers["x-request-id"]].status == "succeeded"
    assert_swept(by_request, stream_hold)
    assert len(by_request) == 2
    kill_group(server)
    assert_reconciled(fault_db)


def test_a_crashed_console_worker_is_replaced(tmp_path: Path) -> None:
    """``amphion serve`` (the console) outlives a crash of its web worker as the API-only server
    does: Reflex builds its own granian server, and ``console.reflex_server`` gives it the
    respawn (without it granian's supervisor stops the whole console when a worker dies)."""
    env = {"AMPHION_SECRET_KEY": TEST_SECRET, "AMPHION_INSTANCE_HEARTBEAT_SECONDS": "0.2"}
    with local_console(tmp_path, env) as console:
        [(reflex, command)] = child_processes(console.pid)
        assert "console.reflex_server" in command
        [(crashed, _command)] = child_processes(reflex)  # granian's one worker
        os.kill(crashed, signal.SIGKILL)

        def replaced() -> bool:
            workers = [pid for pid, _command in child_processes(reflex)]
            return (
                bool(workers)
                and crashed not in workers
                and http_status(console.url("/api/health")) == 200
            )

        wait_until(replaced, PATIENCE, "a new worker\n" + log_tail(console.log))
        assert console.poll() is None  # the same console, never restarted
        assert http_status(console.url("/signin")) == 200  # the pages too
        settings = Settings(
            environment="test",
            secret_key=TEST_SECRET,
            data_dir=console.data_dir,
            database_url=console.database_url,
        )
        database = Database(console.database_url)
        try:
            user_id, api_key = new_user_and_key(database, settings, TEST_SECRET)
            after = speak(console.base_url, api_key, "Served by the new worker.")
            assert after.status_code == 200 and after.content[:4] == b"RIFF"
            assert [row.status for row in history_rows(database, user_id)] == ["succeeded"]
        finally:
            database.dispose()


# --- PostgreSQL restart under load ------------------------------------------------------------


@dataclass
class Load:
    """Clients calling the API in a loop from threads, counting what they get."""

    base_url: str
    api_key: str
    statuses: Counter[int] = field(default_factory=Counter)
    by_call: Counter[tuple[str, int]] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    last_ok: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int = 4) -> Load:
        calls: list[Callable[[httpx.Client], None]] = [
            self._speech,
            self._history,
            self._speech,
            self._models,
        ]
        for n in range(clients):
            thread = threading.Thread(target=self._run, args=(calls[n % len(calls)],), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, call: Callable[[httpx.Client], None]) -> None:
        with httpx.Client(timeout=30) as client:  # a hang shows up as a timeout, i.e. as bad
            while not self.stop.is_set():
                try:
                    call(client)
                except httpx.HTTPError as error:
                    self._note(0, call.__name__, f"{error!r}")

    def _note(self, status: int, call: str, problem: str = "") -> None:
        with self._lock:
            self.statuses[status] += 1
            self.by_call[call, status] += 1
            if problem:
                self.bad.append(problem)
            if status == 200:
                self.last_ok = time.monotonic()

    def _check(self, response: httpx.Response, envelope: Callable[[dict], bool]) -> None:
        status, path = response.status_code, response.request.url.path
        if status == 200:
            self._note(200, path)
        elif status == 503 and response.headers.get("retry-after") and envelope(response.json()):
            self._note(503, path)
        else:
            self._note(status, path, f"{path}: {status} {response.text[:300]}")

    def _speech(self, client: httpx.Client) -> None:
        response = client.post(
            self.base_url + "/v1/audio/speech",
            json={"model": "tts-1", "input": "Still here?", "voice": "alloy"},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        self._check(response, lambda body: body["error"]["type"] == "server_error")

    def _models(self, client: httpx.Client) -> None:
        response = client.get(
            self.base_url + "/v1/models", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        self._check(response, lambda body: body["error"]["type"] == "server_error")

    def _history(self, client: httpx.Client) -> None:
        response = client.get(
            self.base_url + "/api/audio/history",
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        self._check(response, lambda body: body["code"] == 503 and body["data"] is None)

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(PATIENCE)
            assert not thread.is_alive(), "a client hung"

    def count(self, status: int, path: str = "") -> int:
        with self._lock:
            if path:
                return self.by_call[path, status]
            return self.statuses[status]


PATHS = ("/v1/audio/speech", "/api/audio/history", "/v1/models")


def postgres_restart_under_load(
    private_postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    database = Database(private_postgres_url)
    proxy: TcpProxy | None = None
    try:
        user_id, api_key = new_user_and_key(database, settings, settings.secret_key)
        url = make_url(private_postgres_url)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = fault_env(database, settings, AMPHION_DATABASE_URL=proxied)
        server, base_url = start_api(spawn, "api", env, tmp_path / "api.log")

        load = Load(base_url, api_key).start()
        wait_until(lambda: load.count(200) >= 6, PATIENCE, "answers before the outage")
        proxy.outage()
        wait_until(
            lambda: all(load.count(503, path) >= 2 for path in PATHS), PATIENCE, "503s on all"
        )
        served_before = {path: load.count(200, path) for path in PATHS}
        proxy.restore()
        wait_until(
            lambda: all(load.count(200, path) > served_before[path] for path in PATHS),
            PATIENCE,
            "recovery on every path",
        )
        load.join()

        assert server.poll() is None, "the server died\n" + log_tail(tmp_path / "api.log")
        assert load.bad == [], load.bad[:5]
        assert set(load.statuses) <= {200, 503}, load.statuses
        # Money stays consistent; a hold whose request failed mid-way is settled or still held
        # by this live server (never swept while it lives), but never half-settled.
        assert_reconciled(database)
        for hold in user_holds(database, user_id):
            assert hold.id is not None
            kinds = ledger_kinds(database, hold.id)
            expected = ["hold"] if hold.status == HOLD_HELD else ["hold", hold.status[:-1]]
            assert kinds == sorted(expected), (hold.status, kinds)
        kill_group(server)
    finally:
        if proxy is not None:
            proxy.stop()
        database.dispose()


if TEST_DATABASE_URL:  # the outage is played between a server and PostgreSQL
    test_a_postgres_restart_under_load_gives_clean_503s_and_recovers_in_process = (
        postgres_restart_under_load
    )
