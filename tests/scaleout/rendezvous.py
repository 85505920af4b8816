"""A job kind for the scale-out test: jobs that wait for each other on different workers.

A worker runs one job at a time, so while a ``scaleout.meet`` job waits here for a second one to
be running (or done) under another worker, only another worker can take that second job: two of
them show, without relying on timing, that both job workers claim work from the shared queue.
The wait is bounded (a hang guard); a job that waited in vain still ends, and the test then
fails on who ran what. The job charges a fixed part of its hold, like a real one.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlmodel import col

from api.jobs.handlers import JobContext, JobOutcome, register
from api.jobs.models import RUNNING, SUCCEEDED, Job

MEET = "scaleout.meet"
CHARGE_MICROS = 123_456
WAIT_LIMIT_SECONDS = 90.0


def _workers_met(job: JobContext) -> int:
    with job.db.read() as session:
        statement = select(func.count(func.distinct(col(Job.lease_owner)))).where(
            col(Job.kind) == MEET, col(Job.status).in_((RUNNING, SUCCEEDED))
        )
        return int(session.execute(statement).scalar_one())


@register(MEET)
def meet(job: JobContext) -> JobOutcome:
    """Wait until jobs of this kind ran under two workers; charge ``CHARGE_MICROS``."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    met = _workers_met(job)
    while met < 2 and time.monotonic() < deadline and not job.lease_lost.is_set():
        time.sleep(0.1)
        met = _workers_met(job)
    return JobOutcome(result={"workers_met": met}, charge_micros=CHARGE_MICROS)
