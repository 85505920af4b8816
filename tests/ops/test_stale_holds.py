"""The stale-hold sweeper, in one process: whose holds it gives back, and that it does so once.

Another process is played by re-labelling a hold's owner row: ``dead`` has a heartbeat far in
the past, ``live`` one from now, ``unknown`` never beat. Every test runs on SQLite and (in CI)
on a PostgreSQL database of its own.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, update
from sqlmodel import col

from api.billing import ledger, sweeper
from api.billing.models import HOLD_HELD, HOLD_RELEASED, Hold, LedgerEntry
from api.billing.sweeper import HoldOwner, Lifeline, ProcessInstance
from api.db import Database, process_instance_id
from api.history import service as history
from api.history.models import HistoryRecord
from api.jobs import service as jobs
from api.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import make_user

STALE = 60.0
HOLD = 2_000_000


def hold_for(db: Database, user_id: int, request_id: str, owner: str | None) -> int:
    """A TTS request's hold, as ``Charge.hold`` takes it, owned by ``owner`` (None: nobody)."""
    with db.write() as session:
        held = ledger.hold(
            session, user_id, HOLD, idempotency_key=f"tts:{request_id}", purpose="tts"
        )
        assert held.id is not None
        hold_id = held.id
    with db.write() as session:
        recorded = session.get(HoldOwner, hold_id)
        assert recorded is not None and recorded.instance_id == process_instance_id()
        if owner is None:
            session.delete(recorded)
        else:
            recorded.instance_id = owner
            session.add(recorded)
    return hold_id


def register(db: Database, instance_id: str, seconds_ago: float) -> None:
    with db.write() as session:
        now = sweeper.beat(session, instance_id)
        session.execute(
            update(ProcessInstance)
            .where(col(ProcessInstance.id) == instance_id)
            .values(beat_at=now - seconds_ago)
        )


def sweep(db: Database, alive: str | None = None) -> list[sweeper.SweptHold]:
    with db.write() as session:
        return sweeper.sweep(session, stale_seconds=STALE, alive=alive)


def hold_state(db: Database, hold_id: int) -> tuple[str, list[str]]:
    with db.read() as session:
        hold = session.get(Hold, hold_id)
        assert hold is not None
        kinds = session.execute(
            select(LedgerEntry.kind).where(col(LedgerEntry.hold_id) == hold_id)
        ).scalars()
        return hold.status, sorted(kinds)


def history_of(db: Database, user_id: int) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        rows = session.execute(
            select(HistoryRecord)
            .where(col(HistoryRecord.user_id) == user_id)
            .order_by(col(HistoryRecord.id))
        ).scalars()
        return [(row.request_id, row.status, row.error) for row in rows]


