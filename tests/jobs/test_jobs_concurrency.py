"""Concurrent claims: every job is claimed exactly once (G41), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from api.accounts.models import User
from api.db import Database
from api.jobs import service
from api.jobs.models import RUNNING, Job

JOBS = 50
CLAIMERS = 4
DEADLINE_SECONDS = 30

MakeUser = Callable[[Database], User]


def _claim_all(databases: list[Database]) -> list[tuple[str, int]]:
    """Run one claimer per database handle at once until no job is left; (job id, claimer)."""
    claims: list[tuple[str, int]] = []
    claims_lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(len(databases))

    def claimer(index: int, database: Database) -> None:
        try:
            start.wait(timeout=10)
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                with database.write() as session:
                    job = service.claim_next(
                        session,
                        worker_id=f"claimer-{index}",
                        lease_seconds=60,
                        dialect=database.dialect,
                    )
                    if job is not None:
                        # Hold the claim's transaction open a moment so rivals run into the
                        # locked row (and, on PostgreSQL, must skip it).
                        time.sleep(0.002)
                if job is not None:
                    with claims_lock:
                        claims.append((job.id, index))
                    continue
                # SKIP LOCKED can answer "none" while rivals still hold rows: only stop once
                # nothing is pending at all.
                if not service.has_due_work(database):
                    return
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=claimer, args=(index, database))
        for index, database in enumerate(databases)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS + 15)
    assert not any(thread.is_alive() for thread in threads), "a claimer hung"
    assert not errors, errors
    return claims


def _submit_many(database: Database, user: User) -> set[str]:
    assert user.id is not None
    with database.write() as session:
        return {
            service.submit_job(session, user_id=user.id, kind="test.kind", payload={"i": i}).id
            for i in range(JOBS)
        }


def _assert_each_claimed_once(database: Database, submitted: set[str], claims) -> None:
    claimed_ids = [job_id for job_id, _ in claims]
    assert len(claimed_ids) == JOBS
    assert set(claimed_ids) == submitted
    with database.read() as session:
        jobs = session.execute(select(Job)).scalars().all()
    assert {job.status for job in jobs} == {RUNNING}
    assert {job.attempts for job in jobs} == {1}


def test_four_threads_claim_each_job_exactly_once(any_db: Database, make_user: MakeUser) -> None:
    submitted = _submit_many(any_db, make_user(any_db))
    # One shared Database: on PostgreSQL each thread gets its own pooled connection.
    claims = _claim_all([any_db] * CLAIMERS)
    _assert_each_claimed_once(any_db, submitted, claims)


def test_four_connections_claim_each_job_exactly_once(
    any_db: Database, make_user: MakeUser
) -> None:
    submitted = _submit_many(any_db, make_user(any_db))
    # Separate engines, as separate worker processes would have: on SQLite nothing in-process
    # serializes them, only BEGIN IMMEDIATE and the file lock.
    handles = [Database(any_db.url) for _ in range(CLAIMERS)]
    try:
        claims = _claim_all(handles)
    finally:
        for handle in handles:
            handle.dispose()
    _assert_each_claimed_once(any_db, submitted, claims)
