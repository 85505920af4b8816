"""Routes that exist only for ``bench/`` (``AMPHION_BENCH_ROUTES=1``): the baselines of B1/B2.

* ``GET /bench/hello``: a hello-world on the same server, stack and middleware as every other
  route, so B1 and B2 are ratios against what the framework alone costs.
* ``POST /bench/debit``: an authenticated debit and nothing else, the money path every billable
  call takes (``Charge``: hold, then capture with the history row), without an engine in front.

Never registered otherwise (see ``api.http.app``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http.deps import Context
from api.http.speech import Speech
from api.speech.common import Charge

router = APIRouter(prefix="/bench", tags=["bench"], include_in_schema=False)

DEBIT_MICROS = 100  # ¥0.0001: a ¥100 signup bonus pays for a million debits


@router.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@router.post("/debit")
def debit(call: Speech, context: Context) -> Any:
    # "tts": history rows have a fixed set of types; the model name says it was the bench.
    charge = Charge.hold(context.db, call.caller, "tts", DEBIT_MICROS)
    record = charge.settle(model="bench", characters=1)
    return {"record_id": record.id}
