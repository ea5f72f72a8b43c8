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
