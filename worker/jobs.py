"""Job functions. Each takes ids (or nothing), reloads what it needs and is safe to re-run."""

from flask import current_app
from sqlalchemy import select

from ballot_service.extensions import db
from ballot_service.models import Round
from ballot_service.services import ballot_box, paper_ballots


def drain_dedup_claims() -> dict[int, int]:
    """For every round still taking or counting ballots: reload its claims if Redis restarted
    from old data, then copy queued claims into the database (in random order, in batches;
    see ballot_box.drain_pending), and store counted paper forms as ballots (likewise, see
    paper_ballots.store_counted). Idempotent."""
    min_batch = current_app.config["DEDUP_DRAIN_MIN_BATCH"]
    active = db.session.execute(select(Round.id, Round.closes_at, Round.status)
                                .where(Round.status.in_(("open", "closed")))).all()
    written = {}
    for round_id, closes_at, status in active:
        ballot_box.reconcile_claims(round_id, closes_at, still_open=status == "open")
        written[round_id] = ballot_box.drain_pending(round_id, min_batch)
        paper_ballots.store_counted(round_id, min_batch)
    return written


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
