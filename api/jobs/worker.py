"""The job worker: claims jobs, runs their handlers under a renewed lease, finishes them.

One worker runs one job at a time. It claims with a lease of ``job_lease_seconds``; a background
thread renews the lease every third of it while the handler runs, so a live worker keeps its
job and a dead one (SIGKILL, lost machine) lets it go within one lease. The finishing write is
guarded by ownership, so a worker that lost its job to another cannot finish it twice.

The web server starts one in a thread by default (``settings.inprocess_worker``, see
:meth:`Worker.start_in_thread`); at scale, ``amphion worker`` / ``python -m api.jobs.worker``
runs :func:`main` in separate processes, which on PostgreSQL claim with ``SKIP LOCKED``.
Every worker loop also runs the process's ``Lifeline`` (api.billing.sweeper): its heartbeat, and
the sweeper that gives back credit held by processes that died mid-request.
SIGTERM and SIGINT stop the claiming at once; the job in hand gets ``HAND_BACK_AFTER_SECONDS``
to finish, after which it is handed back to the queue (PENDING, its hold still held, the attempt
not counted; its handler is told through ``lease_lost``) and the worker exits, well within the
10 s an orchestrator waits before SIGKILL. A second signal exits at once (the job's lease then
runs out and another worker re-runs it, which handlers are built to allow).
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from types import FrameType
from typing import Any

from api.billing.sweeper import Lifeline
from api.db import Database
from api.errors import DomainError
from api.jobs import service
from api.jobs.handlers import (
    JobContext,
    JobOutcome,
    UnknownJobKindError,
    get_handler,
    load_handler_modules,
)
from api.settings import Settings

# A fixed name: under ``python -m`` this module is ``__main__``.
logger = logging.getLogger("api.jobs.worker")

GENERIC_FAILURE = "The job failed because of an internal error"
SETTLEMENT_FAILURE = "The job failed while settling its charge"
MAX_WORKER_ID_LENGTH = 64
# How long the job in hand may run on after a stop request before it is handed back.
HAND_BACK_AFTER_SECONDS = 5.0
# How often the worker looks at a stop request while a handler runs.
STOP_CHECK_SECONDS = 0.1


def default_worker_id() -> str:
    """host:pid:random — unique per Worker, and readable in the jobs table."""
    suffix = f":{os.getpid()}:{uuid.uuid4().hex[:8]}"
    host = socket.gethostname()[: MAX_WORKER_ID_LENGTH - len(suffix)]
    return host + suffix


@dataclass(frozen=True)
class _ClaimedJob:
    """A plain copy of the claimed row, so nothing touches an ORM object across threads."""

    id: str
    user_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    hold_id: int | None


class _LeaseKeeper:
    """Renews one job's lease from a background thread until stopped or the lease is lost."""

    def __init__(self, worker: Worker, job: _ClaimedJob) -> None:
        self._worker = worker
        self._job = job
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"job-heartbeat-{job.id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._worker.lease_seconds)

    def beat(self) -> bool:
        """Renew now; True while this worker still owns the job."""
        if self.lost.is_set():
            return False
        try:
            with self._worker.db.write() as session:
                owned = service.heartbeat(
                    session,
                    job_id=self._job.id,
                    worker_id=self._worker.worker_id,
                    lease_seconds=self._worker.lease_seconds,
                    attempt=self._job.attempt,
                )
        except Exception:
            # A transient database error is not a lost lease; the next beat retries.
            logger.warning("heartbeat for job %s failed", self._job.id, exc_info=True)
            return True
        if not owned:
            logger.warning("job %s: lease lost to another worker", self._job.id)
            self.lost.set()
        return owned

    def _run(self) -> None:
        interval = self._worker.lease_seconds / 3
        while not self._stop.wait(interval):
            if not self.beat():
                return


