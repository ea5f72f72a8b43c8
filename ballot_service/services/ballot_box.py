"""Taking a ballot: one-time form tokens, anonymous dedup claims, and the durable write.

Redis keys (all expire after the round):
  ballot:token:<token>          one-time form token -> "<round id>:<office id>"
  ballot:claim:<round>:<key>    dedup claim, set-if-absent (key: domain.dedup.dedup_key)
  ballot:pending:<round>        claims not yet copied to the database (drained in random order)
  ballot:ready:<round>          present when the round's claims are loaded in Redis
  ballot:turnout:<round>        ballots per office, for coordinators (counts only)

Order of a submission: check the form (pure) -> take the token -> claim the key -> write the
ballot and its ratings in one transaction -> queue the claim for the durable copy. If the
write fails, the claim is released and the token put back, so the voter can simply retry.
"""

import datetime as dt
import enum
import logging
import random
import secrets
import uuid
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..domain.ballots import BallotConfig, Checked, check_ballot
from ..domain.dedup import dedup_key
from ..domain.roles import Role
from ..extensions import db, redis_ext
from ..models import Ballot, DedupRecord, Office, Rating, RatingTag, Round, RoundRoster
from . import rounds

log = logging.getLogger(__name__)

TOKEN_TTL = 4 * 3600
CLAIM_GRACE = 7 * 24 * 3600  # claims outlive the close a little, for late tallies
RESTORE_WAIT = 5.0


def _k(kind: str, *parts) -> str:
    return ":".join(("ballot", kind, *map(str, parts)))


def _expire_at(round_: Round) -> int:
    return int(round_.closes_at.replace(tzinfo=dt.UTC).timestamp()) + CLAIM_GRACE


class Outcome(enum.Enum):
    RECORDED = "recorded"
    ALREADY_VOTED = "already_voted"
    INVALID = "invalid"
    STALE_TOKEN = "stale_token"
    CLOSED = "closed"
    WECHAT_REQUIRED = "wechat_required"
    FAILED = "failed"


@dataclass
class OfficeBallot:
    """What the office page needs to show the ballot (or why there is none)."""

    round: Round | None
    roster: list[RoundRoster] = field(default_factory=list)
    config: BallotConfig | None = None
    next_round: Round | None = None

    @property
    def people(self) -> list[tuple[int, Role]]:
        return [(entry.person_id, Role(entry.role)) for entry in self.roster]


def office_ballot(office: Office) -> OfficeBallot:
    round_ = rounds.accepting_round(office.department.region_id)
    if round_ is None:
        return OfficeBallot(None, next_round=rounds.next_round(office.department.region_id))
    roster = rounds.frozen_roster(round_.id, office)
    return OfficeBallot(round_, roster, BallotConfig.from_snapshot(round_.config))


def issue_token(round_id: int, office_id: int) -> str:
    token = secrets.token_urlsafe(24)
    redis_ext.client.set(_k("token", token), f"{round_id}:{office_id}", ex=TOKEN_TTL)
    return token


def has_voted(round_: Round, office_id: int, identity: str) -> bool:
    ensure_claims_loaded(round_)
    return bool(redis_ext.client.exists(_k("claim", round_.id, dedup_key(round_.secret, identity, office_id))))


@dataclass
class Submission:
    outcome: Outcome
    checked: Checked | None = None


