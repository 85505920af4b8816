"""The stale-hold sweeper: credit held by a process that died is given back, exactly once.

A request holds credit before its engine runs and settles it when it ends (``ledger``). A process
killed in between (SIGKILL, OOM, a lost machine, the 8 s cut after SIGTERM) never settles: the
hold would stay held, and the money out of the account, forever. The sweeper closes that gap:

- **Who owns a hold.** Every connection names its process (``api.db.process_instance_id``) and a
  database trigger writes that name next to each new hold in ``hold_owners`` (migration 0004).
  The money path does nothing extra; a connection that names no process records no owner, and
  a hold without an owner is never swept.
- **Who is alive.** A process that runs a ``Lifeline`` (every job worker does, so every web
  process with its in-process worker and every ``amphion worker``) writes a heartbeat to
  ``process_instances`` every ``instance_heartbeat_seconds``, on the database's own clock (no
  clock skew between hosts). A process whose last beat is older than ``instance_stale_seconds``
  is dead; an unknown process (never beat) is not.
- **What is swept.** Held holds of dead processes, except those a job owns (``jobs.hold_id``):
  the job machinery settles those (a dead worker's job is re-run after its lease). Each is
  released through ``ledger.release`` (the guarded ``held → released`` flip, so a second
  sweeper or a late settlement changes nothing) and its history row is ended ``failed``: an
  existing pending/running row is marked, none is ever deleted, and a request that had no row
  yet (rows are written at settlement) gets one, so the caller sees what happened.
- **Several sweepers.** Candidates are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
  serializes writers), so concurrent sweepers split the work and never release a hold twice.
- **No false deaths after an outage.** A sweeper sweeps only once its own heartbeats have
  succeeded without a gap for a whole ``instance_stale_seconds``: after a database outage
  longer than that, every process looks dead until it beats again, and the others get that
  window to do so.

- **A live process's failed releases.** A request that fails while the database is away
  cannot release its hold either; ``release_later`` queues such a hold in its own process and
  the ``Lifeline`` retries it after each beat (no stale window needed: the request is over).

What it costs: a crashed process's requests are released ``instance_stale_seconds`` plus one
beat after its last heartbeat (60-70 s by default); nothing is charged for them. A process that
freezes for longer than that (a stopped VM) and then resumes finds its holds released: its
capture fails and the caller gets an error, never a double charge.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, delete, exists, func, literal_column, select
from sqlalchemy import update as sql_update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, col

from api.billing import ledger
from api.billing.models import HOLD_HELD, Hold
from api.db import Database, process_instance_id, utcnow
from api.history import service as history
from api.history.models import RECORD_TYPES, HistoryRecord
from api.jobs.models import Job
from api.settings import Settings

logger = logging.getLogger(__name__)

SWEEP_BATCH = 100
SWEPT_ERROR = "The server stopped before this request finished; nothing was charged"
OPEN_STATUSES = ("pending", "running")


class ProcessInstance(SQLModel, table=True):
    """A process that may own holds, and its last heartbeat (seconds, database clock)."""

    __tablename__ = "process_instances"

    id: str = Field(primary_key=True, sa_type=String(64))
    host: str = Field(sa_type=String(255))
    pid: int = Field(sa_type=Integer)
    started_at: datetime = Field(default_factory=utcnow)
    beat_at: float = Field(sa_type=Float)


class HoldOwner(SQLModel, table=True):
    """Which process took a hold; written by the ``holds_record_owner`` trigger."""

    __tablename__ = "hold_owners"

    hold_id: int = Field(primary_key=True, foreign_key="holds.id", ondelete="CASCADE")
    instance_id: str = Field(sa_type=String(64), index=True)


def database_clock(session: Session) -> ColumnElement[float]:
    """Now, in seconds since the epoch, read from the database (one clock for every host)."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column("EXTRACT(EPOCH FROM clock_timestamp())", Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)


