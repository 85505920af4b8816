"""Routes only for ``bench/`` (``AMPHION_BENCH_ROUTES=1``): B1 and B2's baselines, B6's floor.

* ``GET /bench/hello``: a hello-world on the same server, stack and middleware as every other
  route, so B1 and B2 are ratios against what the framework alone costs.
* ``POST /bench/debit``: an authenticated debit and nothing else, the money path every billable
  call takes (``Charge``: hold, then capture with the history row), without an engine in front.
* ``POST /bench/relay``: ``POST /v1/audio/speech`` (non-streamed) without its guarantees: the
  same authentication, validation, plan and engine call, but no hold, no stored audio file and
  no settlement. B6 measures it beside the real route: the floor under B6's figure. Its audio
  is free: one more reason these routes never exist outside ``bench/``.
* ``GET /bench/bytes?size=N``: N bytes of silence as ``audio/wav``, made before the clock
  starts: what the HTTP round trip of an answer that size costs on this server and client, the
  floor under B5's figure.

Never registered otherwise (see ``api.http.app``).
"""

from __future__ import annotations

from fastapi import Query
from fastapi.responses import Response

from api.http.routes.openai import SPEECH_CONTENT_TYPES, SpeechRequest, speech_order
from api.http.routing import Router
from api.http.speech import Speech, SpeechCall
from api.speech.common import Charge
from api.speech.synthesis import render_unbilled

router = Router(prefix="/bench", tags=["bench"], include_in_schema=False)

DEBIT_MICROS = 100  # ¥0.0001: a ¥100 signup bonus pays for a million debits


@router.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@router.get("/bytes", response_class=Response)
async def some_bytes(size: int = Query(ge=0, le=10_000_000)) -> Response:
    return Response(bytes(size), media_type="audio/wav")


@router.post("/debit", response_model=None)
async def debit(call: Speech) -> dict[str, int]:
    # As a speech route runs its use case: on the event loop, with the blocking work in one
    # worker thread (a sync route would take a second hop to check the return value).
    record_id = await call.run(_hold_and_settle, call)
    return {"record_id": record_id}


def _hold_and_settle(call: SpeechCall) -> int:
    # "tts": history rows have a fixed set of types; the model name says it was the bench.
    charge = Charge.hold(call.app.db, call.caller, "tts", DEBIT_MICROS)
    return charge.settle(model="bench", characters=1)


@router.post("/relay", response_class=Response)
async def relay(body: SpeechRequest, call: Speech) -> Response:
    order = speech_order(call, body)
    encoded = await call.run(render_unbilled, call.ctx, call.caller, order)
    return Response(encoded, media_type=SPEECH_CONTENT_TYPES[order.format])
