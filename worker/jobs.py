"""Job functions. Each takes ids (or nothing), reloads what it needs and is safe to re-run."""

from flask import current_app


def tally(round_id: int) -> str:
    """Tally a closed round (RQ retries it if the worker dies); progress in the job's meta."""
    from rq import get_current_job

    from ballot_service.services import tally as tally_service

    job = get_current_job()

    def progress(step: str) -> None:
        if job is not None:
            job.meta["step"] = step
            job.save_meta()

    return tally_service.tally_round(round_id, progress)


def push(subscriber_id: int, round_id: int) -> str:
    """Deliver a published round's results to one subscriber (retried by RQ with backoff)."""
    from ballot_service.services import push as push_service

    return push_service.deliver(subscriber_id, round_id)


def advance_rounds() -> dict[str, list[int]]:
    """Open and close rounds on their schedule."""
    from ballot_service.services import rounds

    opened, closed = rounds.advance_rounds()
    return {"opened": opened, "closed": closed}


def render_posters(scope: str, value: str | None, template_name: str, fmt: str) -> str:
    """Render a poster batch (reused if the same content was rendered before); progress in meta."""
    from rq import get_current_job

    from ballot_service.services import posters

    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta.update(done=done, total=total)
            job.save_meta()

    return posters.render_batch(scope, value, template_name, fmt, current_app.config, progress).path