def test_every_hold_records_the_process_that_took_it(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    with fault_db.write() as session:
        held = ledger.hold(session, user_id, HOLD, idempotency_key="tts:owner-1", purpose="tts")
    with fault_db.read() as session:
        owner = session.get(HoldOwner, held.id)
    assert owner is not None and owner.instance_id == process_instance_id()


def test_a_dead_process_hold_is_released_once_and_its_request_gets_a_failed_row(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    register(fault_db, "dead", seconds_ago=10 * STALE)
    hold_id = hold_for(fault_db, user_id, "req-dead-1", owner="dead")

    swept = sweep(fault_db)
    assert [(s.hold_id, s.instance_id) for s in swept] == [(hold_id, "dead")]
    assert hold_state(fault_db, hold_id) == (HOLD_RELEASED, ["hold", "release"])
    assert history_of(fault_db, user_id) == [("req-dead-1", "failed", sweeper.SWEPT_ERROR)]
    with fault_db.read() as session:
        assert ledger.balance_of(session, user_id) == 10 * HOLD
        assert ledger.unreconciled_users(session) == []
        # Nothing left of the dead process: its owner rows and its heartbeat are forgotten.
        assert session.get(ProcessInstance, "dead") is None
        assert session.get(HoldOwner, hold_id) is None

    assert sweep(fault_db) == []  # a second sweep changes nothing
    assert hold_state(fault_db, hold_id) == (HOLD_RELEASED, ["hold", "release"])
    assert len(history_of(fault_db, user_id)) == 1


def test_live_and_unknown_processes_and_jobs_keep_their_holds(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    register(fault_db, "live", seconds_ago=0)
    register(fault_db, "dead", seconds_ago=10 * STALE)
    live = hold_for(fault_db, user_id, "req-live", owner="live")
    unknown = hold_for(fault_db, user_id, "req-unknown", owner="never-beat")
    unowned = hold_for(fault_db, user_id, "req-unowned", owner=None)
    jobs_hold = hold_for(fault_db, user_id, "req-job", owner="dead")
    with fault_db.write() as session:
        jobs.submit_job(session, user_id=user_id, kind="test.noop", payload={}, hold_id=jobs_hold)

    assert sweep(fault_db) == []
    for hold_id in (live, unknown, unowned, jobs_hold):
        assert hold_state(fault_db, hold_id) == (HOLD_HELD, ["hold"])
    assert history_of(fault_db, user_id) == []
    with fault_db.read() as session:
        # The dead process still owns a job's hold: it is remembered until that settles.
        assert session.get(ProcessInstance, "dead") is not None


def test_an_open_history_row_is_ended_failed_not_duplicated_nor_deleted(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    register(fault_db, "dead", seconds_ago=10 * STALE)
    hold_id = hold_for(fault_db, user_id, "req-open", owner="dead")
    with fault_db.write() as session:
        history.record(
            session, user_id=user_id, type="tts", status="running", request_id="req-open"
        )

    assert [s.hold_id for s in sweep(fault_db)] == [hold_id]
    assert history_of(fault_db, user_id) == [("req-open", "failed", sweeper.SWEPT_ERROR)]


def test_settled_owner_rows_are_pruned_by_their_process(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    with fault_db.write() as session:
        settled = ledger.hold(session, user_id, HOLD, idempotency_key="tts:p1", purpose="tts")
        open_ = ledger.hold(session, user_id, HOLD, idempotency_key="tts:p2", purpose="tts")
    with fault_db.write() as session:
        ledger.capture(session, settled.id or 0, 1)
    with fault_db.write() as session:
        assert sweeper.prune_settled(session) == 1
    with fault_db.read() as session:
        assert session.get(HoldOwner, settled.id) is None
        assert session.get(HoldOwner, open_.id) is not None
        assert sweeper.count_owned_held(session, process_instance_id()) == 1


def test_a_release_that_failed_in_a_live_process_is_retried_once(
    fault_db: Database, settings: Settings
) -> None:
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    hold_id = hold_for(fault_db, user_id, "req-retry", owner=process_instance_id())
    settled = hold_for(fault_db, user_id, "req-settled", owner=process_instance_id())
    with fault_db.write() as session:
        ledger.release(session, settled)
    sweeper.release_later(fault_db, hold_id)
    sweeper.release_later(fault_db, settled)  # settled meanwhile: left alone

    assert sweeper.retry_releases(fault_db) == [hold_id]
    assert hold_state(fault_db, hold_id) == (HOLD_RELEASED, ["hold", "release"])
    assert hold_state(fault_db, settled) == (HOLD_RELEASED, ["hold", "release"])
    assert history_of(fault_db, user_id) == [("req-retry", "failed", sweeper.RETRY_ERROR)]
    assert sweeper.retry_releases(fault_db) == []


def test_the_sweeping_process_never_takes_itself_for_dead(
    fault_db: Database, settings: Settings
) -> None:
    """A process that stalled between its beat and its sweep finds its own row stale: it must
    neither release its own holds (their requests are in flight) nor forget itself."""
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    register(fault_db, "me", seconds_ago=10 * STALE)
    hold_id = hold_for(fault_db, user_id, "req-mine", owner="me")
    assert sweep(fault_db, alive="me") == []
    assert hold_state(fault_db, hold_id) == (HOLD_HELD, ["hold"])
    with fault_db.read() as session:
        assert session.get(ProcessInstance, "me") is not None
    # Seen by any other process, it is dead.
    assert [s.hold_id for s in sweep(fault_db, alive="another")] == [hold_id]


def test_the_lifeline_sweeps_only_after_beating_for_a_whole_stale_window(
    fault_db: Database, settings: Settings
) -> None:
    """After an outage every process looks dead: the survivors get a window to beat first."""
    user_id = make_user(fault_db, settings, balance_micros=10 * HOLD)
    register(fault_db, "dead", seconds_ago=10 * STALE)
    hold_id = hold_for(fault_db, user_id, "req-window", owner="dead")
    quick = settings.model_copy(
        update={"instance_heartbeat_seconds": 0.05, "instance_stale_seconds": 0.5}
    )
    lifeline = Lifeline(fault_db, quick)
    assert lifeline.stale_seconds == 0.5

    assert lifeline.tick() == []  # the first beat starts the window
    assert hold_state(fault_db, hold_id) == (HOLD_HELD, ["hold"])
    with fault_db.read() as session:
        me = session.get(ProcessInstance, process_instance_id())
        assert me is not None  # registered by its first beat
        started = me.beat_at
    swept: list[sweeper.SweptHold] = []
    deadline = time.monotonic() + 30  # a hang guard only
    while not swept and time.monotonic() < deadline:
        time.sleep(0.05)
        swept = lifeline.tick()
    assert [s.hold_id for s in swept] == [hold_id]
    with fault_db.read() as session:
        me = session.get(ProcessInstance, process_instance_id())
        assert me is not None and me.beat_at - started >= 0.5


def test_the_lifeline_thread_beats_and_stops(fault_db: Database, settings: Settings) -> None:
    quick = settings.model_copy(update={"instance_heartbeat_seconds": 0.05})
    lifeline = Lifeline(fault_db, quick).start()
    try:
        deadline = time.monotonic() + 30
        beats: set[float] = set()
        while len(beats) < 3 and time.monotonic() < deadline:
            with fault_db.read() as session:
                me = session.get(ProcessInstance, process_instance_id())
                if me is not None:
                    beats.add(me.beat_at)
            time.sleep(0.02)
        assert len(beats) >= 3
    finally:
        lifeline.stop()
    assert lifeline._thread is not None and not lifeline._thread.is_alive()


def concurrent_sweepers_split_the_work(private_postgres_url: str, settings: Settings) -> None:
    """A sweeper skips the holds another one has locked: no hold is released twice."""
    db = Database(private_postgres_url)
    try:
        from tests.conftest import empty_postgres

        empty_postgres(db)
        # One account each: sweepers of one account's holds also queue for its balance row.
        users = [make_user(db, settings, balance_micros=10 * HOLD) for _ in range(3)]
        register(db, "dead", seconds_ago=10 * STALE)
        holds = [hold_for(db, user, f"req-c{n}", owner="dead") for n, user in enumerate(users)]
        inside, other_done = threading.Event(), threading.Event()
        results: dict[str, list[int]] = {}

        def second() -> None:
            inside.wait(30)
            results["second"] = [s.hold_id for s in sweep(db)]
            other_done.set()

        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        with db.write() as session:
            results["first"] = [
                s.hold_id for s in sweeper.sweep(session, stale_seconds=STALE, limit=2)
            ]
            inside.set()
            assert other_done.wait(30), "the second sweeper waited for the first one's locks"
        thread.join(30)
        assert results["first"] == holds[:2]
        assert results["second"] == holds[2:]
        for hold_id in holds:
            assert hold_state(db, hold_id) == (HOLD_RELEASED, ["hold", "release"])
        for n, user in enumerate(users):
            assert history_of(db, user) == [(f"req-c{n}", "failed", sweeper.SWEPT_ERROR)]
        assert sweep(db) == []
    finally:
        db.dispose()


if TEST_DATABASE_URL:  # SKIP LOCKED is PostgreSQL's; SQLite serializes its writers anyway
    test_concurrent_sweepers_on_postgres_split_the_work = concurrent_sweepers_split_the_work
