"""The in-process worker: runs handlers, keeps leases alive, turns failures into safe errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from api.accounts.models import User
from api.billing.models import HOLD_CAPTURED, HOLD_RELEASED
from api.db import Database
from api.errors import UpstreamError
from api.jobs import handlers, service
from api.jobs.handlers import JobContext, JobOutcome, register_handler
from api.jobs.models import FAILED, SUCCEEDED
from api.jobs.worker import GENERIC_FAILURE, SETTLEMENT_FAILURE, Worker
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

MakeUser = Callable[[Database], User]


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"job_lease_seconds": 1, "job_poll_seconds": 0.05})


def _submit(
    database: Database, user: User, kind: str, *, hold: int | None = None, payload=None
) -> tuple[str, int | None]:
    assert user.id is not None
    hold_id = place_hold(database, user.id, hold, f"hold-{kind}-{time.time_ns()}") if hold else None
    with database.write() as session:
        job = service.submit_job(
            session, user_id=user.id, kind=kind, payload=payload or {}, hold_id=hold_id
        )
        return job.id, hold_id


@pytest.mark.usefixtures("scratch_handlers")
def test_run_once_runs_handler_and_captures_charge(
    any_db: Database, make_user: MakeUser, fast_settings: Settings
) -> None:
    seen: list[JobContext] = []

    def transcribe(ctx: JobContext) -> JobOutcome:
        seen.append(ctx)
        assert ctx.heartbeat() is True  # still ours
        return JobOutcome(result={"text": "hello", "n": ctx.payload["n"]}, charge_micros=42_000)

    register_handler("test.transcribe", transcribe)
    user = make_user(any_db)
    assert user.id is not None
    job_id, hold_id = _submit(any_db, user, "test.transcribe", hold=100_000, payload={"n": 7})
    assert hold_id is not None

    worker = Worker(any_db, fast_settings, worker_id="w-1")
    assert worker.run_once() is True
    assert worker.run_once() is False  # queue empty

    [ctx] = seen
    assert (ctx.job_id, ctx.user_id, ctx.attempt, ctx.hold_id) == (job_id, user.id, 1, hold_id)
    job = job_row(any_db, job_id)
    assert job.status == SUCCEEDED and job.result == {"text": "hello", "n": 7}
    assert hold_row(any_db, hold_id).status == HOLD_CAPTURED
    assert hold_entries(any_db, hold_id) == ["hold", "capture"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT - 42_000
    assert_reconciled(any_db)


@pytest.mark.usefixtures("scratch_handlers")
@pytest.mark.parametrize(
    ("raised", "stored"),
    [
        (RuntimeError("boom at /srv/secret/path.py with token sk-abc"), GENERIC_FAILURE),
        (UpstreamError("The speech provider is unavailable"), "The speech provider is unavailable"),
    ],
)
def test_handler_errors_fail_the_job_with_a_safe_message(
    db: Database, make_user: MakeUser, fast_settings: Settings, raised: Exception, stored: str
) -> None:
    def explode(ctx: JobContext) -> JobOutcome:
        raise raised

    register_handler("test.explode", explode)
    user = make_user(db)
    assert user.id is not None
    job_id, hold_id = _submit(db, user, "test.explode", hold=50_000)
    assert hold_id is not None

    assert Worker(db, fast_settings).run_once() is True

    job = job_row(db, job_id)
    assert job.status == FAILED and job.error == stored
    assert "Traceback" not in (job.error or "")
    assert hold_row(db, hold_id).status == HOLD_RELEASED
    assert balance(db, user.id) == SIGNUP_CREDIT
    assert_reconciled(db)


def test_unknown_kind_fails_and_releases(
    db: Database, make_user: MakeUser, fast_settings: Settings
) -> None:
    user = make_user(db)
    assert user.id is not None
    job_id, hold_id = _submit(db, user, "test.nobody-handles-this", hold=10_000)
    assert hold_id is not None

    assert Worker(db, fast_settings).run_once() is True

    job = job_row(db, job_id)
    assert job.status == FAILED
    assert job.error is not None and "Unknown job kind 'test.nobody-handles-this'" in job.error
    assert hold_entries(db, hold_id) == ["hold", "release"]
    assert balance(db, user.id) == SIGNUP_CREDIT


@pytest.mark.usefixtures("scratch_handlers")
def test_charge_above_hold_fails_the_job_and_releases(
    db: Database, make_user: MakeUser, fast_settings: Settings
) -> None:
    register_handler("test.greedy", lambda ctx: JobOutcome(result={}, charge_micros=10**9))
    user = make_user(db)
    assert user.id is not None
    job_id, hold_id = _submit(db, user, "test.greedy", hold=1_000)
    assert hold_id is not None

    assert Worker(db, fast_settings).run_once() is True

    job = job_row(db, job_id)
    assert job.status == FAILED and job.error == SETTLEMENT_FAILURE
    assert hold_entries(db, hold_id) == ["hold", "release"]
    assert_reconciled(db)


@pytest.mark.usefixtures("scratch_handlers")
def test_heartbeat_keeps_a_long_job_from_being_taken(
    any_db: Database, make_user: MakeUser, fast_settings: Settings
) -> None:
    """A handler running 2.5 leases long keeps its job: rivals find nothing to claim."""
    started = threading.Event()

    def slow(ctx: JobContext) -> JobOutcome:
        started.set()
        time.sleep(2.5 * fast_settings.job_lease_seconds)
        return JobOutcome(result={"lease_lost": ctx.lease_lost.is_set()})

    register_handler("test.slow", slow)
    user = make_user(any_db)
    job_id, _ = _submit(any_db, user, "test.slow")

    runner = threading.Thread(target=Worker(any_db, fast_settings, worker_id="w-slow").run_once)
    runner.start()
    try:
        assert started.wait(timeout=10)
        rival_claims = []
        deadline = time.monotonic() + 2 * fast_settings.job_lease_seconds
        while time.monotonic() < deadline:
            with any_db.write() as session:
                rival_claims.append(
                    service.claim_next(
                        session,
                        worker_id="rival",
                        lease_seconds=fast_settings.job_lease_seconds,
                        dialect=any_db.dialect,
                    )
                )
            time.sleep(0.1)
        assert not any(rival_claims)
    finally:
        runner.join(timeout=15)
    assert not runner.is_alive()
    job = job_row(any_db, job_id)
    assert job.status == SUCCEEDED and job.attempts == 1
    assert job.result == {"lease_lost": False}


@pytest.mark.usefixtures("scratch_handlers")
def test_in_process_worker_thread_runs_jobs_and_stops(
    db: Database, make_user: MakeUser, fast_settings: Settings
) -> None:
    register_handler("test.double", lambda ctx: JobOutcome(result={"x": ctx.payload["x"] * 2}))
    user = make_user(db)
    job_ids = [_submit(db, user, "test.double", payload={"x": x})[0] for x in range(3)]

    handle = Worker(db, fast_settings).start_in_thread()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(job_row(db, job_id).status == SUCCEEDED for job_id in job_ids):
                break
            time.sleep(0.05)
    finally:
        assert handle.stop(timeout=5)
    assert [job_row(db, job_id).result for job_id in job_ids] == [{"x": 0}, {"x": 2}, {"x": 4}]


def test_worker_imports_configured_handler_modules(fast_settings: Settings, db: Database) -> None:
    configured = fast_settings.model_copy(
        update={"job_handler_modules": ["tests.jobs.sample_handlers"]}
    )
    Worker(db, configured)
    assert "test.crashable" in handlers.registered_kinds()


@pytest.mark.usefixtures("scratch_handlers")
def test_registry_refuses_a_second_handler_for_a_kind() -> None:
    def first(ctx: JobContext) -> JobOutcome:
        return JobOutcome(result={})

    def second(ctx: JobContext) -> JobOutcome:
        return JobOutcome(result={})

    handlers.register("test.once")(first)
    handlers.register("test.once")(first)  # re-import of the same module: fine
    with pytest.raises(ValueError):
        handlers.register_handler("test.once", second)
    assert handlers.get_handler("test.once") is first
    with pytest.raises(handlers.UnknownJobKindError):
        handlers.get_handler("test.missing")
