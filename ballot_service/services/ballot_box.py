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
import functools
import hashlib
import hmac
import logging
import random
import secrets
from dataclasses import dataclass, field

from redis.commands.core import Script
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

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


def _expire_at(round_or_snapshot) -> int:
    return int(round_or_snapshot.closes_at.replace(tzinfo=dt.UTC).timestamp()) + CLAIM_GRACE


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
    """The ballot of an office as rows, for rendering the page (or why there is none)."""

    round: Round | None
    roster: list[RoundRoster] = field(default_factory=list)
    config: BallotConfig | None = None
    next_round: Round | None = None


def office_ballot(office: Office) -> OfficeBallot:
    round_ = rounds.accepting_round(office.department.region_id)
    if round_ is None:
        return OfficeBallot(None, next_round=rounds.next_round(office.department.region_id))
    roster = rounds.frozen_roster(round_.id, office)
    return OfficeBallot(round_, roster, BallotConfig.from_snapshot(round_.config))


@dataclass(frozen=True)
class BallotSnapshot:
    """Plain values the ballot hot path needs for one office in an accepting round.

    Built from the rows once and cached (the roster is frozen for the round), so taking a
    ballot needs no database read. Secret stays in process memory, never in Redis.
    """

    round_id: int
    round_name: str
    closes_at: dt.datetime
    secret: bytes
    require_wechat: bool
    config: BallotConfig
    office_id: int
    people: tuple[tuple[int, Role, str], ...]  # (person id, role on this ballot, name)

    @property
    def roster(self) -> list[tuple[int, Role]]:
        return [(person_id, role) for person_id, role, _ in self.people]

    def accepting(self, now: dt.datetime | None = None) -> bool:
        return (now or rounds.utcnow()) < self.closes_at


def snapshot(office: Office, ballot: OfficeBallot) -> BallotSnapshot | None:
    round_ = ballot.round
    if round_ is None:
        return None
    return BallotSnapshot(
        round_id=round_.id, round_name=round_.name, closes_at=round_.closes_at, secret=round_.secret,
        require_wechat=round_.require_wechat, config=ballot.config, office_id=office.id,
        people=tuple((e.person_id, Role(e.role), e.person.name) for e in ballot.roster),
    )


def voter_status(snap: BallotSnapshot, identity: str) -> tuple[bool, bool, str | None]:
    """(closed, already voted, a new one-time token if not) in one Redis round trip."""
    token = secrets.token_urlsafe(24)
    status = _run_with_claims(_STATUS, snap.round_id, _expire_at(snap),
                              [_k("claim", snap.round_id, dedup_key(snap.secret, identity, snap.office_id)),
                               _k("token", token)],
                              [_token_value(snap.round_id, snap.office_id), TOKEN_TTL])
    return status == b"closed", status == b"voted", token if status == b"token" else None


def _token_value(round_id: int, office_id: int) -> str:
    """What a form token's key holds: the round and office it was issued for."""
    return f"{round_id}:{office_id}"


def claim_tag(token: str) -> bytes:
    """The value of a claim: this form's tag, so a resent form recognises its own claim."""
    return hashlib.sha256(f"claim:{token}".encode()).hexdigest()[:32].encode()


def ballot_id_of(secret: bytes, token: str) -> str:
    """A form's ballot id, the same for every resend of the form (see submit)."""
    return hmac.new(secret, f"ballot:{token}".encode(), hashlib.sha256).hexdigest()[:32]


def _run_with_claims(script: Script, round_id: int, expire_at: int, keys: list, args: list) -> bytes:
    """Run one of the scripts below, which answer "not-ready" while Redis lacks the round's
    claims (it lost its data): load them back, then run it again. KEYS[1] and KEYS[2] are the
    round's "ready" and "closed" markers, followed by `keys`."""
    keys = [_k("ready", round_id), _k("closed", round_id), *keys]
    r = redis_ext.client
    status = script(keys, args, client=r)
    if status == b"not-ready":
        ensure_claims_loaded(round_id, expire_at)
        status = script(keys, args, client=r)
        if status == b"not-ready":  # lost again meanwhile (a restart, or the cron reloading)
            raise RestoreInProgress()
    return status


