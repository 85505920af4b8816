"""Job handlers for the tests, loaded by workers through ``AMPHION_JOB_HANDLER_MODULES``.

``test.crashable`` marks each attempt with a file (so a test can see that it started and can
SIGKILL the worker mid-run), dawdles on the first attempt, and charges ``charge_micros``. It is
idempotent the way real handlers must be: the marker is overwritten, and the outcome depends
only on the payload.
"""

from __future__ import annotations

import time
from pathlib import Path

from api.jobs.handlers import JobContext, JobOutcome, register

CRASHABLE = "test.crashable"


@register(CRASHABLE)
def crashable(ctx: JobContext) -> JobOutcome:
    marker_dir = Path(ctx.payload["marker_dir"])
    marker_dir.mkdir(parents=True, exist_ok=True)
    (marker_dir / f"attempt-{ctx.attempt}").write_text(ctx.job_id)
    if ctx.attempt == 1:
        # Long enough for the test to kill the worker; stop early if the job was taken over.
        deadline = time.monotonic() + float(ctx.payload.get("first_attempt_seconds", 60))
        while time.monotonic() < deadline and not ctx.lease_lost.is_set():
            time.sleep(0.05)
    return JobOutcome(
        result={"done": True, "attempt": ctx.attempt},
        charge_micros=int(ctx.payload["charge_micros"]),
    )
