"""The playground's streamed speech: a parked order played by its own session, once, billed and
recorded like any other synthesis; the outcome is left for the console."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.billing import ledger
from api.history.models import HistoryRecord
from api.http.context import AppContext
from api.speech.synthesis import SpeechOrder
from api.speech.tickets import (
    FAILED,
    SUCCEEDED,
    issue_ticket,
    outcome_of,
    ticket_store_for,
)
from tests.helpers import make_key
from tests.http.conftest import SignUp
from tests.speech.conftest import fakes, speech  # noqa: F401  (fake engines for the route)

pytestmark = pytest.mark.usefixtures("speech")
PATH = "/api/playground/speech/"


def _user_id(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/api/account", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["id"])


def _balance(context: AppContext, user_id: int) -> int:
    with context.db.read() as session:
        return ledger.balance_of(session, user_id)


def test_a_parked_order_streams_once_and_is_billed(
    client: TestClient, context: AppContext, sign_up: SignUp
) -> None:
    headers = sign_up()
    user_id = _user_id(client, headers)
    before = _balance(context, user_id)
    store = ticket_store_for(context.settings.redis_url)
    order = SpeechOrder(model="Qwen3-TTS", text="你好，世界。Hello there.", voice="default")
    ticket = issue_ticket(store, user_id=user_id, order=order, long=False)

    response = client.get(PATH + ticket.id, headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["cache-control"] == "no-store"
    assert len(response.content) > 1000
    outcome = outcome_of(store, ticket.id, user_id=user_id)
    assert outcome is not None and outcome.status == SUCCEEDED
    with context.db.read() as session:
        record = session.get(HistoryRecord, outcome.record_id)
        assert record is not None
        assert (record.user_id, record.type, record.status) == (user_id, "tts", "succeeded")
        assert record.request_id == ticket.request_id
        assert record.api_key_id is None  # the console
    assert _balance(context, user_id) == before - record.cost_micros == before - 10_000
    # The ticket is spent.
    assert client.get(PATH + ticket.id, headers=headers).status_code == 404


def test_someone_elses_ticket_or_an_api_key_gets_nothing(
    client: TestClient, context: AppContext, sign_up: SignUp
) -> None:
    owner = sign_up()
    owner_id = _user_id(client, owner)
    intruder = sign_up()
    store = ticket_store_for(context.settings.redis_url)
    order = SpeechOrder(model="Qwen3-TTS", text="Hello.", voice="default")
    ticket = issue_ticket(store, user_id=owner_id, order=order, long=False)
    _, key = make_key(context.db, context.settings, owner_id)

    assert client.get(PATH + ticket.id, headers=intruder).status_code == 404
    assert client.get(PATH + ticket.id).status_code == 401
    assert client.get(PATH + ticket.id, headers={"X-API-Key": key}).status_code == 403
    # None of that spent it.
    assert client.get(PATH + ticket.id, headers=owner).status_code == 200


def test_a_failure_is_left_as_a_safe_message(
    client: TestClient, context: AppContext, sign_up: SignUp
) -> None:
    headers = sign_up()
    user_id = _user_id(client, headers)
    store = ticket_store_for(context.settings.redis_url)
    # More than the balance could ever pay at ¥0.216 / 1k characters is refused at the hold.
    with context.db.write() as session:
        ledger.hold(session, user_id, _balance(context, user_id), idempotency_key="drain")
    order = SpeechOrder(model="tts-1-hd", text="Hello there.", voice="alloy")
    ticket = issue_ticket(store, user_id=user_id, order=order, long=False)

    response = client.get(PATH + ticket.id, headers=headers)

    assert response.status_code == 403
    outcome = outcome_of(store, ticket.id, user_id=user_id)
    assert outcome is not None and outcome.status == FAILED
    assert (outcome.code, outcome.message) == ("INSUFFICIENT_BALANCE", "Insufficient balance")


def test_long_text_takes_the_long_path(
    client: TestClient, context: AppContext, sign_up: SignUp
) -> None:
    headers = sign_up()
    user_id = _user_id(client, headers)
    store = ticket_store_for(context.settings.redis_url)
    text = "This sentence is part of a long text. " * 60  # 2,280 characters > 2,000
    short = issue_ticket(
        store,
        user_id=user_id,
        order=SpeechOrder(model="cosyvoice-v3-flash", text=text, voice="longanyang"),
        long=False,
    )
    assert client.get(PATH + short.id, headers=headers).status_code == 400
    long = issue_ticket(
        store,
        user_id=user_id,
        order=SpeechOrder(model="cosyvoice-v3-flash", text=text, voice="longanyang"),
        long=True,
    )
    assert client.get(PATH + long.id, headers=headers).status_code == 200
    assert outcome_of(store, long.id, user_id=user_id).status == SUCCEEDED