# The office page's look-up, atomically in one round trip (see _run_with_claims). KEYS[3]: the
# voter's claim, KEYS[4]: a new token; ARGV: the token's value and lifetime.
_STATUS = Script(None, b"""
if redis.call('exists', KEYS[2]) == 1 then return 'closed' end
if redis.call('exists', KEYS[1]) == 0 then return 'not-ready' end
if redis.call('exists', KEYS[3]) == 1 then return 'voted' end
redis.call('set', KEYS[4], ARGV[1], 'EX', ARGV[2])
return 'token'
""")


def mark_closed(round_id: int, closes_at: dt.datetime) -> None:
    """Tell every web process at once that a round stopped taking ballots."""
    redis_ext.client.set(_k("closed", round_id), 1, exat=int(closes_at.replace(tzinfo=dt.UTC).timestamp())
                         + CLAIM_GRACE)


@dataclass
class Submission:
    outcome: Outcome
    checked: Checked | None = None


def submit(snap: BallotSnapshot | None, identity: str, token: str, form: dict[str, list[str]]) -> Submission:
    """Take one ballot: at most one counted per (round, office, identity), none lost.

    The claim's value is a hash of this form's one-time token, and the ballot's id is derived
    from the token under the round secret. So a resubmission of the very same form after a
    failure (the retry page sends it again) finds its own claim and writes the same ballot id:
    it completes the ballot if the first attempt did not, and is refused by the primary key if
    it did — never a second ballot. The token is consumed only once the ballot is stored.
    """
    if snap is None or not snap.accepting():
        return Submission(Outcome.CLOSED)
    if snap.require_wechat and not identity.startswith("w:"):
        return Submission(Outcome.WECHAT_REQUIRED)
    checked = check_ballot(snap.config, snap.roster, form)
    if not checked.ok:
        return Submission(Outcome.INVALID, checked)
    round_id, office_id, expire_at = snap.round_id, snap.office_id, _expire_at(snap)
    token_key, token_value = _k("token", token or "-"), _token_value(round_id, office_id)
    key = dedup_key(snap.secret, identity, office_id)
    claim = _k("claim", round_id, key)
    form_tag, ballot_id = claim_tag(token), ballot_id_of(snap.secret, token)
    try:
        status = _run_with_claims(_CLAIM, round_id, expire_at, [token_key, claim], [token_value, form_tag, expire_at])
        if status != b"claimed":
            return Submission(_CLAIM_REFUSALS[status])
    except (RedisError, SQLAlchemyError, RestoreInProgress):
        db.session.rollback()
        return Submission(Outcome.FAILED, checked)
    # From here this request holds the claim (new, or left by an earlier attempt of this form).
    newly_stored = True
    try:
        insert_ballot(ballot_id, round_id, office_id, checked)
    except SQLAlchemyError:
        db.session.rollback()
        # Not committed — unless the same form's earlier attempt already stored this ballot id.
        if not _ballot_exists(ballot_id):
            _release(claim, form_tag)
            log.warning("ballot write failed for round %s; claim released", round_id)
            return Submission(Outcome.FAILED, checked)
        newly_stored = False
    else:
        try:
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            stored = _ballot_exists(ballot_id)  # a commit that raised may still have happened
            if stored is not True:
                if stored is False:
                    _release(claim, form_tag)
                # Unknown: the claim stays, bound to this form; sending the form again settles it.
                log.warning("ballot commit failed for round %s", round_id)
                return Submission(Outcome.FAILED, checked)
    try:
        _STORED([token_key, _k("pending", round_id), _k("turnout", round_id)],
                [key, expire_at, office_id, int(newly_stored)], client=redis_ext.client)
    except RedisError:
        # The ballot is stored and counted; its claim stays, only the durable copy is missing.
        log.error("ballot stored but its claim was not queued for the durable copy (round %s)", round_id)
    return Submission(Outcome.RECORDED, checked)


