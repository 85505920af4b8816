"""A job handler for the fault tests, loaded by workers through ``AMPHION_JOB_HANDLER_MODULES``.

``test.gated`` behaves like a real transcription job: its history row was written pending
when it was queued, and the handler ends that row and charges on success. Each attempt leaves
a marker file (so a test knows the job is provably running); the first attempt then waits for
a gate file that the test never opens (it kills the worker instead), later attempts finish.
"""

from __future__ import annotations

import time
from pathlib import Path

from api.history import service as history
from api.jobs.handlers import JobContext, JobOutcome, register

GATED = "test.gated"


@register(GATED)
def gated(ctx: JobContext) -> JobOutcome:
    marker_dir = Path(ctx.payload["marker_dir"])
    marker_dir.mkdir(parents=True, exist_ok=True)
    (marker_dir / f"attempt-{ctx.attempt}").write_text(ctx.job_id)
    if ctx.attempt == 1:
        deadline = time.monotonic() + 120  # only a hang guard: the test kills this worker
        while not (marker_dir / "open").exists() and time.monotonic() < deadline:
            if ctx.lease_lost.is_set():
                break
            time.sleep(0.05)
    charge = int(ctx.payload["charge_micros"])
    record_id = int(ctx.payload["record_id"])
    with ctx.db.write() as session:
        history.update_record(
            session, record_id, status="succeeded", cost_micros=charge, output_text="done"
        )
    return JobOutcome(
        result={"attempt": ctx.attempt}, charge_micros=charge, history_record_id=record_id
    )
