"""Ledger guarantees: no overdraft under concurrency, exactly-once settlement, reconciliation."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.billing import ledger
from api.billing.models import Hold, LedgerEntry
from api.db import Database
from api.errors import (
    ConflictError,
    InsufficientBalanceError,
    InvalidInputError,
    NotFoundError,
    SpendCapExceededError,
)
from api.keys.models import ApiKey
from api.settings import Settings
from tests.helpers import make_key, make_user

CENT = 10_000  # ¥0.01 in µ¥
YUAN = 1_000_000


@pytest.fixture
def db(any_db: Database) -> Database:
    """Every guarantee here holds on both backends (PostgreSQL posts in one statement each)."""
    return any_db


def entries(db: Database, user_id: int, kind: str | None = None) -> list[LedgerEntry]:
    with db.read() as session:
        statement = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
        if kind:
            statement = statement.where(LedgerEntry.kind == kind)
        return list(session.execute(statement).scalars())


def balance(db: Database, user_id: int) -> int:
    with db.read() as session:
        return ledger.balance_of(session, user_id)


def assert_reconciled(db: Database) -> None:
    with db.read() as session:
        assert ledger.unreconciled_users(session) == []


def charge_once(db: Database, user_id: int, key: str, amount: int = CENT) -> bool:
    """Hold then capture, each in its own transaction, like a request around an engine call."""
    try:
        with db.write() as session:
            hold = ledger.hold(session, user_id, amount, idempotency_key=key)
            hold_id = hold.id
    except InsufficientBalanceError:
        return False
    assert hold_id is not None
    with db.write() as session:
        ledger.capture(session, hold_id, amount)
    return True


def test_200_concurrent_charges_against_one_yuan(any_db: Database, settings: Settings) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    barrier = threading.Barrier(200)
    results: list[bool] = []
    lowest_seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            lowest_seen.append(balance(any_db, user_id))
            stop.wait(0.001)

    def worker(index: int) -> None:
        barrier.wait()
        results.append(charge_once(any_db, user_id, f"req-{index}"))

    poller = threading.Thread(target=poll)
    poller.start()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    poller.join()

    assert results.count(True) == 100
    assert results.count(False) == 100
    assert balance(any_db, user_id) == 0
    assert min(lowest_seen) >= 0
    assert len(entries(any_db, user_id, "capture")) == 100
    assert sum(e.amount_micros for e in entries(any_db, user_id, "hold")) == -YUAN
    assert_reconciled(any_db)


def _charge_in_process(url: str, user_id: int, start: int, count: int, barrier, out) -> None:  # noqa: ANN001
    database = Database(url)
    barrier.wait()
    wins = sum(charge_once(database, user_id, f"p-{start + i}") for i in range(count))
    out.put(wins)
    database.dispose()


def test_sqlite_file_locking_across_processes(db: Database, settings: Settings) -> None:
    """Four OS processes share the file: SQLite's own lock (not ours) must keep it exact."""
    user_id = make_user(db, settings, balance_micros=YUAN)
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_charge_in_process, args=(db.url, user_id, i * 50, 50, barrier, out))
        for i in range(4)
    ]
    for process in processes:
        process.start()
    wins = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert sum(wins) == 100
    assert balance(db, user_id) == 0
    assert len(entries(db, user_id, "capture")) == 100
    assert_reconciled(db)


def test_capture_returns_unused_part_and_replays_are_no_ops(db: Database, settings: Settings):
    user_id = make_user(db, settings, balance_micros=YUAN)
    with db.write() as session:
        hold = ledger.hold(session, user_id, 30_000, idempotency_key="job-1")
        again = ledger.hold(session, user_id, 30_000, idempotency_key="job-1")
        assert again.id == hold.id
    assert balance(db, user_id) == YUAN - 30_000
    with db.write() as session:
        first = ledger.capture(session, hold.id, 12_345)
        second = ledger.capture(session, hold.id, 12_345)
    assert first.settled_now and not second.settled_now
    assert balance(db, user_id) == YUAN - 12_345
    assert len(entries(db, user_id, "capture")) == 1
    with db.write() as session, pytest.raises(ConflictError):
        ledger.release(session, hold.id)
    assert_reconciled(db)


def test_release_gives_everything_back_once(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=YUAN)
    with db.write() as session:
        hold = ledger.hold(session, user_id, 50_000, idempotency_key="r")
    with db.write() as session:
        assert ledger.release(session, hold.id).settled_now
        assert not ledger.release(session, hold.id).settled_now
    assert balance(db, user_id) == YUAN
    kinds = sorted(e.kind for e in entries(db, user_id))
    assert kinds == ["grant", "hold", "release"]


