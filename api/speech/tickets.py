"""Speech tickets: a synthesis order parked for a moment, so a browser can stream it with a GET.

An ``<audio src>`` can only issue a plain GET, and an order's text may be far too long for a
URL. So the console parks the checked order under a random ticket id (``issue_ticket``) and
points the player at ``/api/playground/speech/<ticket>``; the route takes the ticket back
(``redeem_ticket``, once, and only for the account that issued it), streams the speech through
the ordinary use case, and leaves the outcome under the ticket (``report_outcome``) for the
console to read (``outcome_of``): the history record id, or a message safe to show.

Tickets live where the rate-limit counters live: in process memory for the single-process
default, in Redis when several workers share the work (``AMPHION_REDIS_URL``).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from api import audio
from api.billing import ledger
from api.errors import InsufficientBalanceError, NotFoundError
from api.speech.choices import per_call_limit
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import SpeechOrder, plan

TICKET_TTL_SECONDS = 120  # from "Generate" to the player's request
OUTCOME_TTL_SECONDS = 3600  # a long text may stream for many minutes
TICKET_NOT_FOUND = "This playback link has expired; generate the speech again"

STREAMING, SUCCEEDED, FAILED, CANCELLED = "streaming", "succeeded", "failed", "cancelled"


class TicketStore(Protocol):
    """A small expiring key-value store."""

    def put(self, key: str, value: str, *, ttl: int) -> None: ...

    def get(self, key: str) -> str | None: ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True only for the one caller that removed it."""
        ...


class MemoryTicketStore:
    """Tickets in this process; right for the single-process embedded default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, str]] = {}

    def put(self, key: str, value: str, *, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._items) > 10_000:  # forget what expired, now and then
                self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[key] = (now + ttl, value)

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    def delete(self, key: str) -> bool:
        with self._lock:
            item = self._items.pop(key, None)
        return item is not None and item[0] > time.monotonic()


class RedisTicketStore:
    """Tickets shared by every worker through Redis."""

    def __init__(self, url: str, prefix: str = "amphion:ticket:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def put(self, key: str, value: str, *, ttl: int) -> None:
        self._redis.set(self._prefix + key, value.encode(), ex=ttl)

    def get(self, key: str) -> str | None:
        stored: Any = self._redis.get(self._prefix + key)
        return None if stored is None else bytes(stored).decode()

    def delete(self, key: str) -> bool:
        return bool(self._redis.delete(self._prefix + key))


@lru_cache
def ticket_store_for(redis_url: str) -> TicketStore:
    """One store per Redis URL per process, so the console and the route share it."""
    return RedisTicketStore(redis_url) if redis_url else MemoryTicketStore()


@dataclass(frozen=True)
class Ticket:
    """A parked order: who may redeem it, under which request id, on which path."""

    id: str
    user_id: int
    request_id: str
    order: SpeechOrder
    long: bool = False


@dataclass(frozen=True)
class Outcome:
    """How a ticket's stream ended: ``record_id`` when it succeeded, else a safe message and
    the domain error's code."""

    status: str
    record_id: int | None = None
    message: str = ""
    code: str = ""


def issue_ticket(store: TicketStore, *, user_id: int, order: SpeechOrder, long: bool) -> Ticket:
    """Park ``order`` for ``user_id`` (checked already: see ``synthesis.plan``)."""
    ticket = Ticket(
        id=secrets.token_urlsafe(24),
        user_id=user_id,
        request_id=f"console-{secrets.token_hex(12)}",
        order=order,
        long=long,
    )
    payload = {
        "user_id": user_id,
        "request_id": ticket.request_id,
        "order": dataclasses.asdict(order),
        "long": long,
    }
    store.put(_order_key(ticket.id), json.dumps(payload), ttl=TICKET_TTL_SECONDS)
    return ticket


def park_order(
    ctx: SpeechContext, store: TicketStore, caller: Caller, order: SpeechOrder
) -> tuple[Ticket, int, int]:
    """Check and price ``order`` as the use case will, and park it: (ticket, characters, cost).

    Text over the model's per-call limit takes the long-text path. A balance that cannot pay
    is refused now, in the ledger's words, rather than by a player that fails to load.
    """
    long = audio.count_characters(order.text) > per_call_limit(ctx.catalog, order.model)
    speech = plan(ctx, caller, order, long=long)
    with ctx.db.read() as session:
        balance = ledger.balance_of(session, caller.user_id)
    if balance < speech.cost_micros:
        raise InsufficientBalanceError("Insufficient balance")
    ticket = issue_ticket(store, user_id=caller.user_id, order=order, long=long)
    return ticket, speech.characters, speech.cost_micros


def redeem_ticket(store: TicketStore, ticket_id: str, *, user_id: int) -> Ticket:
    """Take the ticket back, once; another account's ticket is as missing as an expired one.
    From now on its outcome reads "streaming" until the route reports how it ended."""
    key = _order_key(ticket_id)
    raw = store.get(key)
    if raw is None:
        raise NotFoundError(TICKET_NOT_FOUND)
    payload = json.loads(raw)
    # Checked before the ticket is spent, so someone else's request cannot use it up.
    if payload["user_id"] != user_id:
        raise NotFoundError(TICKET_NOT_FOUND)
    ticket = Ticket(
        id=ticket_id,
        user_id=user_id,
        request_id=payload["request_id"],
        order=SpeechOrder(**payload["order"]),
        long=bool(payload["long"]),
    )
    # "Streaming" goes down before the order goes, so a watcher never sees neither.
    report_outcome(store, ticket, Outcome(STREAMING))
    if not store.delete(key):
        raise NotFoundError(TICKET_NOT_FOUND)
    return ticket


def is_pending(store: TicketStore, ticket_id: str) -> bool:
    """Whether the ticket still waits for its player's request."""
    return store.get(_order_key(ticket_id)) is not None


def report_outcome(store: TicketStore, ticket: Ticket, outcome: Outcome) -> None:
    """Leave how the ticket's stream ended for the console to read."""
    payload = {"user_id": ticket.user_id, **dataclasses.asdict(outcome)}
    store.put(_outcome_key(ticket.id), json.dumps(payload), ttl=OUTCOME_TTL_SECONDS)


def outcome_of(store: TicketStore, ticket_id: str, *, user_id: int) -> Outcome | None:
    """The outcome of one of ``user_id``'s tickets, once its stream has ended."""
    raw = store.get(_outcome_key(ticket_id))
    if raw is None:
        return None
    payload = json.loads(raw)
    if payload.pop("user_id") != user_id:
        return None
    return Outcome(**payload)


def _order_key(ticket_id: str) -> str:
    return f"order:{ticket_id}"


def _outcome_key(ticket_id: str) -> str:
    return f"outcome:{ticket_id}"
