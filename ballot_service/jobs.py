"""Worker jobs. Each takes ids (or nothing), reloads what it needs and is safe to re-run; each is
declared here with its job id, timeout and retries (services.jobs.declare)."""

from rq import get_current_job

from .services.jobs import declare

TALLY_RETRY_INTERVALS = [10, 60, 300]


def _report(**meta) -> None:
    job = get_current_job()
    if job is not None:
        job.meta.update(meta)
        job.save_meta()


@declare("tally-{0}", timeout=1800, retry=TALLY_RETRY_INTERVALS)
def tally(round_id: int) -> str:
    """Tally a closed round (RQ retries it if the worker dies); its step and percentage in the
    job's meta."""
    from .services import tally as tally_service

    return tally_service.tally_round(round_id, lambda step: _report(step=step.value, label=step.label,
                                                                    percent=step.percent))


@declare("push-{1}-{0}", timeout=120, retry="WEBHOOK_RETRY_INTERVALS")
def push(subscriber_id: int, round_id: int) -> str:
    """Deliver a published round's results to one subscriber (retried by RQ with backoff)."""
    from .services import push as push_service

    return push_service.deliver(subscriber_id, round_id)


@declare("posters-{0}", timeout=3600, retry=[30, 120])
def render_posters(batch_id: int) -> str | None:
    """Draw a poster batch (services.poster_batches.run): progress, file and outcome on its row."""
    from .services import poster_batches

    return poster_batches.run(batch_id)


def advance_rounds() -> dict[str, list[int]]:
    """Open and close rounds on their schedule (run every minute by the cron)."""
    from .services import rounds

    return rounds.advance_rounds()