def test_capture_cannot_exceed_hold(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=YUAN)
    with db.write() as session:
        hold = ledger.hold(session, user_id, 100, idempotency_key="x")
    with db.write() as session, pytest.raises(ValueError):
        ledger.capture(session, hold.id, 101)


def test_other_users_hold_is_not_found(db: Database, settings: Settings) -> None:
    alice = make_user(db, settings, balance_micros=YUAN)
    bob = make_user(db, settings, balance_micros=YUAN)
    with db.write() as session:
        hold = ledger.hold(session, alice, 100, idempotency_key="x")
    with db.write() as session, pytest.raises(NotFoundError):
        ledger.capture(session, hold.id, 100, user_id=bob)
    assert balance(db, alice) == YUAN - 100


def test_failed_hold_writes_nothing(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=CENT)
    with pytest.raises(InsufficientBalanceError), db.write() as session:
        ledger.hold(session, user_id, CENT + 1, idempotency_key="too-much")
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Hold)).scalar_one() == 0
    assert len(entries(db, user_id)) == 1


def test_spend_cap_is_reserved_at_hold_and_trued_up(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=YUAN)
    key_id, _ = make_key(db, settings, user_id, spend_cap_micros=25_000)
    with db.write() as session:
        first = ledger.hold(session, user_id, 20_000, idempotency_key="a", api_key_id=key_id)
    with db.write() as session, pytest.raises(SpendCapExceededError):
        ledger.hold(session, user_id, 10_000, idempotency_key="b", api_key_id=key_id)
    with db.write() as session:
        ledger.capture(session, first.id, 5_000)  # frees 15 000 of the cap
    with db.write() as session:
        ledger.hold(session, user_id, 20_000, idempotency_key="c", api_key_id=key_id)
    assert balance(db, user_id) == YUAN - 25_000


def test_adjustment_never_goes_below_zero(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=CENT)
    with db.write() as session, pytest.raises(InsufficientBalanceError):
        ledger.adjust(session, user_id, -CENT - 1, note="too much")
    with db.write() as session:
        ledger.adjust(session, user_id, -CENT, note="exactly all")
    assert balance(db, user_id) == 0
    with db.write() as session, pytest.raises(InvalidInputError):
        ledger.adjust(session, user_id, 0, note="nothing")


def test_credit_idempotency(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=0)
    with db.write() as session:
        ledger.credit(session, user_id, YUAN, kind="grant", idempotency_key="promo")
        ledger.credit(session, user_id, YUAN, kind="grant", idempotency_key="promo")
    assert balance(db, user_id) == YUAN


def test_balance_check_constraint_is_a_last_line(db: Database, settings: Settings, tmp_path: Path):
    """Even a raw UPDATE that bypasses the service cannot store a negative balance."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    user_id = make_user(db, settings, balance_micros=CENT)
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(
            text("UPDATE users SET balance_micros = -1 WHERE id = :id"), {"id": user_id}
        )


def key_spent(db: Database, key_id: int) -> int:
    with db.read() as session:
        return session.execute(select(ApiKey.spent_micros).where(ApiKey.id == key_id)).scalar_one()


def test_a_refused_hold_changes_nothing_not_even_the_keys_reservation(
    any_db: Database, settings: Settings
) -> None:
    """On PostgreSQL ``hold_now`` runs in autocommit: the statement itself must not reserve
    the key's spend when the balance then refuses (there is no transaction to roll it back)."""
    _refuse_holds(any_db, settings)


def _refuse_holds(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=CENT)
    key_id, _ = make_key(db, settings, user_id, spend_cap_micros=YUAN)
    tight_id, _ = make_key(db, settings, user_id, spend_cap_micros=CENT // 2)
    for hold in (
        lambda key, id_: ledger.hold_now(
            db, user_id, 2 * CENT, idempotency_key=key, api_key_id=id_
        ),
        lambda key, id_: _hold_in_session(db, user_id, 2 * CENT, key, id_),
    ):
        with pytest.raises(InsufficientBalanceError):
            hold("short", key_id)
        # Both refuse: the cap is named first, as it is checked first.
        with pytest.raises(SpendCapExceededError):
            hold("both", tight_id)
        assert key_spent(db, key_id) == 0 and key_spent(db, tight_id) == 0
        assert balance(db, user_id) == CENT
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Hold)).scalar_one() == 0
    assert_reconciled(db)


def _hold_in_session(db: Database, user_id: int, amount: int, key: str, key_id: int) -> Hold:
    with db.write() as session:
        return ledger.hold(session, user_id, amount, idempotency_key=key, api_key_id=key_id)


