"""Pieces every speech use case shares: who is calling, and spending credit exactly once.

A use case reads top to bottom (DESIGN §2): validate → resolve model and voice → price → hold →
run the engine → encode/store → capture → record history → return. ``Charge`` is the
hold-to-settlement part: it holds before the engine runs and then either captures the real cost
together with the history row (one transaction), or releases everything when anything failed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlmodel import Session

from api import audio
from api.billing import ledger, sweeper
from api.db import Database, DriverConnection
from api.errors import ConflictError, DomainError, RateLimitedError
from api.history import service as history
from api.history.models import HistoryRecord
from api.jobs import service as jobs
from api.jobs.models import Job
from api.principal import Principal
from api.settings import Settings
from api.storage.base import ObjectStore
from api.storage.models import StoredObject
from api.storage.service import PutObject, put_bytes, put_fields, record_put

logger = logging.getLogger("amphion.speech")


# Where an uploaded file is kept, by the format probed from its content (not its name).
_UPLOAD_EXTENSIONS = {
    "wav": "wav",
    "aiff": "aiff",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "opus",
    "mp4": "m4a",
    "aac": "aac",
    "webm": "webm",
    "matroska": "mka",
}


def put_audio(store: ObjectStore, *, kind: str, data: bytes, fmt: str) -> PutObject:
    """Write audio the platform made (an output format) or received (a probed input format),
    outside any transaction; ``record_put`` then records it for its owner."""
    if audio.is_output_format(fmt):
        ext, content_type = audio.file_extension(fmt), audio.content_type(fmt)
    else:
        ext, content_type = _UPLOAD_EXTENSIONS[fmt], None
    return put_bytes(store, kind=kind, ext=ext, data=data, content_type=content_type)


def store_audio(
    session: Session, store: ObjectStore, *, user_id: int, kind: str, data: bytes, fmt: str
) -> StoredObject:
    """Keep audio (``put_audio``) and record it in ``session``'s transaction."""
    put = put_audio(store, kind=kind, data=data, fmt=fmt)
    return record_put(session, store, put, user_id=user_id)


@dataclass(frozen=True)
class Caller:
    """Who asks, through which door, under which request id (the idempotency key of the hold)."""

    principal: Principal
    request_id: str
    source: Literal["api", "console"] = "api"

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def api_key_id(self) -> int | None:
        return self.principal.api_key_id

    def require(self, scope: str) -> None:
        """Refuse an API key without ``scope`` (403) before any work is done."""
        self.principal.require_scope(scope)


@dataclass
class Charge:
    """One hold, resolved exactly once by ``settle`` (capture + history) or ``fail`` (release)."""

    db: Database
    caller: Caller
    kind: str
    amount_micros: int
    hold_id: int = 0
    started: float = field(default_factory=time.monotonic)
    resolved: bool = False
    # The balance right after the capture, for the response's headers without another read.
    balance_after_micros: int | None = None

    @classmethod
    def hold(cls, db: Database, caller: Caller, kind: str, amount_micros: int) -> Charge:
        """Reserve ``amount_micros`` before any engine work (403 when the balance is short)."""
        charge = cls(db, caller, kind, amount_micros)
        charge.hold_id = ledger.hold_now(
            db,
            caller.user_id,
            amount_micros,
            idempotency_key=f"{kind}:{caller.request_id}",
            api_key_id=caller.api_key_id,
            purpose=kind,
        ).hold_id
        return charge

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def settle(
        self, *, cost_micros: int | None = None, output: PutObject | None = None, **record: Any
    ) -> int:
        """Capture the cost and write the history row in one transaction; ``output`` (audio
        written with ``put_audio``) is recorded in it too, as the row's ``output_key``.
        Returns the history row's id.

        The rows are written on the bare driver connection (``ledger.capture_now``), from
        fields checked before the transaction: on SQLite the writer lock is held for about
        0.1 ms instead of the 0.7 ms of a session's flush, which every other request's hold
        waits for."""
        cost = self.amount_micros if cost_micros is None else min(cost_micros, self.amount_micros)
        stored = None if output is None else put_fields(output, user_id=self.caller.user_id)
        if output is not None:
            record["output_key"] = output.key
        row = self._row(cost, status="succeeded", **record)
        written: list[int] = []

        def write_rows(target: DriverConnection) -> None:
            if stored is not None:
                target.insert(StoredObject, stored)
            written.append(target.insert(HistoryRecord, row))

        settled = ledger.capture_now(
            self.db, self.hold_id, cost, user_id=self.caller.user_id, also=write_rows
        )
        if not settled.settled_now:  # captured before: nothing is charged or written twice
            raise ConflictError(f"Hold {self.hold_id} was already captured")
        self.resolved = True
        self.balance_after_micros = settled.balance_after_micros
        return written[0]

    def fail(self, error: BaseException | None = None, **record: Any) -> None:
        """Release the hold; with ``record`` fields, keep the failure in the history.

        ``error`` None means the caller went away (a stream closed early): "cancelled".
        """
        if self.resolved:
            return
        if error is None:
            status, message = "cancelled", "The client closed the connection before the end"
        else:
            status = "failed"
            message = error.message if isinstance(error, DomainError) else "internal error"
        row = self._row(0, status=status, error=message, **record) if record else None

        def write_row(target: DriverConnection) -> None:
            assert row is not None
            target.insert(HistoryRecord, row)

        try:
            ledger.release_now(
                self.db,
                self.hold_id,
                user_id=self.caller.user_id,
                also=write_row if row is not None else None,
            )
        except Exception:  # the original error matters more; the hold stays visible to admins
            logger.exception("could not release hold %s", self.hold_id)
            sweeper.release_later(self.db, self.hold_id)  # retried after this process's heartbeat
            raise
        self.resolved = True

    def queue_job(
        self,
        session: Session,
        *,
        job_kind: str,
        payload: dict[str, Any],
        settings: Settings,
        **record: Any,
    ) -> tuple[HistoryRecord, Job]:
        """Record the operation as pending and queue the job that owns this hold from now on.

        Runs inside the caller's transaction; once it commits, call ``handed_over``. The job's
        payload gets the history row's id, so the handler can fill it in. An account may have
        only so many jobs queued or running at once (429 beyond that).
        """
        active = jobs.count_active_jobs(session, user_id=self.caller.user_id)
        if active >= settings.max_active_jobs_per_account:
            raise RateLimitedError(
                f"{active} tasks of this account are still queued or running; "
                "wait for one to finish",
                retry_after=5,
                code="TOO_MANY_TASKS",
            )
        row = history.record(
            session,
            user_id=self.caller.user_id,
            type=self.kind,
            status="pending",
            api_key_id=self.caller.api_key_id,
            request_id=self.caller.request_id,
            **record,
        )
        job = jobs.submit_job(
            session,
            user_id=self.caller.user_id,
            kind=job_kind,
            payload={**payload, "record_id": row.id},
            hold_id=self.hold_id,
            max_attempts=settings.job_max_attempts,
        )
        row.job_id = job.id
        session.add(row)
        return row, job

    def handed_over(self) -> None:
        """A job now owns the hold: the worker captures or releases it when the job ends."""
        self.resolved = True

    def _row(self, cost: int, **record: Any) -> dict[str, Any]:
        return history.record_fields(
            user_id=self.caller.user_id,
            type=self.kind,
            cost_micros=cost,
            api_key_id=self.caller.api_key_id,
            request_id=self.caller.request_id,
            latency_ms=self.latency_ms,
            **record,
        )
