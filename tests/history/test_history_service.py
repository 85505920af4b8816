"""History service: deleting one's own records (never the ledger), and usage totals per group."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.billing import ledger
from api.billing.models import LedgerEntry
from api.db import Database, utcnow
from api.errors import ConflictError, NotFoundError
from api.history import service as history
from api.history.models import HistoryRecord
from api.settings import Settings
from api.storage.local import LocalObjectStore
from api.storage.service import find_object, store_bytes
from tests.helpers import make_key, make_user

YUAN = 1_000_000


def _charged_record(db: Database, user_id: int, request_id: str, cost: int, **fields) -> int:
    """A hold, its capture and the history row, as a speech use case writes them."""
    with db.write() as session:
        hold = ledger.hold(session, user_id, cost, idempotency_key=f"tts:{request_id}")
        assert hold.id is not None
        ledger.capture(session, hold.id, cost, user_id=user_id)
        row = history.record(
            session, user_id=user_id, type="tts", cost_micros=cost, request_id=request_id, **fields
        )
        assert row.id is not None
        return row.id


def _ledger_snapshot(db: Database, user_id: int) -> tuple[int, list[tuple[str, int]]]:
    with db.read() as session:
        entries, _ = ledger.list_entries(session, user_id, limit=1000)
        return ledger.balance_of(session, user_id), [(e.kind, e.amount_micros) for e in entries]


def test_deleting_a_record_removes_it_and_its_audio_but_not_the_ledger(
    any_db: Database, settings: Settings, tmp_path
) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    store = LocalObjectStore(tmp_path / "objects", settings.secret_key)
    with any_db.write() as session:
        stored = store_bytes(
            session, store, user_id=user_id, kind="tts", ext="wav", data=b"RIFF....WAVE"
        )
        key = stored.key
    record_id = _charged_record(any_db, user_id, "req-1", 12_345, output_key=key)
    before = _ledger_snapshot(any_db, user_id)

    with any_db.write() as session:
        history.delete_record(session, user_id=user_id, record_id=record_id, store=store)

    with any_db.read() as session:
        assert session.get(HistoryRecord, record_id) is None
        assert find_object(session, key) is None
    assert not store.exists(key)
    assert _ledger_snapshot(any_db, user_id) == before
    with any_db.read() as session:
        assert ledger.unreconciled_users(session) == []


def test_someone_elses_record_cannot_be_deleted(any_db: Database, settings: Settings) -> None:
    owner = make_user(any_db, settings, balance_micros=YUAN)
    intruder = make_user(any_db, settings, balance_micros=YUAN)
    record_id = _charged_record(any_db, owner, "req-a", 10_000)

    with any_db.write() as session, pytest.raises(NotFoundError):
        history.delete_record(session, user_id=intruder, record_id=record_id)
    with any_db.write() as session, pytest.raises(NotFoundError):
        history.delete_record(session, user_id=intruder, record_id=record_id + 999)

    with any_db.read() as session:
        assert session.get(HistoryRecord, record_id) is not None


def test_a_running_operation_cannot_be_deleted(any_db: Database, settings: Settings) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    with any_db.write() as session:
        row = history.record(session, user_id=user_id, type="asr", status="running")
        record_id = row.id
    assert record_id is not None

    with any_db.write() as session, pytest.raises(ConflictError):
        history.delete_record(session, user_id=user_id, record_id=record_id)
    with any_db.read() as session:
        assert session.get(HistoryRecord, record_id) is not None


def test_usage_totals_group_succeeded_operations_costliest_first(
    any_db: Database, settings: Settings
) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    other = make_user(any_db, settings, balance_micros=YUAN)
    key_id, _ = make_key(any_db, settings, user_id)
    with any_db.write() as session:
        for model, cost, key in (
            ("tts-1", 3_000, key_id),
            ("tts-1", 4_000, None),
            ("Qwen3-TTS", 10_000, key_id),
        ):
            history.record(
                session,
                user_id=user_id,
                type="tts",
                model=model,
                characters=10,
                cost_micros=cost,
                api_key_id=key,
            )
        history.record(session, user_id=user_id, type="tts", model="tts-1", status="failed")
        history.record(session, user_id=other, type="tts", model="tts-1", cost_micros=99_000)

    with any_db.read() as session:
        by_model = history.usage_totals(session, user_id=user_id, group_by="model")
        by_key = history.usage_totals(session, user_id=user_id, group_by="key")
        later = history.usage_totals(
            session, user_id=user_id, since=utcnow() + timedelta(days=1), group_by="model"
        )

    assert [(t.group, t.calls, t.characters, t.cost_micros) for t in by_model] == [
        ("Qwen3-TTS", 1, 10, 10_000),
        ("tts-1", 2, 20, 7_000),
    ]
    assert [(t.group, t.cost_micros) for t in by_key] == [(key_id, 13_000), (None, 4_000)]
    assert later == []


def test_history_records_count_is_unchanged_for_others_after_a_delete(
    any_db: Database, settings: Settings
) -> None:
    first = make_user(any_db, settings, balance_micros=YUAN)
    second = make_user(any_db, settings, balance_micros=YUAN)
    mine = _charged_record(any_db, first, "req-x", 1_000)
    _charged_record(any_db, second, "req-y", 1_000)

    with any_db.write() as session:
        history.delete_record(session, user_id=first, record_id=mine)

    with any_db.read() as session:
        counts = dict(
            session.execute(
                select(HistoryRecord.user_id, func.count()).group_by(HistoryRecord.user_id)
            ).all()
        )
        entries = session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
    assert counts == {second: 1}
    # Each user: a grant, a hold and a capture, all still there.
    assert entries == 6