def test_the_session_free_doors_keep_every_guarantee(any_db: Database, settings: Settings) -> None:
    """``hold_now``/``capture_now``/``release_now``: no overdraft under concurrency, replays
    change nothing, a settled hold refuses the other settlement.

    Several rounds: on PostgreSQL, a hold whose key reservation followed the verdict rather
    than the debit failed about one round in four here (a debit refused after a concurrent
    refund, the key's spend reserved all the same)."""
    for _ in range(5):
        _session_free_round(any_db, settings)


def _session_free_round(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings, balance_micros=20 * CENT)
    key_id, _ = make_key(db, settings, user_id, spend_cap_micros=YUAN)
    barrier = threading.Barrier(40)
    charged: list[int] = []

    def worker(index: int) -> None:
        barrier.wait()
        try:
            hold_id = ledger.hold_now(
                db, user_id, CENT, idempotency_key=f"now-{index}", api_key_id=key_id
            ).hold_id
        except InsufficientBalanceError:
            return
        ledger.capture_now(db, hold_id, CENT // 2, user_id=user_id)
        charged.append(hold_id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each capture gave half back, so later holds could use it: between 20 and 39 got through.
    assert 20 <= len(charged) < 40
    assert balance(db, user_id) == 20 * CENT - len(charged) * CENT // 2
    assert key_spent(db, key_id) == len(charged) * CENT // 2

    before = balance(db, user_id)
    posted = ledger.hold_now(db, user_id, CENT, idempotency_key="now-" + "x", api_key_id=key_id)
    again = ledger.hold_now(db, user_id, CENT, idempotency_key="now-" + "x", api_key_id=key_id)
    assert posted.balance_after_micros == before - CENT == balance(db, user_id)  # reserved once
    assert again.replayed and again.hold_id == posted.hold_id
    assert again.balance_after_micros is None  # a replay changed nothing, so it tells nothing
    replay = posted.hold_id
    with db.read() as session:
        held = session.get(Hold, replay)
        assert held is not None and held.status == "held"
    released = ledger.release_now(db, replay, user_id=user_id)
    assert released.settled_now and released.balance_after_micros == balance(db, user_id)
    assert not ledger.release_now(db, replay, user_id=user_id).settled_now
    with pytest.raises(ConflictError):
        ledger.capture_now(db, replay, CENT, user_id=user_id)
    with pytest.raises(NotFoundError):
        ledger.capture_now(db, replay, CENT, user_id=user_id + 1)
    assert_reconciled(db)


def test_rows_written_beside_a_capture_read_back_and_roll_back_with_it(
    db: Database, settings: Settings
) -> None:
    """``capture_now(also=...)``: rows inserted on the bare connection (``DriverConnection.insert``)
    read back through the ORM exactly as written, and a failure in ``also`` undoes the capture
    too (one transaction on both backends)."""
    from api.history import service as history
    from api.history.models import HistoryRecord

    user_id = make_user(db, settings, balance_micros=YUAN)
    row = history.record_fields(
        user_id=user_id,
        type="tts",
        model="tts-1",
        input_summary={"text": '你好 "quoted"', "voice": "alloy"},
        output_key="tts/2026/12/05/x.wav",
        duration_ms=1234,
        cost_micros=CENT,
    )
    first = ledger.hold_now(db, user_id, CENT, idempotency_key="rows-1").hold_id

    written: list[int] = []

    def write(target) -> None:  # noqa: ANN001
        written.append(target.insert(HistoryRecord, row))

    before = datetime.now(UTC)
    ledger.capture_now(db, first, CENT, also=write)
    with db.read() as session:
        stored = session.get(HistoryRecord, written[0])
    assert stored is not None
    assert stored.input_summary == {"text": '你好 "quoted"', "voice": "alloy"}
    assert (stored.output_key, stored.duration_ms, stored.cost_micros, stored.status) == (
        "tts/2026/12/05/x.wav",
        1234,
        CENT,
        "succeeded",
    )
    # The model's defaults fill what the fields leave out; times read back as written.
    assert (stored.model, stored.error) == ("tts-1", None)
    assert abs((stored.created_at.replace(tzinfo=UTC) - before).total_seconds()) < 5

    second = ledger.hold_now(db, user_id, CENT, idempotency_key="rows-2").hold_id

    def broken(_target) -> None:  # noqa: ANN001
        raise RuntimeError("the history row could not be written")

    with pytest.raises(RuntimeError):
        ledger.capture_now(db, second, CENT, also=broken)
    with db.read() as session:
        still = session.get(Hold, second)
    assert still is not None and still.status == "held"  # the capture went with the failure
    assert balance(db, user_id) == YUAN - 2 * CENT
    assert_reconciled(db)
