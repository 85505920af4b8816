"""Job queries: submit, look up, claim with a lease, heartbeat, finish, reap.

The state machine is ``PENDING → RUNNING → SUCCEEDED | FAILED``. A worker *claims* a job with
one atomic statement that flips it to RUNNING, stamps itself as ``lease_owner`` and counts the
attempt; while it runs, it renews the lease with heartbeats. If the worker dies (SIGKILL, power
loss), the lease runs out and another worker claims the job again — so handlers must be
idempotent — until ``max_attempts`` claims have been used; then :func:`reap_exhausted` ends it
FAILED ("worker lost") and gives the credit back. A worker that is told to stop (SIGTERM) and cannot
finish in time hands its job back instead (:func:`hand_back`): PENDING again, attempt not counted.

Every finishing write is guarded by ``status = RUNNING AND lease_owner = :worker AND attempts =
:attempt``: a worker that lost its lease (and whose job may already be running elsewhere) cannot
finish it. The status change and the settlement of the job's hold (capture on success, release
on failure) happen in the same transaction, so a job is charged exactly once or not at all.

On PostgreSQL the claim picks its row with ``FOR UPDATE SKIP LOCKED``, so concurrent workers
never wait for or double-claim the same job. On SQLite the write scope is already serialized
(in-process lock plus ``BEGIN IMMEDIATE`` across processes), so the same statement without the
locking clause is atomic.

Times come from the caller's clock (``utcnow()`` by default): worker hosts must keep their clocks
in sync (NTP) to well within a lease.

All functions take a Session and never commit; the caller's write scope does.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from api.billing import ledger
from api.billing.models import Hold
from api.db import Database, sqlite_time, utcnow
from api.errors import ConflictError, NotFoundError
from api.jobs.models import FAILED, PENDING, RUNNING, SUCCEEDED, Job

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
MAX_KIND_LENGTH = 32
MAX_ERROR_LENGTH = 2000
MAX_PAGE_SIZE = 100
REAP_BATCH = 100


# --- submitting and reading -------------------------------------------------------------------


def submit_job(
    session: Session,
    *,
    user_id: int,
    kind: str,
    payload: dict[str, Any],
    hold_id: int | None = None,
    max_attempts: int | None = None,
    run_after: datetime | None = None,
) -> Job:
    """Queue a PENDING job; ``hold_id`` (the user's own held credit) is settled when it ends.

    ``max_attempts`` counts claims, i.e. how many worker crashes are survived plus one;
    ``None`` means :data:`DEFAULT_MAX_ATTEMPTS` (callers usually pass
    ``settings.job_max_attempts``).
    """
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise ValueError(f"job kind must be 1–{MAX_KIND_LENGTH} characters")
    if not isinstance(payload, dict):
        raise TypeError("job payload must be a dict")
    attempts_allowed = DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts
    if attempts_allowed < 1:
        raise ValueError("max_attempts must be at least 1")
    if hold_id is not None:
        # A job settles its hold without asking who owns it, so check that here, once.
        held = session.get(Hold, hold_id)
        if held is None or held.user_id != user_id:
            raise ValueError(f"hold {hold_id} does not belong to user {user_id}")
    now = utcnow()
    job = Job(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind=kind,
        status=PENDING,
        payload=payload,
        hold_id=hold_id,
        max_attempts=attempts_allowed,
        run_after=run_after or now,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def count_active_jobs(session: Session, *, user_id: int) -> int:
    """How many of the user's jobs are queued or running."""
    statement = select(func.count()).where(
        col(Job.user_id) == user_id, col(Job.status).in_((PENDING, RUNNING))
    )
    return int(session.execute(statement).scalar_one())


def get_owned_job(session: Session, *, user_id: int, job_id: str) -> Job:
    """The user's job; someone else's id is answered exactly like a missing one (404)."""
    job = session.execute(
        select(Job).where(col(Job.id) == job_id, col(Job.user_id) == user_id)
    ).scalar_one_or_none()
    if job is None:
        raise NotFoundError("Task not found", code="TASK_NOT_FOUND")
    return job


def list_jobs(
    session: Session, *, user_id: int, offset: int = 0, limit: int = 20
) -> tuple[list[Job], int]:
    """One page of the user's jobs, newest first, and how many they have in total."""
    offset = max(0, offset)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    owned = col(Job.user_id) == user_id
    total = session.execute(select(func.count()).select_from(Job).where(owned)).scalar_one()
    rows = session.execute(
        select(Job)
        .where(owned)
        .order_by(col(Job.created_at).desc(), col(Job.id).desc())
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


# --- claiming and leases ----------------------------------------------------------------------


def _lease_expired(now: datetime) -> ColumnElement[bool]:
    return and_(col(Job.status) == RUNNING, col(Job.lease_expires_at) < now)


def _due(now: datetime) -> ColumnElement[bool]:
    """Jobs a worker should act on now: claimable ones and exhausted ones to reap."""
    return or_(and_(col(Job.status) == PENDING, col(Job.run_after) <= now), _lease_expired(now))


# ``_due`` as the idle poll asks it, on a bare driver read (``has_due_work``).
_DUE_SQL = (
    "SELECT 1 FROM jobs WHERE (status = :pending AND run_after <= :now)"
    " OR (status = :running AND lease_expires_at < :now) LIMIT 1"
)


def has_due_work(db: Database, *, now: datetime | None = None) -> bool:
    """Whether anything is waiting to be claimed or reaped (a cheap read before a write).

    Every worker asks this twice a second while idle. Written as SQL on the bare driver
    connection: the ORM statement built from ``_due`` each time, in a session, was most of an
    idle server's CPU (about 1 ms a poll). The test suite checks both agree."""
    moment = now or utcnow()
    with db.driver_read() as target:
        stamp = moment if target.is_postgres else sqlite_time(moment)
        params = {"pending": PENDING, "running": RUNNING, "now": stamp}
        return target.fetch_one(_DUE_SQL, params) is not None


def claim_next(
    session: Session,
    *,
    worker_id: str,
    lease_seconds: float,
    dialect: str,
    now: datetime | None = None,
) -> Job | None:
    """Atomically take the oldest runnable job for ``worker_id``, or None when there is none.

    Runnable means PENDING and due, or RUNNING with an expired lease (its worker died) and
    attempts left. The claim counts the attempt; the returned job's ``attempts`` is the
    ``attempt`` to pass to :func:`finish_success` / :func:`finish_failure`.
    """
    moment = now or utcnow()
    runnable = or_(
        and_(col(Job.status) == PENDING, col(Job.run_after) <= moment),
        and_(_lease_expired(moment), col(Job.attempts) < col(Job.max_attempts)),
    )
    pick = select(col(Job.id)).where(runnable).order_by(col(Job.created_at), col(Job.id)).limit(1)
    if dialect == "postgresql":
        # Concurrent claimers skip rows another transaction is claiming instead of queueing
        # behind it; the row lock re-checks the WHERE on the newest version, so no double claim.
        pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(Job)
        .where(col(Job.id) == pick.scalar_subquery())
        .values(
            status=RUNNING,
            lease_owner=worker_id,
            lease_expires_at=moment + timedelta(seconds=lease_seconds),
            heartbeat_at=moment,
            attempts=col(Job.attempts) + 1,
            started_at=func.coalesce(col(Job.started_at), moment),
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.execute(statement).scalar_one_or_none()


def heartbeat(
    session: Session,
    *,
    job_id: str,
    worker_id: str,
    lease_seconds: float,
    attempt: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Extend the lease if ``worker_id`` still owns the running job; False means it was lost.

    Extending an already expired lease is fine as long as nobody re-claimed the job: the claim
    changes ``lease_owner``, and then this guard fails.
    """
    moment = now or utcnow()
    conditions = [
        col(Job.id) == job_id,
        col(Job.status) == RUNNING,
        col(Job.lease_owner) == worker_id,
    ]
    if attempt is not None:
        conditions.append(col(Job.attempts) == attempt)
    renewed = session.execute(
        update(Job)
        .where(*conditions)
        .values(lease_expires_at=moment + timedelta(seconds=lease_seconds), heartbeat_at=moment)
        .returning(col(Job.id))
        .execution_options(synchronize_session=False)
    ).first()
    return renewed is not None


# --- finishing --------------------------------------------------------------------------------


def _finish(
    session: Session,
    *,
    job_id: str,
    worker_id: str,
    attempt: int,
    values: dict[str, Any],
) -> tuple[int, int | None] | None:
    """Flip the caller's own running attempt to a final state; (user_id, hold_id) or None."""
    now = utcnow()
    row = session.execute(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == RUNNING,
            col(Job.lease_owner) == worker_id,
            col(Job.attempts) == attempt,
        )
        .values(finished_at=now, lease_expires_at=None, **values)
        .returning(col(Job.user_id), col(Job.hold_id))
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    return int(row[0]), (None if row[1] is None else int(row[1]))


def finish_success(
    session: Session,
    *,
    job_id: str,
    worker_id: str,
    attempt: int,
    result: dict[str, Any],
    charge_micros: int | None = None,
    history_record_id: int | None = None,
) -> bool:
    """Mark the attempt SUCCEEDED and capture its hold; False if this worker lost the job.

    ``charge_micros`` is the real cost (at most the hold); None charges the full hold. A job
    without a hold cannot charge anything, so a non-zero charge there is a programming error.
    """
    values: dict[str, Any] = {"status": SUCCEEDED, "result": result, "error": None}
    if history_record_id is not None:
        values["history_record_id"] = history_record_id
    finished = _finish(session, job_id=job_id, worker_id=worker_id, attempt=attempt, values=values)
    if finished is None:
        return False
    user_id, hold_id = finished
    if hold_id is None:
        if charge_micros:
            raise ValueError(f"job {job_id} has no hold to charge {charge_micros} µ¥ from")
        return True
    if charge_micros is None:
        held = session.get(Hold, hold_id)
        assert held is not None  # the foreign key guarantees it
        charge_micros = held.amount_micros
    # Raises (rolling the status flip back with it) if the charge exceeds the hold.
    ledger.capture(session, hold_id, charge_micros, user_id=user_id)
    return True


def _release_unless_settled(session: Session, hold_id: int, user_id: int) -> None:
    """Give a failed job's hold back; one already captured elsewhere is left alone."""
    try:
        ledger.release(session, hold_id, user_id=user_id)
    except ConflictError:
        # Raising would roll back the job's final state and retry it forever; the capture
        # already settled the money, so only say so.
        logger.warning("hold %s of a failed job was already captured; not released", hold_id)


def _safe_error(error: str) -> str:
    return (error or "The job failed").strip()[:MAX_ERROR_LENGTH]


def finish_failure(
    session: Session, *, job_id: str, worker_id: str, attempt: int, error: str
) -> bool:
    """Mark the attempt FAILED with a caller-safe ``error`` and release its hold."""
    finished = _finish(
        session,
        job_id=job_id,
        worker_id=worker_id,
        attempt=attempt,
        values={"status": FAILED, "error": _safe_error(error)},
    )
    if finished is None:
        return False
    user_id, hold_id = finished
    if hold_id is not None:
        _release_unless_settled(session, hold_id, user_id)
    return True


def hand_back(session: Session, *, job_id: str, worker_id: str, attempt: int) -> bool:
    """Give the caller's running attempt back to the queue (a worker shutting down).

    The job is PENDING again at once, its hold still held for whoever runs it next, and the
    attempt is not counted: an orderly stop is not a failure. False if the job was not the
    caller's (any more).
    """
    row = session.execute(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == RUNNING,
            col(Job.lease_owner) == worker_id,
            col(Job.attempts) == attempt,
        )
        .values(
            status=PENDING,
            lease_owner=None,
            lease_expires_at=None,
            attempts=col(Job.attempts) - 1,
            run_after=utcnow(),
        )
        .returning(col(Job.id))
        .execution_options(synchronize_session=False)
    ).first()
    return row is not None


def reap_exhausted(session: Session, now: datetime | None = None) -> list[str]:
    """End FAILED every running job whose lease ran out on its last attempt; release holds.

    These are jobs whose workers died ``max_attempts`` times; running them again would break
    the promise of a bounded number of attempts. Returns the ids of the jobs ended here.
    """
    moment = now or utcnow()
    exhausted = (
        select(col(Job.id))
        .where(_lease_expired(moment), col(Job.attempts) >= col(Job.max_attempts))
        .order_by(col(Job.created_at))
        .limit(REAP_BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two reapers must neither deadlock on nor both settle the same rows.
        exhausted = exhausted.with_for_update(skip_locked=True)
    rows = session.execute(
        update(Job)
        .where(
            col(Job.id).in_(exhausted),
            # Re-checked on the locked row version: a heartbeat may have renewed it meanwhile.
            _lease_expired(moment),
        )
        .values(
            status=FAILED,
            error="worker lost: the job was interrupted on every attempt",
            finished_at=moment,
            lease_expires_at=None,
        )
        .returning(col(Job.id), col(Job.user_id), col(Job.hold_id))
        .execution_options(synchronize_session=False)
    ).all()
    for _job_id, user_id, hold_id in rows:
        if hold_id is not None:
            _release_unless_settled(session, int(hold_id), int(user_id))
    return [str(row[0]) for row in rows]
