"""Jobs API (seed 001 envelope): the status and result of one of the caller's async jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from api.http.deps import Context, CurrentPrincipal
from api.http.errors import documented_errors
from api.http.presenters import envelope, iso
from api.http.routing import Router
from api.jobs.models import Job
from api.jobs.service import get_owned_job

router = Router(
    prefix="/api/jobs", tags=["jobs"], responses=documented_errors("envelope", 401, 403, 404, 500)
)

JobId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")]


def job_public(job: Job) -> dict[str, Any]:
    return {
        "task_id": job.id,
        "kind": job.kind,
        "task_status": job.status,
        "submit_time": iso(job.created_at),
        "scheduled_time": iso(job.started_at),
        "end_time": iso(job.finished_at),
        "attempts": job.attempts,
        "result": job.result,
        "error": job.error,
    }


@router.get("/{job_id}")
def get_job(job_id: JobId, principal: CurrentPrincipal, context: Context) -> Any:
    """One of the caller's jobs, ``PENDING → RUNNING → SUCCEEDED | FAILED`` (others' are 404)."""
    with context.db.read() as session:
        job = get_owned_job(session, user_id=principal.user_id, job_id=job_id)
    return envelope(job_public(job))
