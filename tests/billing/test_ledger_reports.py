"""Ledger reports: spend per day and per API key from captured holds, CSV export, price text."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from api.billing import ledger
from api.billing.pricing import PriceRule
from api.db import Database, utcnow
from api.settings import Settings
from tests.helpers import make_key, make_user

YUAN = 1_000_000


def _spend(db: Database, user_id: int, key: str, held: int, charged: int | None, **options) -> int:
    """Hold ``held``; capture ``charged`` (None: release). Returns the hold id."""
    with db.write() as session:
        hold = ledger.hold(session, user_id, held, idempotency_key=key, **options)
        assert hold.id is not None
        if charged is None:
            ledger.release(session, hold.id)
        else:
            ledger.capture(session, hold.id, charged)
        return hold.id


def test_spend_counts_captured_charges_by_day_purpose_and_key(
    any_db: Database, settings: Settings
) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    other = make_user(any_db, settings, balance_micros=YUAN)
    key_id, _ = make_key(any_db, settings, user_id)
    _spend(any_db, user_id, "a", 20_000, 12_345, purpose="tts", api_key_id=key_id)
    _spend(any_db, user_id, "b", 5_000, 5_000, purpose="tts")
    _spend(any_db, user_id, "c", 7_000, 6_999, purpose="asr", api_key_id=key_id)
    _spend(any_db, user_id, "d", 9_000, None, purpose="sed")  # released: not spend
    with any_db.write() as session:
        ledger.hold(session, user_id, 4_000, idempotency_key="e", purpose="tts")  # still held
    _spend(any_db, other, "a", 50_000, 50_000, purpose="tts")

    today = utcnow().date().isoformat()
    with any_db.read() as session:
        by_day = ledger.spend_by_day(session, user_id)
        by_key = ledger.spend_by_key(session, user_id)
        tomorrow = ledger.spend_by_day(session, user_id, since=utcnow() + timedelta(days=1))

    assert [(s.day, s.purpose, s.calls, s.charged_micros) for s in by_day] == [
        (today, "asr", 1, 6_999),
        (today, "tts", 2, 17_345),
    ]
    assert [(s.api_key_id, s.calls, s.charged_micros) for s in by_key] == [
        (key_id, 2, 19_344),
        (None, 1, 5_000),
    ]
    assert tomorrow == []
    # Spend is exactly what the hold and capture entries of those operations add up to.
    with any_db.read() as session:
        entries, _ = ledger.list_entries(session, user_id, limit=100)
    settled_holds = {e.hold_id for e in entries if e.kind == "capture"}
    net = sum(e.amount_micros for e in entries if e.hold_id in settled_holds)
    assert -net == sum(s.charged_micros for s in by_day)


def test_holds_by_id_leaves_out_other_users_holds(any_db: Database, settings: Settings) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    other = make_user(any_db, settings, balance_micros=YUAN)
    mine = _spend(any_db, user_id, "m", 1_000, 900)
    theirs = _spend(any_db, other, "t", 1_000, 900)

    with any_db.read() as session:
        found = ledger.holds_by_id(session, user_id, [mine, theirs])
        assert ledger.holds_by_id(session, user_id, []) == {}

    assert set(found) == {mine}
    assert found[mine].captured_micros == 900


def test_csv_export_has_the_filtered_entries_with_signed_amounts(
    any_db: Database, settings: Settings
) -> None:
    user_id = make_user(any_db, settings, balance_micros=YUAN)
    other = make_user(any_db, settings, balance_micros=YUAN)
    _spend(any_db, user_id, "a", 20_000, 12_345, purpose="tts")
    _spend(any_db, other, "b", 30_000, 30_000, purpose="tts")
    with any_db.write() as session:
        ledger.adjust(session, user_id, -1, note="=HYPERLINK(evil)")

    with any_db.read() as session:
        text, count = ledger.entries_csv(session, user_id)
        holds_only, held = ledger.entries_csv(session, user_id, kinds=["hold"])
        capped, capped_count = ledger.entries_csv(session, user_id, max_rows=2)
        entries, total = ledger.list_entries(session, user_id, limit=100)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == total == len(rows) == 4
    assert [r["id"] for r in rows] == [str(e.id) for e in entries]
    assert [r["kind"] for r in rows] == ["adjustment", "capture", "hold", "grant"]
    assert [r["amount"] for r in rows] == ["-0.0000", "+0.0077", "-0.0200", "+1.0000"]
    assert rows[0]["balance_after"] == "0.9877"
    assert rows[0]["description"] == "'=HYPERLINK(evil)"
    assert [r["kind"] for r in csv.DictReader(io.StringIO(holds_only))] == ["hold"]
    assert held == 1
    assert capped_count == 2
    assert [r["kind"] for r in csv.DictReader(io.StringIO(capped))] == ["adjustment", "capture"]


def test_price_text_has_no_trailing_zeros() -> None:
    assert PriceRule.parse("call", "0.0100").yuan() == "0.01"
    assert PriceRule.parse("10k_characters", "0.14335").yuan() == "0.14335"
    assert PriceRule.parse("second", "0").yuan() == "0"
    assert PriceRule.parse("call", "2").describe() == "¥2 / call"