def submit(ballot: OfficeBallot, office: Office, identity: str, token: str, form: dict[str, list[str]]) -> Submission:
    round_ = ballot.round
    if round_ is None:
        return Submission(Outcome.CLOSED)
    if round_.require_wechat and not identity.startswith("w:"):
        return Submission(Outcome.WECHAT_REQUIRED)
    checked = check_ballot(ballot.config, ballot.people, form)
    if not checked.ok:
        return Submission(Outcome.INVALID, checked)
    # Plain values only from here on: after a failed write the ORM objects are expired and
    # touching them would query the database that just failed.
    round_id, office_id, expire_at = round_.id, office.id, _expire_at(round_)
    token_key, token_value = _k("token", token or "-"), f"{round_id}:{office_id}"
    r = redis_ext.client
    try:
        ensure_claims_loaded(round_)
        if r.getdel(token_key) != token_value.encode():
            return Submission(Outcome.STALE_TOKEN)
    except (RedisError, SQLAlchemyError, RestoreInProgress):
        db.session.rollback()
        return Submission(Outcome.FAILED, checked)
    key = dedup_key(round_.secret, identity, office_id)
    claim = _k("claim", round_id, key)
    try:
        if not r.set(claim, 1, nx=True, exat=expire_at):
            return Submission(Outcome.ALREADY_VOTED)
    except RedisError:
        _put_back(token_key, token_value)
        return Submission(Outcome.FAILED, checked)
    try:
        _store(round_id, office_id, checked)
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("ballot write failed for round %s; releasing its claim", round_id)
        try:
            r.delete(claim)
            _put_back(token_key, token_value)
        except RedisError:
            log.error("could not release a claim after a failed write (round %s)", round_id)
        return Submission(Outcome.FAILED, checked)
    try:
        with r.pipeline(transaction=False) as pipe:
            pipe.sadd(_k("pending", round_id), key)
            pipe.expireat(_k("pending", round_id), expire_at)
            pipe.hincrby(_k("turnout", round_id), office_id, 1)
            pipe.execute()
    except RedisError:
        # The ballot is stored and counted; only its durable dedup copy is missing.
        log.error("ballot stored but its claim was not queued for the durable copy (round %s)", round_id)
    return Submission(Outcome.RECORDED, checked)


def _put_back(token_key: str, token_value: str) -> None:
    redis_ext.client.set(token_key, token_value, ex=TOKEN_TTL)


def _store(round_id: int, office_id: int, checked: Checked) -> None:
    """The ballot and all its ratings, in one transaction. Nothing about the voter is stored."""
    ballot_id = uuid.uuid4().hex
    db.session.add(Ballot(id=ballot_id, round_id=round_id, office_id=office_id, day=rounds.china_today()))
    for rating in checked.ratings:
        db.session.add(Rating(ballot_id=ballot_id, person_id=rating.person_id, level=rating.level, note=rating.note))
        for tag in rating.tags:
            db.session.add(RatingTag(ballot_id=ballot_id, person_id=rating.person_id, tag=tag))
    db.session.commit()


class RestoreInProgress(Exception):
    """Another process is loading the round's claims back into Redis; retry shortly."""


def ensure_claims_loaded(round_: Round) -> None:
    """After Redis lost its data, load the round's durable dedup records back as claims
    before any new ballot is accepted. One process loads; the others wait for it."""
    r = redis_ext.client
    ready = _k("ready", round_.id)
    if r.exists(ready):
        return
    lock = r.lock(_k("restore-lock", round_.id), timeout=60, blocking_timeout=RESTORE_WAIT)
    if not lock.acquire():
        raise RestoreInProgress()
    try:
        if r.exists(ready):
            return
        expire = _expire_at(round_)
        keys = db.session.scalars(select(DedupRecord.key).where(DedupRecord.round_id == round_.id))
        with r.pipeline(transaction=False) as pipe:
            for n, key in enumerate(keys, start=1):
                pipe.set(_k("claim", round_.id, key), 1, nx=True, exat=expire)
                if n % 1000 == 0:
                    pipe.execute()
            pipe.set(ready, 1, exat=expire)
            pipe.execute()
        db.session.rollback()  # end the read transaction
    finally:
        lock.release()


def drain_pending(round_id: int, min_batch: int, batch: int = 1000) -> int:
    """Copy queued claims of a round into the database, in random order, in batches.

    While the round accepts ballots, fewer than `min_batch` queued claims are left waiting,
    so a copy cannot be matched to the one ballot written just before it (A1). Returns the
    number of records written.
    """
    r = redis_ext.client
    round_ = db.session.get(Round, round_id)
    pending = _k("pending", round_id)
    accepting = round_.status == "open" and round_.closes_at > rounds.utcnow()
    written = 0
    while True:
        size = r.scard(pending)
        if size == 0 or (accepting and size < min_batch):
            return written
        keys = [k.decode() for k in r.srandmember(pending, min(size, batch))]
        random.shuffle(keys)
        existing = set(db.session.scalars(
            select(DedupRecord.key).where(DedupRecord.round_id == round_id, DedupRecord.key.in_(keys))
        ))
        db.session.add_all(DedupRecord(round_id=round_id, key=k) for k in keys if k not in existing)
        db.session.commit()
        r.srem(pending, *keys)
        written += len(keys) - len(existing)


def turnout(round_id: int) -> dict[int, int]:
    """Ballots so far per office id (no scores)."""
    return {int(k): int(v) for k, v in redis_ext.client.hgetall(_k("turnout", round_id)).items()}