def beat(session: Session, instance_id: str | None = None) -> float:
    """Record that this process is alive (registering it on the first beat); the beat time."""
    instance_id = instance_id or process_instance_id()
    now = float(session.execute(select(database_clock(session))).scalar_one())
    stamped = session.execute(
        sql_update(ProcessInstance)
        .where(col(ProcessInstance.id) == instance_id)
        .values(beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(stamped, "rowcount", 0):
        session.add(
            ProcessInstance(
                id=instance_id, host=socket.gethostname()[:255], pid=os.getpid(), beat_at=now
            )
        )
        session.flush()
    return now


@dataclass(frozen=True)
class SweptHold:
    """A hold the sweeper released, and the history row that now says so."""

    hold_id: int
    user_id: int
    instance_id: str
    record_id: int | None


def _dead_instances(
    session: Session, stale_seconds: float, alive: str | None
) -> ColumnElement[bool]:
    return col(HoldOwner.instance_id).in_(
        select(col(ProcessInstance.id)).where(_dead(session, stale_seconds, alive))
    )


def _dead(session: Session, stale_seconds: float, alive: str | None) -> ColumnElement[bool]:
    """Process rows not beaten for ``stale_seconds``, never ``alive``: the sweeping process
    itself, whose row may look stale if it stalled between its beat and its sweep."""
    stale = col(ProcessInstance.beat_at) < database_clock(session) - stale_seconds
    return stale if alive is None else stale & (col(ProcessInstance.id) != alive)


def _not_a_jobs(hold_id: Any) -> ColumnElement[bool]:
    return ~exists().where(col(Job.hold_id) == hold_id)


def sweep(
    session: Session, *, stale_seconds: float, limit: int = SWEEP_BATCH, alive: str | None = None
) -> list[SweptHold]:
    """Release up to ``limit`` holds of dead processes; forget dead processes with none left.
    ``alive`` (the sweeping process) is never taken for dead.

    Run inside a write scope; see the module docstring for what is swept and why it is safe.
    """
    candidates = (
        select(Hold, col(HoldOwner.instance_id))
        .join(HoldOwner, col(HoldOwner.hold_id) == col(Hold.id))
        .where(
            _dead_instances(session, stale_seconds, alive),
            col(Hold.status) == HOLD_HELD,
            _not_a_jobs(col(Hold.id)),
        )
        .order_by(col(Hold.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(of=Hold, skip_locked=True)
    swept: list[SweptHold] = []
    for hold, instance_id in session.execute(candidates).all():
        assert hold.id is not None
        try:
            with session.begin_nested():  # one bad hold must not stop the others
                settlement = ledger.release(session, hold.id)
                if not settlement.settled_now:
                    continue
                record_id = _end_history(session, hold)
        except Exception:
            logger.exception("could not sweep hold %s", hold.id)
            continue
        swept.append(SweptHold(hold.id, hold.user_id, instance_id, record_id))
        logger.warning(
            "released hold %s (user %s) of dead process %s", hold.id, hold.user_id, instance_id
        )
    _forget_the_dead(session, stale_seconds, alive)
    return swept


def _request_of(hold: Hold) -> tuple[str, str]:
    """(history type, request id) from a hold: purpose, and ``kind:request_id[:n]`` keys."""
    parts = hold.idempotency_key.split(":")
    return hold.purpose, (parts[1] if len(parts) > 1 else "")[:64]


def _end_history(session: Session, hold: Hold, error: str = SWEPT_ERROR) -> int | None:
    """End the request's history: open rows become failed; a request without one gets one."""
    kind, request_id = _request_of(hold)
    if kind not in RECORD_TYPES:
        return None  # not an operation the history shows (e.g. an internal hold)
    rows = list(
        session.execute(
            select(HistoryRecord).where(
                col(HistoryRecord.user_id) == hold.user_id,
                col(HistoryRecord.type) == kind,
                col(HistoryRecord.request_id) == request_id,
            )
        ).scalars()
    )
    if not request_id or not rows:
        row = history.record(
            session,
            user_id=hold.user_id,
            type=kind,
            status="failed",
            error=error,
            api_key_id=hold.api_key_id,
            request_id=request_id,
        )
        row.created_at = hold.created_at  # listed when the request was made
        session.add(row)
        session.flush()
        return row.id
    for row in rows:
        if row.status in OPEN_STATUSES:
            history.update_record(session, int(row.id or 0), status="failed", error=error)
    return rows[0].id


def _forget_the_dead(session: Session, stale_seconds: float, alive: str | None) -> None:
    """Drop owner rows of dead processes' settled holds, then dead processes that own none."""
    session.execute(
        delete(HoldOwner)
        .where(
            _dead_instances(session, stale_seconds, alive),
            ~exists().where(col(Hold.id) == col(HoldOwner.hold_id), col(Hold.status) == HOLD_HELD),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(ProcessInstance)
        .where(
            _dead(session, stale_seconds, alive),
            ~exists().where(col(HoldOwner.instance_id) == col(ProcessInstance.id)),
        )
        .execution_options(synchronize_session=False)
    )


def prune_settled(session: Session, instance_id: str | None = None) -> int:
    """Drop this process's owner rows of holds that are settled (they can never be swept)."""
    instance_id = instance_id or process_instance_id()
    result = session.execute(
        delete(HoldOwner)
        .where(
            col(HoldOwner.instance_id) == instance_id,
            exists().where(col(Hold.id) == col(HoldOwner.hold_id), col(Hold.status) != HOLD_HELD),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_owned_held(session: Session, instance_id: str) -> int:
    """How many held holds ``instance_id`` owns (for operators and tests)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(HoldOwner)
            .join(Hold, col(Hold.id) == col(HoldOwner.hold_id))
            .where(col(HoldOwner.instance_id) == instance_id, col(Hold.status) == HOLD_HELD)
        ).scalar_one()
    )


# Holds this process failed to release (the database was away when the request failed), by
# database URL: retried after each heartbeat until the release goes through.
RETRY_ERROR = "The request failed; nothing was charged"
MAX_RETRIES_KEPT = 10_000
_to_release: dict[str, set[int]] = {}
_to_release_lock = threading.Lock()


def release_later(db: Database, hold_id: int) -> None:
    """Queue a hold whose request failed but whose release failed too (a database outage).

    The request is over, so the hold is not in flight any more, yet this process is alive and
    the sweeper would never touch it: the ``Lifeline`` retries it after each beat instead.
    """
    with _to_release_lock:
        pending = _to_release.setdefault(db.url, set())
        if len(pending) < MAX_RETRIES_KEPT:
            pending.add(hold_id)


def retry_releases(db: Database) -> list[int]:
    """Release the queued holds of ``db`` (see ``release_later``); the ids released now."""
    with _to_release_lock:
        pending = sorted(_to_release.get(db.url, ()))
    released: list[int] = []
    for hold_id in pending:
        with db.write() as session:
            hold = session.get(Hold, hold_id)
            if hold is not None and hold.status == HOLD_HELD:
                if ledger.release(session, hold_id).settled_now:
                    _end_history(session, hold, RETRY_ERROR)
                    released.append(hold_id)
        with _to_release_lock:
            _to_release.get(db.url, set()).discard(hold_id)
    return released


class Lifeline:
    """This process's heartbeat, and the sweeper run after each beat, in a daemon thread.

    Started by the job worker loop (so by every web process with its in-process worker and by
    every ``amphion worker``). ``stop`` only stops the beating: a process that exits
    leaves its row to go stale, so holds it left behind are swept once it is surely gone.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.interval = float(settings.instance_heartbeat_seconds)
        # Three missed beats at least: a busy process is not a dead one.
        self.stale_seconds = max(float(settings.instance_stale_seconds), 3 * self.interval)
        self.instance_id = process_instance_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._alive_since: float | None = None  # database clock; None after a failed beat
        self._last_beat: float | None = None
        self.swept_total = 0

    def start(self) -> Lifeline:
        self._thread = threading.Thread(target=self._run, name="amphion-lifeline", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def tick(self) -> list[SweptHold]:
        """One beat, then (once this process has beaten for a full stale window) one sweep."""
        try:
            with self.db.write() as session:
                beat_at = beat(session, self.instance_id)
        except Exception:
            # The database is away: no sweeping until a whole window of beats succeeded again.
            logger.warning("heartbeat of %s failed", self.instance_id, exc_info=True)
            self._alive_since = self._last_beat = None
            return []
        try:
            retry_releases(self.db)
        except Exception:
            logger.warning("retrying failed releases failed", exc_info=True)
        if self._last_beat is not None and beat_at - self._last_beat > self.stale_seconds / 2:
            self._alive_since = None  # this process stalled: others may not have beaten either
        self._last_beat = beat_at
        if self._alive_since is None:
            self._alive_since = beat_at
        if beat_at - self._alive_since < self.stale_seconds:
            return []
        try:
            with self.db.write() as session:
                swept = sweep(session, stale_seconds=self.stale_seconds, alive=self.instance_id)
                prune_settled(session, self.instance_id)
        except Exception:
            logger.exception("sweeping stale holds failed")
            return []
        self.swept_total += len(swept)
        return swept

    def _run(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self.interval):
                return