# The checks and the claim of a submission, atomically in one round trip (see
# _run_with_claims). KEYS[3]: the form's token, KEYS[4]: the voter's claim; ARGV: the token's
# expected value, this form's tag, the claim's expiry. An existing claim with this form's tag is the
# same form sent again after a failure: it goes on (the ballot id then settles it).
_CLAIM = Script(None, b"""
if redis.call('exists', KEYS[2]) == 1 then return 'closed' end
if redis.call('exists', KEYS[1]) == 0 then return 'not-ready' end
local existing = redis.call('get', KEYS[4])
if not existing then
  if redis.call('get', KEYS[3]) ~= ARGV[1] then return 'stale' end
  redis.call('set', KEYS[4], ARGV[2], 'EXAT', ARGV[3])
  return 'claimed'
end
if existing == ARGV[2] then return 'claimed' end
return 'voted'
""")
_CLAIM_REFUSALS = {b"closed": Outcome.CLOSED, b"stale": Outcome.STALE_TOKEN, b"voted": Outcome.ALREADY_VOTED}

# After the ballot is stored, in one round trip: consume the token (KEYS[1]), queue the claim
# for the durable copy (KEYS[2]) and count the ballot in the office's turnout (KEYS[3]) unless
# it is a resent form's (ARGV[4] = 0). ARGV: the dedup key, the expiry, the office id.
_STORED = Script(None, b"""
redis.call('del', KEYS[1])
redis.call('sadd', KEYS[2], ARGV[1])
redis.call('expireat', KEYS[2], ARGV[2])
if ARGV[4] == '1' then
  redis.call('hincrby', KEYS[3], ARGV[3], 1)
  redis.call('expireat', KEYS[3], ARGV[2])
end
""")

# Delete a claim only if it is still the one this request set (never another submission's).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _release(claim: str, form_tag: bytes) -> None:
    try:
        redis_ext.client.eval(_RELEASE, 1, claim, form_tag)
    except RedisError:
        log.error("could not release a claim after a failed write; a retry of the same form completes it")


def _ballot_exists(ballot_id: str) -> bool | None:
    """Look on a fresh connection; None when the database cannot tell."""
    try:
        with db.engine.connect() as connection:
            return connection.execute(select(Ballot.id).where(Ballot.id == ballot_id)).first() is not None
    except SQLAlchemyError:
        return None


def insert_ballot(ballot_id: str, round_id: int, office_id: int, checked: Checked, channel: str = "online",
                  day: dt.date | None = None) -> None:
    """The ballot and all its ratings, in one transaction (the caller commits). Nothing about
    the voter is stored; `day` is today's date in China unless given."""
    rows = [
        (Ballot.__table__, [{"id": ballot_id, "round_id": round_id, "office_id": office_id,
                             "day": day or rounds.china_today(), "channel": channel}]),
        (Rating.__table__, [{"ballot_id": ballot_id, "round_id": round_id, "office_id": office_id,
                             "person_id": r.person_id, "level": r.level, "note": r.note} for r in checked.ratings]),
        (RatingTag.__table__, [{"ballot_id": ballot_id, "person_id": r.person_id, "tag": t}
                               for r in checked.ratings for t in r.tags]),
    ]
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        for table, values in rows:
            if values:
                connection.execute(table.insert(), values)
        return
    # PostgreSQL: one multi-row INSERT per table, the three in one psycopg pipeline: one round
    # trip instead of one per row (the ballot POST is the hot path). They bypass SQLAlchemy's
    # statement log too. Errors come back as SQLAlchemy's, and a lost connection is invalidated
    # as SQLAlchemy would.
    driver, dbapi_error = connection.connection.driver_connection, connection.dialect.loaded_dbapi.Error
    try:
        with driver.pipeline(), driver.cursor() as cursor:
            for table, values in rows:
                if values:
                    cursor.execute(_insert_sql(table.name, tuple(values[0]), len(values)),
                                   [value for row in values for value in row.values()])
    except dbapi_error as exc:
        if driver.broken:
            connection.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, dbapi_error, connection_invalidated=driver.broken) from exc


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    """INSERT INTO table (columns) VALUES (%s, …), … for `count` rows (names from our models)."""
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * count)


