"""Worker jobs, declared where they are defined (ballot_service/jobs.py): one queue, a
deterministic job id from the job's arguments (so a job is never queued twice), its timeout and
its retry schedule, all in the declaration. Callers say only `jobs.tally.enqueue(round_id)`."""

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from ..extensions import redis_ext

QUEUE = "default"
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


class QueueUnavailable(RuntimeError):
    """Redis could not take the job; the message is for people (the caller rolls back)."""

    def __init__(self):
        super().__init__("任务队列（Redis）暂时无法连接，本次操作未生效，请稍后重试")


def queue() -> Queue:
    return Queue(QUEUE, connection=redis_ext.client)


@dataclass(frozen=True)
class Declared:
    """A job function with how it is queued. `retry` is the list of waits in seconds before each
    retry, or the name of the app setting that holds it."""

    func: Callable
    job_id: str | Callable[..., str]  # formatted with the job's arguments ("tally-{0}"), or made from them
    timeout: int
    retry: list[int] | str | None

    def __call__(self, *args):
        return self.func(*args)

    @property
    def path(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def id_for(self, *args) -> str:
        return self.job_id(*args) if callable(self.job_id) else self.job_id.format(*args)

    def enqueue(self, *args) -> Job:
        """Queue the job unless the same one is already waiting or running (then that one is
        returned). A finished or failed job of the same id is replaced, so work can run again.
        QueueUnavailable if Redis cannot be reached."""
        try:
            return self._enqueue(*args)
        except RedisError:
            raise QueueUnavailable() from None

    def _enqueue(self, *args) -> Job:
        job_id, q = self.id_for(*args), queue()
        try:
            existing = Job.fetch(job_id, connection=q.connection)
            if existing.get_status(refresh=True) in ACTIVE:
                return existing
            existing.delete()
        except NoSuchJobError:
            pass
        intervals = current_app.config[self.retry] if isinstance(self.retry, str) else self.retry
        retry = Retry(max=len(intervals), interval=intervals) if intervals else None
        try:
            return q.enqueue(self.path, *args, job_id=job_id, unique=True, job_timeout=self.timeout, retry=retry,
                             result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)
        except DuplicateJobError:  # another process enqueued it a moment ago
            return Job.fetch(job_id, connection=q.connection)

    def drop_queued(self, *args) -> bool:
        """Cancel the job if it is waiting and not yet started (its work was done another way,
        e.g. `rounds tally --sync`); whether it was."""
        job = self.fetch(*args)
        if job is None or job.get_status(refresh=True) != JobStatus.QUEUED:
            return False
        job.cancel()
        return True

    def fetch(self, *args) -> Job | None:
        try:
            return Job.fetch(self.id_for(*args), connection=redis_ext.client)
        except NoSuchJobError:
            return None
        except RedisError:
            raise QueueUnavailable() from None


def declare(job_id: str | Callable[..., str], timeout: int = 1800, retry: list[int] | str | None = None):
    return lambda func: Declared(func, job_id, timeout, retry)
