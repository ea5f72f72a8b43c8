"""Enqueueing worker jobs: one queue, deterministic job ids so a job is never queued twice."""

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from ..extensions import redis_ext

QUEUE = "default"
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def queue() -> Queue:
    return Queue(QUEUE, connection=redis_ext.client)


def enqueue_once(func: str, job_id: str, *args, timeout: int = 1800, retry: Retry | None = None) -> Job:
    """Enqueue `func(*args)` under `job_id` unless that job is already waiting or running.

    A finished or failed job of the same id is replaced, so the work can be run again.
    """
    q = queue()
    try:
        existing = Job.fetch(job_id, connection=q.connection)
        if existing.get_status(refresh=True) in ACTIVE:
            return existing
        existing.delete()
    except NoSuchJobError:
        pass
    try:
        return q.enqueue(func, *args, job_id=job_id, unique=True, job_timeout=timeout, retry=retry,
                         result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)
    except DuplicateJobError:  # another process enqueued it a moment ago
        return Job.fetch(job_id, connection=q.connection)
