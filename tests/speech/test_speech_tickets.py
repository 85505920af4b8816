"""Speech tickets: parked once, redeemed once and only by their account, outcomes kept apart."""

from __future__ import annotations

import time
import uuid

import pytest

from api.billing import ledger
from api.errors import InsufficientBalanceError, InvalidInputError, NotFoundError
from api.speech import tickets
from api.speech.synthesis import SpeechOrder
from api.speech.tickets import (
    FAILED,
    STREAMING,
    SUCCEEDED,
    MemoryTicketStore,
    Outcome,
    RedisTicketStore,
    TicketStore,
    is_pending,
    issue_ticket,
    outcome_of,
    park_order,
    redeem_ticket,
    report_outcome,
)
from tests.conftest import TEST_REDIS_URL
from tests.helpers import make_user
from tests.speech.conftest import caller_for

STORES = ["memory"] + (["redis"] if TEST_REDIS_URL else [])
ORDER = SpeechOrder(model="Qwen3-TTS", text="你好，世界。" * 400, voice="default", speed=1.5)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> TicketStore:
    if request.param == "memory":
        return MemoryTicketStore()
    return RedisTicketStore(TEST_REDIS_URL, prefix=f"amphion-test:{uuid.uuid4().hex}:")


def test_a_ticket_gives_back_the_whole_order_once(store: TicketStore) -> None:
    ticket = issue_ticket(store, user_id=7, order=ORDER, long=True)
    assert len(ticket.id) >= 32 and ticket.request_id.startswith("console-")
    assert is_pending(store, ticket.id)

    redeemed = redeem_ticket(store, ticket.id, user_id=7)

    assert redeemed.order == ORDER
    assert redeemed.long is True
    assert redeemed.request_id == ticket.request_id
    assert not is_pending(store, ticket.id)
    assert outcome_of(store, ticket.id, user_id=7) == Outcome(STREAMING)
    with pytest.raises(NotFoundError):
        redeem_ticket(store, ticket.id, user_id=7)


def test_another_account_cannot_redeem_or_spend_a_ticket(store: TicketStore) -> None:
    ticket = issue_ticket(store, user_id=7, order=ORDER, long=False)

    with pytest.raises(NotFoundError) as refused:
        redeem_ticket(store, ticket.id, user_id=8)

    assert refused.value.message == tickets.TICKET_NOT_FOUND
    # Still there for its owner.
    assert redeem_ticket(store, ticket.id, user_id=7).order == ORDER


def test_unknown_tickets_are_not_found(store: TicketStore) -> None:
    with pytest.raises(NotFoundError):
        redeem_ticket(store, "no-such-ticket", user_id=7)


def test_outcomes_are_read_by_their_account_only(store: TicketStore) -> None:
    ticket = issue_ticket(store, user_id=7, order=ORDER, long=False)
    assert outcome_of(store, ticket.id, user_id=7) is None
    redeem_ticket(store, ticket.id, user_id=7)

    report_outcome(store, ticket, Outcome(SUCCEEDED, record_id=41))

    assert outcome_of(store, ticket.id, user_id=7) == Outcome(SUCCEEDED, record_id=41)
    assert outcome_of(store, ticket.id, user_id=8) is None
    refused = Outcome(FAILED, message="Insufficient balance")
    report_outcome(store, ticket, refused)
    assert outcome_of(store, ticket.id, user_id=7) == refused


def test_tickets_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryTicketStore()
    monkeypatch.setattr(tickets, "TICKET_TTL_SECONDS", 0)
    ticket = issue_ticket(store, user_id=7, order=ORDER, long=False)
    time.sleep(0.01)
    assert not is_pending(store, ticket.id)
    with pytest.raises(NotFoundError):
        redeem_ticket(store, ticket.id, user_id=7)


def test_the_console_and_the_route_share_one_store_per_url() -> None:
    assert tickets.ticket_store_for("") is tickets.ticket_store_for("")


def test_parking_checks_prices_and_picks_the_long_path(db, settings, speech) -> None:
    store = MemoryTicketStore()
    caller = caller_for(make_user(db, settings, balance_micros=1_000_000))
    short = SpeechOrder(model="cosyvoice-v3-flash", text="你好。", voice="longanyang")
    ticket, characters, cost = park_order(speech, store, caller, short)
    assert (ticket.long, characters, cost) == (False, 3, 44)  # ¥0.14335 / 10k, rounded up

    long_text = "This sentence is part of a long text. " * 60  # 2,280 > 2,000 characters
    long = SpeechOrder(model="cosyvoice-v3-flash", text=long_text, voice="longanyang")
    assert park_order(speech, store, caller, long)[0].long is True

    with pytest.raises(InvalidInputError):  # another model's voice
        park_order(speech, store, caller, SpeechOrder(model="Qwen3-TTS", text="Hi", voice="alloy"))
    with db.write() as session:
        ledger.hold(session, caller.user_id, 999_990, idempotency_key="drain")
    with pytest.raises(InsufficientBalanceError):
        park_order(speech, store, caller, SpeechOrder(model="Qwen3-TTS", text="Hi"))
    # Nothing was held or charged by parking.
    with db.read() as session:
        assert ledger.balance_of(session, caller.user_id) == 10
