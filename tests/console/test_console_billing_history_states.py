"""Billing and history states in-process: another user's ids do nothing, and state stays small.

The handlers run as Reflex runs them, on a state tree whose websocket carried a real console
session cookie; the session is resolved against a test database. User B sends user A's record
ids to every handler that takes one and must learn or change nothing.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from reflex_base.event import EventSpec
from sqlalchemy import select

from api.billing import codes, ledger
from api.billing.models import LedgerEntry
from api.db import Database
from api.history import service as history
from api.history.models import HistoryRecord
from api.ratelimit import MemoryRateLimiter
from api.settings import Settings
from api.storage.local import LocalObjectStore
from api.storage.service import store_bytes
from console.state import billing as billing_state
from console.state import history as history_state
from console.state import session as session_state
from console.state.billing import BillingState
from console.state.history import HistoryState
from tests.console.harness import signed_in_tree, substate, use_test_database
from tests.helpers import make_user

pytestmark = pytest.mark.anyio

YUAN = 1_000_000
TRANSCRIPT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def console_env(
    db: Database, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalObjectStore]:
    """Point the console's process-wide database, settings, store and limiter at the test's."""
    store = LocalObjectStore(tmp_path / "objects", settings.secret_key)
    limiter = MemoryRateLimiter()
    use_test_database(monkeypatch, db, settings, session_state, history_state, billing_state)
    monkeypatch.setattr(history_state, "get_object_store", lambda *_: store)
    monkeypatch.setattr(billing_state, "get_rate_limiter", lambda: limiter)
    monkeypatch.setattr(billing_state, "get_catalog", _catalog)
    yield store


def _catalog():
    from api.catalog.catalog import load_catalog

    return load_catalog()


def _operations(db: Database, store: LocalObjectStore, user_id: int) -> dict[str, int]:
    """A charged TTS with stored audio and a charged ASR with a transcript."""
    ids = {}
    for kind, cost in (("tts", 12_345), ("asr", 6_000)):
        with db.write() as session:
            hold = ledger.hold(
                session, user_id, cost, idempotency_key=f"{kind}:req-{kind}", purpose=kind
            )
            assert hold.id is not None
            ledger.capture(session, hold.id, cost, user_id=user_id)
            output_key = None
            if kind == "tts":
                stored = store_bytes(
                    session, store, user_id=user_id, kind="tts", ext="wav", data=b"RIFFxxxxWAVE"
                )
                output_key = stored.key
            row = history.record(
                session,
                user_id=user_id,
                type=kind,
                model="tts-1" if kind == "tts" else "whisper-1",
                cost_micros=cost,
                characters=12 if kind == "tts" else None,
                duration_ms=None if kind == "tts" else 3_000,
                output_key=output_key,
                output_text=TRANSCRIPT if kind == "asr" else None,
                request_id=f"req-{kind}",
            )
            assert row.id is not None
            ids[kind] = row.id
    return ids


def _ledger_of(db: Database, user_id: int) -> list[tuple[int, str, int]]:
    with db.read() as session:
        rows = session.execute(
            select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.amount_micros).where(
                LedgerEntry.user_id == user_id
            )
        ).all()
    return [tuple(r) for r in rows]


async def test_user_b_cannot_see_or_touch_user_a_records(
    db: Database, settings: Settings, console_env: LocalObjectStore
) -> None:
    alice = make_user(db, settings, balance_micros=YUAN)
    bob = make_user(db, settings, balance_micros=YUAN)
    records = _operations(db, console_env, alice)
    alice_ledger = _ledger_of(db, alice)

    root = signed_in_tree(db, settings, bob, "/history")
    bobs_history = substate(root, HistoryState)
    await HistoryState.load.fn(bobs_history)
    assert bobs_history.loaded and bobs_history.total == 0 and bobs_history.rows == []

    for record_id in records.values():
        for handler in (HistoryState.play, HistoryState.download_audio):
            await handler.fn(bobs_history, str(record_id))
        await HistoryState.show_transcript.fn(bobs_history, str(record_id))
        await HistoryState.delete.fn(bobs_history, str(record_id))
        # The page's one confirmation dialog: asked about alice's record, confirmed by bob.
        HistoryState.ask_delete.fn(bobs_history, str(record_id))
        await HistoryState.confirm_delete.fn(bobs_history)
    # Ids that are not numbers at all change nothing either.
    for junk in ("", "-1", "1 OR 1=1", "9" * 40):
        await HistoryState.delete.fn(bobs_history, junk)
        await HistoryState.play.fn(bobs_history, junk)

    # Asking the dialogs to open by themselves shows nothing either.
    await HistoryState.set_player_open.fn(bobs_history, True)
    await HistoryState.set_transcript_open.fn(bobs_history, True)
    assert bobs_history.player_url == "" and not bobs_history.player_open
    assert bobs_history.transcript_text == "" and not bobs_history.transcript_open
    assert await HistoryState.download_transcript.fn(bobs_history) is None
    with db.read() as session:
        assert {r.id for r in session.execute(select(HistoryRecord)).scalars()} == set(
            records.values()
        )
    assert _ledger_of(db, alice) == alice_ledger
    assert all(console_env.exists(k) for k in _output_keys(db, alice))

    bobs_billing = substate(root, BillingState)
    await BillingState.load.fn(bobs_billing)
    assert bobs_billing.balance == "1.0000"
    assert [e["kind"] for e in bobs_billing.entries] == ["grant"]
    assert bobs_billing.by_model == [] and bobs_billing.by_key == []
    assert bobs_billing.spend_total == "0.0000"
    exported = _csv_of([event async for event in BillingState.export_csv.fn(bobs_billing)])
    assert [line.split(",")[2] for line in exported.splitlines()[1:]] == ["grant"]


def _output_keys(db: Database, user_id: int) -> list[str]:
    with db.read() as session:
        rows, _ = history.list_records(session, user_id=user_id, limit=100)
    return [r.output_key for r in rows if r.output_key]


def _csv_of(events: list) -> str:
    """The file the ``rx.download(data=...)`` event among ``events`` hands the browser."""
    downloads = [e for e in events if isinstance(e, EventSpec) and "_download" in repr(e.handler)]
    assert len(downloads) == 1, events
    download = downloads[0]
    arguments = {name._js_expr: value._var_value for name, value in download.args}
    assert arguments["filename"].endswith(".csv")
    head, _, body = arguments["url"].partition("base64,")
    assert head.startswith("data:text/csv")
    return base64.b64decode(body).decode("utf-8-sig")


async def test_owner_replays_reads_and_deletes_without_touching_the_ledger(
    db: Database, settings: Settings, console_env: LocalObjectStore
) -> None:
    alice = make_user(db, settings, balance_micros=YUAN)
    records = _operations(db, console_env, alice)
    before = _ledger_of(db, alice)

    root = signed_in_tree(db, settings, alice, "/history")
    state = substate(root, HistoryState)
    await HistoryState.load.fn(state)
    assert [r["type"] for r in state.rows] == ["asr", "tts"]
    tts_row = next(r for r in state.rows if r["type"] == "tts")
    assert tts_row["cost"] == "0.0123" and tts_row["has_audio"] == "1"
    assert tts_row["request_id"] == "req-tts" and tts_row["via_key"] == ""

    await HistoryState.play.fn(state, str(records["tts"]))
    assert state.player_open and "/files/" in state.player_url and "sig=" in state.player_url
    await HistoryState.show_transcript.fn(state, str(records["asr"]))
    assert state.transcript_text == TRANSCRIPT
    # A TTS record has no transcript, an ASR record no audio.
    state.transcript_text = ""
    await HistoryState.show_transcript.fn(state, str(records["tts"]))
    assert state.transcript_text == ""

    await HistoryState.set_record_type.fn(state, "asr")
    assert [r["type"] for r in state.rows] == ["asr"]
    await HistoryState.set_record_type.fn(state, "bogus")
    assert state.record_type == "" and state.total == 2

    await HistoryState.delete.fn(state, str(records["tts"]))
    assert [r["type"] for r in state.rows] == ["asr"]
    assert _ledger_of(db, alice) == before
    assert _output_keys(db, alice) == []

    billing = substate(root, BillingState)
    await BillingState.load.fn(billing)
    # Spend comes from the ledger: deleting history leaves it as it was.
    assert billing.spend_total == "0.0183"
    assert billing.balance == "0.9817"
    capture = next(e for e in billing.entries if e["kind"] == "capture" and e["purpose"] == "tts")
    assert capture["charged"] == "0.0123"


async def test_redeeming_a_code_and_friendly_errors(
    db: Database, settings: Settings, console_env: LocalObjectStore
) -> None:
    alice = make_user(db, settings, balance_micros=YUAN)
    with db.write() as session:
        (code,) = codes.create_codes(
            session, amount_micros=5 * YUAN, count=1, secret_key=settings.secret_key
        )
    root = signed_in_tree(db, settings, alice, "/history")
    state = substate(root, BillingState)
    await BillingState.load.fn(state)

    async def redeem(text: str) -> None:
        async for _ in BillingState.redeem.fn(state, {"code": text}):
            pass

    await redeem(code.lower())
    assert state.redeem_error == "" and state.balance == "6.0000"
    assert state.entries[0]["kind"] == "redeem" and state.entries[0]["code"] == code[-4:]
    await redeem(code)
    assert state.redeem_error == "This code is not valid or has already been used."
    assert state.balance == "6.0000"
    await redeem("")
    assert state.redeem_error == "Enter a code."


async def test_state_stays_small_with_1000_history_rows(
    db: Database, settings: Settings, console_env: LocalObjectStore
) -> None:
    alice = make_user(db, settings, balance_micros=100 * YUAN)
    with db.write() as session:
        for index in range(1000):
            with session.no_autoflush:
                history.record(
                    session,
                    user_id=alice,
                    type=("tts", "asr", "sed", "voice")[index % 4],
                    model="cosyvoice-v3-flash",
                    voice="longanyang",
                    input_summary={"text": "你好，世界。" * 80},
                    output_text="转写文本" * 500,
                    characters=480,
                    cost_micros=13_761,
                    request_id=f"req-{index:032d}",
                )
        for index in range(300):
            hold = ledger.hold(session, alice, 13_761, idempotency_key=f"r{index}", purpose="tts")
            assert hold.id is not None
            ledger.capture(session, hold.id, 13_761)

    root = signed_in_tree(db, settings, alice, "/history")
    history_view = substate(root, HistoryState)
    billing_view = substate(root, BillingState)
    await HistoryState.load.fn(history_view)
    await BillingState.load.fn(billing_view)
    for _ in range(3):
        await HistoryState.next_page.fn(history_view)
    await BillingState.set_spend_days.fn(billing_view, "90")

    assert history_view.total == 1000 and len(history_view.rows) == 20
    assert billing_view.total == 601 and len(billing_view.entries) == 20
    for view in (history_view, billing_view):
        sent = len(json.dumps(view.dict(), ensure_ascii=False, default=str).encode())
        kept = len(pickle.dumps(view._serialize())) if hasattr(view, "_serialize") else 0
        assert sent < 40_000, (type(view).__name__, sent)
        assert kept < 60_000, (type(view).__name__, kept)