def store(ballot_id: str, round_id: int, office_id: int, checked: Checked) -> None:
    """Insert and commit a ballot (used where no claim is involved: tests, benchmarks)."""
    insert_ballot(ballot_id, round_id, office_id, checked)
    db.session.commit()


class RestoreInProgress(Exception):
    """Another process is loading the round's claims back into Redis; retry shortly."""


def ensure_claims_loaded(round_id: int, expire_at: int) -> None:
    """After Redis lost its data, load the round's durable dedup records back as claims
    before any new ballot is accepted. One process loads; the others wait for it."""
    r = redis_ext.client
    ready = _k("ready", round_id)
    if r.exists(ready):
        return
    lock = r.lock(_k("restore-lock", round_id), timeout=60, blocking_timeout=RESTORE_WAIT)
    if not lock.acquire():
        raise RestoreInProgress()
    try:
        if r.exists(ready):
            return
        keys = db.session.scalars(select(DedupRecord.key).where(DedupRecord.round_id == round_id))
        with r.pipeline(transaction=False) as pipe:
            for n, key in enumerate(keys, start=1):
                pipe.set(_k("claim", round_id, key), 1, nx=True, exat=expire_at)
                if n % 1000 == 0:
                    pipe.execute()
            pipe.set(ready, _server_id(), exat=expire_at)
            pipe.execute()
        db.session.rollback()  # end the read transaction
    finally:
        lock.release()


def _server_id() -> str:
    """Changes whenever the Redis server restarts (even from an old snapshot)."""
    return redis_ext.client.info("server")["run_id"]


def reconcile_claims(round_id: int, closes_at: dt.datetime, still_open: bool) -> bool:
    """Reload a round's durable claims if Redis restarted since they were loaded (a snapshot
    restore keeps an old "ready" marker but not the claims made after it). Run by the cron job;
    returns True when it reloaded. A closed round gets its close marker back too."""
    r = redis_ext.client
    expire_at = int(closes_at.replace(tzinfo=dt.UTC).timestamp()) + CLAIM_GRACE
    if not still_open:
        r.set(_k("closed", round_id), 1, exat=expire_at)
    ready = r.get(_k("ready", round_id))
    if ready is not None and ready.decode() == _server_id():
        return False
    r.delete(_k("ready", round_id))
    ensure_claims_loaded(round_id, expire_at)
    return True


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


def add_to_turnout(round_: Round, office_id: int) -> None:
    """Count one ballot stored by another path (a paper form) in the office's turnout."""
    key = _k("turnout", round_.id)
    with redis_ext.client.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, office_id, 1)
        pipe.expireat(key, _expire_at(round_))
        pipe.execute()


def turnout(round_id: int) -> dict[int, int]:
    """Ballots so far per office id (no scores)."""
    return {int(k): int(v) for k, v in redis_ext.client.hgetall(_k("turnout", round_id)).items()}


def forget_claims(round_id: int) -> None:
    """After the tally: the round's claims, tokens' target and queues are no longer needed."""
    r = redis_ext.client
    keys = list(r.scan_iter(_k("claim", round_id, "*"), count=1000))
    keys += [_k(kind, round_id) for kind in ("ready", "pending", "restore-lock")]
    for start in range(0, len(keys), 1000):
        r.delete(*keys[start:start + 1000])
