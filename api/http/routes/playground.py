"""``GET /api/playground/speech/{ticket}``: the console playground's speech, streamed to its player.

The console checks and parks an order (``api.speech.tickets``) and points its ``<audio src>``
here, so the browser starts playing while the rest is still being made. The request must carry
the console session cookie of the account that parked the order (an API key is not enough, and
another account's ticket is a 404); the ticket works once. The speech is the ordinary use case:
held, streamed, captured with its history record when it ends, released if the player goes away
first. How it ended is left under the ticket for the console to show (cost, or the error).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import anyio
from fastapi import Request

from api.engines.timing import EngineClock
from api.errors import DomainError
from api.http.deps import Context, resolve_principal
from api.http.routing import Router
from api.http.speech import (
    ClosingStreamingResponse,
    SpeechCall,
    StartedSpeech,
    start_speech,
    stream_chunks,
)
from api.speech.common import Caller
from api.speech.tickets import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    Outcome,
    Ticket,
    TicketStore,
    redeem_ticket,
    report_outcome,
    ticket_store_for,
)

logger = logging.getLogger("amphion.http")
router = Router(tags=["console"])
UNEXPECTED = "Speech could not be made; nothing was charged. Try again."


@router.get("/api/playground/speech/{ticket}", include_in_schema=False)
async def playground_speech(
    ticket: str, request: Request, app: Context
) -> ClosingStreamingResponse:
    """Stream the speech a console session parked under ``ticket``."""
    principal = await anyio.to_thread.run_sync(resolve_principal, request, app)
    principal.require_session()
    store = ticket_store_for(app.settings.redis_url)
    parked = await anyio.to_thread.run_sync(
        lambda: redeem_ticket(store, ticket, user_id=principal.user_id)
    )
    call = SpeechCall(
        app,
        Caller(principal, parked.request_id, source="console"),
        time.perf_counter(),
        EngineClock(),
    )
    try:
        started = await start_speech(call, parked.order, long=parked.long)
    except BaseException as error:
        await anyio.to_thread.run_sync(report_outcome, store, parked, _failure(error))
        raise
    return ClosingStreamingResponse(
        stream_chunks(_reporting(started, store, parked)),
        media_type=started.stream.content_type,
        headers={**started.headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _reporting(started: StartedSpeech, store: TicketStore, parked: Ticket) -> Iterator[bytes]:
    """The audio, then the outcome left under the ticket (also when the player left early)."""
    outcome = Outcome(CANCELLED, message="Playback stopped before the speech was complete")
    try:
        yield from started.audio()
        record_id = started.stream.record_id
        if record_id is not None:
            outcome = Outcome(SUCCEEDED, record_id=record_id)
    except BaseException as error:
        if not isinstance(error, GeneratorExit):
            outcome = _failure(error)
        raise
    finally:
        report_outcome(store, parked, outcome)


def _failure(error: BaseException) -> Outcome:
    if isinstance(error, DomainError):
        return Outcome(FAILED, message=error.message, code=error.code)
    if not isinstance(error, GeneratorExit | anyio.get_cancelled_exc_class()):
        logger.warning("playground speech failed: %s", type(error).__name__)
    return Outcome(FAILED, message=UNEXPECTED)
