"""Job functions. Each takes ids (or nothing), reloads what it needs and is safe to re-run."""

from flask import current_app
from sqlalchemy import select

from ballot_service.extensions import db
from ballot_service.models import Round
from ballot_service.services import ballot_box


def drain_dedup_claims() -> dict[int, int]:
    """Copy queued dedup claims of every round still taking or counting ballots into the
    database (in random order, in batches; see ballot_box.drain_pending). Idempotent."""
    min_batch = current_app.config["DEDUP_DRAIN_MIN_BATCH"]
    round_ids = db.session.scalars(select(Round.id).where(Round.status.in_(("open", "closed")))).all()
    return {round_id: ballot_box.drain_pending(round_id, min_batch) for round_id in round_ids}


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
