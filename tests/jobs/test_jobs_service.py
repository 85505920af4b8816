"""The job service on SQLite and PostgreSQL: submit, claim, lease, finish, reap, ownership."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from api.accounts.models import User
from api.billing.models import HOLD_CAPTURED, HOLD_HELD, HOLD_RELEASED
from api.db import Database, utcnow
from api.errors import NotFoundError
from api.jobs import service
from api.jobs.models import FAILED, PENDING, RUNNING, SUCCEEDED
from tests.jobs.helpers import (
    SIGNUP_CREDIT,
    assert_reconciled,
    balance,
    hold_entries,
    hold_row,
    job_row,
    place_hold,
)

LEASE = 30
WORKER_A = "worker-a"
WORKER_B = "worker-b"

MakeUser = Callable[[Database], User]


def _submit(database: Database, user: User, *, hold_id: int | None = None, **kwargs) -> str:
    assert user.id is not None
    with database.write() as session:
        job = service.submit_job(
            session, user_id=user.id, kind="test.kind", payload={"n": 1}, hold_id=hold_id, **kwargs
        )
        return job.id


def _claim(database: Database, worker_id: str, *, now=None):
    with database.write() as session:
        return service.claim_next(
            session,
            worker_id=worker_id,
            lease_seconds=LEASE,
            dialect=database.dialect,
            now=now,
        )


def test_submit_creates_pending_job(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    job_id = _submit(any_db, user)
    job = job_row(any_db, job_id)
    assert job.status == PENDING
    assert job.attempts == 0
    assert job.max_attempts == service.DEFAULT_MAX_ATTEMPTS
    assert job.payload == {"n": 1}
    assert len(job_id) == 36


def test_submit_refuses_someone_elses_hold(any_db: Database, make_user: MakeUser) -> None:
    owner, other = make_user(any_db), make_user(any_db)
    assert owner.id is not None
    hold_id = place_hold(any_db, owner.id, 1_000, "h-owner")
    with pytest.raises(ValueError):
        _submit(any_db, other, hold_id=hold_id)


def test_claim_succeed_captures_hold_once(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 5_000_000, "h1")
    job_id = _submit(any_db, user, hold_id=hold_id)

    claimed = _claim(any_db, WORKER_A)
    assert claimed is not None and claimed.id == job_id
    assert claimed.status == RUNNING
    assert claimed.attempts == 1
    assert claimed.lease_owner == WORKER_A
    assert claimed.started_at is not None
    assert _claim(any_db, WORKER_B) is None  # nothing else runnable

    for expected in (True, False):  # the replay is refused and changes nothing
        with any_db.write() as session:
            finished = service.finish_success(
                session,
                job_id=job_id,
                worker_id=WORKER_A,
                attempt=1,
                result={"ok": True},
                charge_micros=1_250_000,
            )
        assert finished is expected

    job = job_row(any_db, job_id)
    assert job.status == SUCCEEDED
    assert job.result == {"ok": True}
    assert job.finished_at is not None
    held = hold_row(any_db, hold_id)
    assert held.status == HOLD_CAPTURED and held.captured_micros == 1_250_000
    assert hold_entries(any_db, hold_id) == ["hold", "capture"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT - 1_250_000
    assert_reconciled(any_db)


def test_success_without_charge_captures_whole_hold(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 700_000, "h-full")
    job_id = _submit(any_db, user, hold_id=hold_id)
    assert _claim(any_db, WORKER_A) is not None
    with any_db.write() as session:
        assert service.finish_success(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, result={}
        )
    assert hold_row(any_db, hold_id).captured_micros == 700_000
    assert balance(any_db, user.id) == SIGNUP_CREDIT - 700_000


def test_charge_above_hold_changes_nothing(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 1_000, "h-small")
    job_id = _submit(any_db, user, hold_id=hold_id)
    assert _claim(any_db, WORKER_A) is not None
    with pytest.raises(ValueError), any_db.write() as session:
        service.finish_success(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, result={}, charge_micros=2_000
        )
    assert job_row(any_db, job_id).status == RUNNING  # the status flip was rolled back
    assert hold_row(any_db, hold_id).status == HOLD_HELD


def test_failure_releases_hold(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 3_000_000, "h2")
    job_id = _submit(any_db, user, hold_id=hold_id)
    assert _claim(any_db, WORKER_A) is not None
    assert balance(any_db, user.id) == SIGNUP_CREDIT - 3_000_000

    with any_db.write() as session:
        assert service.finish_failure(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, error="The audio was empty"
        )
    with any_db.write() as session:
        assert not service.finish_failure(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, error="again"
        )

    job = job_row(any_db, job_id)
    assert job.status == FAILED and job.error == "The audio was empty"
    assert hold_row(any_db, hold_id).status == HOLD_RELEASED
    assert hold_entries(any_db, hold_id) == ["hold", "release"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT
    assert_reconciled(any_db)


def test_lost_lease_is_reclaimed_and_old_worker_cannot_finish(
    any_db: Database, make_user: MakeUser
) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 2_000_000, "h3")
    job_id = _submit(any_db, user, hold_id=hold_id)
    start = utcnow()

    first = _claim(any_db, WORKER_A, now=start)
    assert first is not None and first.attempts == 1
    # Within the lease nobody else may take it.
    assert _claim(any_db, WORKER_B, now=start + timedelta(seconds=LEASE - 1)) is None

    later = start + timedelta(seconds=LEASE + 1)
    second = _claim(any_db, WORKER_B, now=later)
    assert second is not None and second.id == job_id
    assert second.attempts == 2 and second.lease_owner == WORKER_B

    with any_db.write() as session:
        assert not service.heartbeat(
            session, job_id=job_id, worker_id=WORKER_A, lease_seconds=LEASE
        )
        assert not service.finish_success(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, result={"from": "a"}
        )
        assert not service.finish_failure(
            session, job_id=job_id, worker_id=WORKER_A, attempt=1, error="a gave up"
        )
    assert hold_row(any_db, hold_id).status == HOLD_HELD

    with any_db.write() as session:
        assert service.heartbeat(session, job_id=job_id, worker_id=WORKER_B, lease_seconds=LEASE)
        assert service.finish_success(
            session,
            job_id=job_id,
            worker_id=WORKER_B,
            attempt=2,
            result={"from": "b"},
            charge_micros=500_000,
        )
    job = job_row(any_db, job_id)
    assert job.status == SUCCEEDED and job.result == {"from": "b"} and job.attempts == 2
    assert hold_entries(any_db, hold_id) == ["hold", "capture"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT - 500_000
    assert_reconciled(any_db)


def test_heartbeat_keeps_the_lease(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    _submit(any_db, user)
    start = utcnow()
    claimed = _claim(any_db, WORKER_A, now=start)
    assert claimed is not None
    renewed_at = start + timedelta(seconds=LEASE - 5)
    with any_db.write() as session:
        assert service.heartbeat(
            session,
            job_id=claimed.id,
            worker_id=WORKER_A,
            lease_seconds=LEASE,
            attempt=1,
            now=renewed_at,
        )
    # Past the first lease but within the renewed one: still A's.
    assert _claim(any_db, WORKER_B, now=start + timedelta(seconds=LEASE + 1)) is None
    assert _claim(any_db, WORKER_B, now=renewed_at + timedelta(seconds=LEASE + 1)) is not None


def test_exhausted_attempts_end_failed_with_release(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    assert user.id is not None
    hold_id = place_hold(any_db, user.id, 4_000_000, "h4")
    job_id = _submit(any_db, user, hold_id=hold_id, max_attempts=2)
    start = utcnow()

    assert _claim(any_db, WORKER_A, now=start) is not None
    assert _claim(any_db, WORKER_B, now=start + timedelta(seconds=LEASE + 1)) is not None
    after_last_lease = start + timedelta(seconds=2 * LEASE + 2)
    # The second worker died too: no third run, the job is reaped instead.
    assert _claim(any_db, "worker-c", now=after_last_lease) is None
    assert service.has_due_work(any_db, now=after_last_lease)

    with any_db.write() as session:
        assert service.reap_exhausted(session, now=after_last_lease) == [job_id]
    with any_db.write() as session:
        assert service.reap_exhausted(session, now=after_last_lease) == []
        assert not service.finish_success(
            session, job_id=job_id, worker_id=WORKER_B, attempt=2, result={}
        )

    job = job_row(any_db, job_id)
    assert job.status == FAILED and job.attempts == 2
    assert job.error is not None and "worker lost" in job.error
    assert hold_entries(any_db, hold_id) == ["hold", "release"]
    assert balance(any_db, user.id) == SIGNUP_CREDIT
    assert_reconciled(any_db)


def test_reap_leaves_live_and_retryable_jobs_alone(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    job_id = _submit(any_db, user, max_attempts=2)
    start = utcnow()
    assert _claim(any_db, WORKER_A, now=start) is not None
    with any_db.write() as session:
        # Lease expired but one attempt is left: that is a retry, not a reap.
        assert service.reap_exhausted(session, now=start + timedelta(seconds=LEASE + 1)) == []
    assert job_row(any_db, job_id).status == RUNNING


def test_claims_oldest_due_job_first(any_db: Database, make_user: MakeUser) -> None:
    user = make_user(any_db)
    later = _submit(any_db, user, run_after=utcnow() + timedelta(hours=1))
    first = _submit(any_db, user)
    second = _submit(any_db, user)
    claimed = [_claim(any_db, WORKER_A) for _ in range(3)]
    assert [job.id if job else None for job in claimed] == [first, second, None]
    assert job_row(any_db, later).status == PENDING


def test_someone_elses_job_is_not_found(any_db: Database, make_user: MakeUser) -> None:
    alice, bob = make_user(any_db), make_user(any_db)
    assert alice.id is not None and bob.id is not None
    job_id = _submit(any_db, alice)
    with any_db.read() as session:
        assert service.get_owned_job(session, user_id=alice.id, job_id=job_id).id == job_id
        for user_id, wanted in ((bob.id, job_id), (alice.id, "no-such-job")):
            with pytest.raises(NotFoundError) as caught:
                service.get_owned_job(session, user_id=user_id, job_id=wanted)
            assert caught.value.code == "TASK_NOT_FOUND"
            assert caught.value.message == "Task not found"


def test_list_jobs_pages_own_jobs_newest_first(any_db: Database, make_user: MakeUser) -> None:
    alice, bob = make_user(any_db), make_user(any_db)
    assert alice.id is not None and bob.id is not None
    ids = [_submit(any_db, alice) for _ in range(3)]
    _submit(any_db, bob)
    with any_db.read() as session:
        page, total = service.list_jobs(session, user_id=alice.id, offset=0, limit=2)
        rest, _ = service.list_jobs(session, user_id=alice.id, offset=2, limit=2)
    assert total == 3
    assert [job.id for job in page + rest] == list(reversed(ids))


def test_the_idle_poll_sees_exactly_what_claims_and_reaps_act_on(
    any_db: Database, make_user: MakeUser
) -> None:
    """``has_due_work`` (SQL on the bare driver) against ``_due`` (the ORM rule behind claims
    and reaps), at moments before, at and after each job's times."""
    from sqlalchemy import select

    from api.jobs.models import Job

    def by_the_rule(now: datetime) -> bool:
        with any_db.read() as session:
            due = select(Job.id).where(service._due(now)).limit(1)  # type: ignore[arg-type]
            return session.execute(due).first() is not None

    user = make_user(any_db)
    start = utcnow()
    moments = [start + timedelta(seconds=offset) for offset in (-1, 0, 5, 10, LEASE + 1, 100)]
    assert [service.has_due_work(any_db, now=m) for m in moments] == [False] * len(moments)

    _submit(any_db, user, run_after=start + timedelta(seconds=10))  # pending, due later
    _claim(any_db, WORKER_A, now=start + timedelta(seconds=10))  # running, lease until +10+LEASE
    _submit(any_db, user, run_after=start + timedelta(seconds=5))  # pending, due at +5
    for moment in moments:
        assert service.has_due_work(any_db, now=moment) == by_the_rule(moment), moment
    assert [service.has_due_work(any_db, now=m) for m in moments] == [
        False, False, True, True, True, True
    ]  # fmt: skip