class Worker:
    """Runs jobs from the database, one at a time."""

    def __init__(self, db: Database, settings: Settings, worker_id: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = (worker_id or default_worker_id())[:MAX_WORKER_ID_LENGTH]
        self.lease_seconds = float(settings.job_lease_seconds)
        self.hand_back_after_seconds = HAND_BACK_AFTER_SECONDS
        # Set by run_forever; a worker driven by run_once alone always finishes its job.
        self._stop_event: threading.Event | None = None
        load_handler_modules(settings.job_handler_modules)

    # --- one job ------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Reap exhausted jobs, claim one and run it to the end; False when none was waiting."""
        # A read first: an idle worker then never takes SQLite's write lock.
        if not service.has_due_work(self.db):
            return False
        with self.db.write() as session:
            reaped = service.reap_exhausted(session)
            claimed = service.claim_next(
                session,
                worker_id=self.worker_id,
                lease_seconds=self.lease_seconds,
                dialect=self.db.dialect,
            )
            job = None
            if claimed is not None:
                job = _ClaimedJob(
                    id=claimed.id,
                    user_id=claimed.user_id,
                    kind=claimed.kind,
                    payload=copy.deepcopy(claimed.payload or {}),
                    attempt=claimed.attempts,
                    hold_id=claimed.hold_id,
                )
        for job_id in reaped:
            logger.warning("job %s failed: its worker was lost on every attempt", job_id)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: _ClaimedJob) -> None:
        logger.info("job %s (%s) attempt %d started", job.id, job.kind, job.attempt)
        keeper = _LeaseKeeper(self, job)
        keeper.start()
        try:
            finished = self._await_handler(job, keeper)
            if finished is None:
                # Asked to stop and out of time: tell the handler, and let the job go.
                keeper.lost.set()
        finally:
            # Stop renewing before finishing, so no beat races the final write.
            keeper.stop()
        if finished is None:
            self._hand_back(job)
            return
        outcome, error = finished
        if outcome is not None:
            self._finish_success(job, outcome)
        else:
            self._finish_failure(job, error or GENERIC_FAILURE)

    def _await_handler(
        self, job: _ClaimedJob, keeper: _LeaseKeeper
    ) -> tuple[JobOutcome | None, str | None] | None:
        """Run the handler in its own thread; None if a stop request ran out its time first."""
        if self._stop_event is None:
            return self._call_handler(job, keeper)
        finished: list[tuple[JobOutcome | None, str | None]] = []
        runner = threading.Thread(
            target=lambda: finished.append(self._call_handler(job, keeper)),
            name=f"job-{job.id[:8]}",
            daemon=True,  # a handler that ignores lease_lost must not keep the process alive
        )
        runner.start()
        stop_seen_at: float | None = None
        while runner.is_alive():
            runner.join(STOP_CHECK_SECONDS)
            if self._stop_event.is_set() and runner.is_alive():
                stop_seen_at = stop_seen_at or time.monotonic()
                if time.monotonic() - stop_seen_at >= self.hand_back_after_seconds:
                    return None
        return finished[0] if finished else (None, GENERIC_FAILURE)

    def _call_handler(
        self, job: _ClaimedJob, keeper: _LeaseKeeper
    ) -> tuple[JobOutcome | None, str | None]:
        try:
            handler = get_handler(job.kind)
        except UnknownJobKindError as exc:
            logger.error("job %s: %s", job.id, exc)
            return None, str(exc)
        context = JobContext(
            job_id=job.id,
            user_id=job.user_id,
            kind=job.kind,
            payload=job.payload,
            attempt=job.attempt,
            hold_id=job.hold_id,
            settings=self.settings,
            db=self.db,
            heartbeat=keeper.beat,
            lease_lost=keeper.lost,
        )
        try:
            outcome = handler(context)
        except DomainError as exc:
            # Domain errors carry messages written for the caller.
            logger.info("job %s failed: %s (%s)", job.id, exc.message, exc.code)
            return None, exc.message
        except Exception:
            # Internals (paths, SQL, provider replies) stay in the log, never in the job row.
            logger.exception("job %s (%s) handler raised", job.id, job.kind)
            return None, GENERIC_FAILURE
        if not isinstance(outcome, JobOutcome):
            logger.error("job %s: handler returned %r, not a JobOutcome", job.id, type(outcome))
            return None, GENERIC_FAILURE
        return outcome, None

    def _finish_success(self, job: _ClaimedJob, outcome: JobOutcome) -> None:
        try:
            with self.db.write() as session:
                finished = service.finish_success(
                    session,
                    job_id=job.id,
                    worker_id=self.worker_id,
                    attempt=job.attempt,
                    result=outcome.result,
                    charge_micros=outcome.charge_micros,
                    history_record_id=outcome.history_record_id,
                )
        except Exception:
            # E.g. a charge above the hold: nothing was written, so fail the job (releasing
            # the hold) rather than leave it to be re-run with the same outcome.
            logger.exception("job %s: recording success failed", job.id)
            self._finish_failure(job, SETTLEMENT_FAILURE)
            return
        if finished:
            logger.info("job %s succeeded", job.id)
        else:
            logger.warning("job %s: lost its lease before finishing; result discarded", job.id)

    def _hand_back(self, job: _ClaimedJob) -> None:
        try:
            with self.db.write() as session:
                handed = service.hand_back(
                    session, job_id=job.id, worker_id=self.worker_id, attempt=job.attempt
                )
        except Exception:
            # The lease will run out and another worker re-runs the job; nothing is lost.
            logger.exception("job %s: handing it back failed", job.id)
            return
        if handed:
            logger.info("job %s handed back to the queue: the worker is stopping", job.id)
        else:
            logger.warning("job %s: lost its lease before it could be handed back", job.id)

    def _finish_failure(self, job: _ClaimedJob, error: str) -> None:
        try:
            with self.db.write() as session:
                finished = service.finish_failure(
                    session,
                    job_id=job.id,
                    worker_id=self.worker_id,
                    attempt=job.attempt,
                    error=error,
                )
        except Exception:
            # The lease will run out and the job will be retried or reaped; nothing is lost.
            logger.exception("job %s: recording failure failed", job.id)
            return
        if finished:
            logger.info("job %s failed: %s", job.id, error)
        else:
            logger.warning("job %s: lost its lease before failing; outcome discarded", job.id)

    # --- loops --------------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Work until ``stop_event`` is set; the job in hand is finished or handed back."""
        self._stop_event = stop_event
        logger.info("job worker %s started", self.worker_id)
        # This process's heartbeat, and the sweeper of holds that dead processes left behind.
        lifeline = Lifeline(self.db, self.settings).start()
        try:
            while not stop_event.is_set():
                try:
                    worked = self.run_once()
                except Exception:
                    # A database outage must not kill the worker; back off one poll and retry.
                    logger.exception("job worker %s: polling failed", self.worker_id)
                    worked = False
                if not worked:
                    stop_event.wait(self.settings.job_poll_seconds)
        finally:
            lifeline.stop()
        logger.info("job worker %s stopped", self.worker_id)

    def start_in_thread(self) -> WorkerHandle:
        """Run :meth:`run_forever` in a daemon thread (the in-process worker of the web app)."""
        stop_event = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop_event,), name="amphion-job-worker", daemon=True
        )
        thread.start()
        return WorkerHandle(thread=thread, stop_event=stop_event)


@dataclass(frozen=True)
class WorkerHandle:
    """A running in-process worker."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float | None = None) -> bool:
        """Ask it to stop (the job in hand finished or handed back); True if it did in time."""
        self.stop_event.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


def _install_signal_handlers(stop_event: threading.Event) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop_event.is_set():
            logger.warning("%s again: exiting without finishing the current job", name)
            raise SystemExit(128 + signum)
        logger.info("%s: finishing or handing back the current job, then exiting", name)
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def main() -> None:
    """Run a standalone worker from the environment until SIGTERM/SIGINT."""
    from api.db import get_database, migrate
    from api.engines.preload import preload_in_background
    from api.settings import get_settings
    from api.speech.runtime import speech_context_for

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    migrate(settings.resolved_database_url)
    db = get_database()
    # The first job of a fresh worker does not wait for its model to load either.
    preload_in_background(
        lambda: speech_context_for(settings, db).engines, settings.engines_to_preload
    )
    stop_event = threading.Event()
    _install_signal_handlers(stop_event)
    try:
        Worker(db, settings).run_forever(stop_event)
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
