"""Taking a ballot: signed form tokens, a fast claim in Redis, the sealed ballot in the database.

Order of a submission: check the form token and the form (pure) -> claim the voter's dedup key
in Redis (the fast path: a second form of the same voter stops here) -> seal the ballot under
this process's seal key for the round (itself sealed to the round's public key) -> one
transaction: the sealed ballot and its dedup record, only while the round is open -> commit ->
the thank-you page. The dedup record's primary key, not Redis, holds one ballot per (round,
office, voter) (B1): a claim is only a hint, and Redis may lose its data or come back from an
old snapshot without a second ballot getting in. A write that fails before the commit releases
the claim, so the voter can simply retry (C2).

Redis holds one kind of key per voter and office, expiring after the round:
  ballot:claim:<round>:<dedup key>   a keyed tag of the form's nonce (domain.form_tokens)
Nothing in it, or in the database, joins a claim to a ballot's content without the round's
keys, which the tally destroys (A1, A2).
"""

import array
import bisect
import datetime as dt
import enum
import logging
import os
import secrets
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from redis.commands.core import Script
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..domain import form_tokens, receipts, sealing
from ..domain.ballots import BallotConfig, Checked, check_ballot
from ..domain.dedup import dedup_key
from ..domain.roles import Role
from ..domain.round_states import UNTALLIED, RoundStatus
from ..extensions import db, redis_ext
from ..models import DedupRecord, Office, Round, RoundRoster, SealedBallot, SealKey
from . import keys, rounds, solicitation

log = logging.getLogger(__name__)

CLAIM_GRACE = 7 * 24 * 3600  # claims outlive the close a little
SEAL_KEY_SECONDS = 3600  # a web process makes a new seal key for a round this often


def _claim_key(round_id: int, key: str) -> str:
    return f"ballot:claim:{round_id}:{key}"


class BoxTampered(rounds.RoundError):
    """A sealed ballot does not open under its round, seal key and row id: altered in the
    database, moved from another row or round, or copied. The message is for people."""


class Outcome(enum.Enum):
    RECORDED = "recorded"
    ALREADY_VOTED = "already_voted"
    INVALID = "invalid"
    STALE_TOKEN = "stale_token"
    CLOSED = "closed"
    WECHAT_REQUIRED = "wechat_required"
    FAILED = "failed"


FINDER_FROM = 8  # an office of more people gets the surname finder on its ballot


@dataclass
class OfficeBallot:
    """The ballot of an office as rows, for rendering the page (or why there is none)."""

    round: Round | None
    roster: list[RoundRoster] = field(default_factory=list)
    config: BallotConfig | None = None
    next_round: Round | None = None

    @property
    def surnames(self) -> list[tuple[str, int]]:
        """For an office of more than FINDER_FROM people, each surname (a name's first
        character) with the first person bearing it, in roster order: the voter finds the
        people who served them. Empty for a smaller office."""
        if len(self.roster) <= FINDER_FROM:
            return []
        first: dict[str, int] = {}
        for entry in self.roster:
            first.setdefault(entry.person.name[:1], entry.person.id)
        return list(first.items())


def office_ballot(office: Office) -> OfficeBallot:
    round_ = rounds.accepting_round(office.department.region_id)
    if round_ is None:
        return OfficeBallot(None, next_round=rounds.next_round(office.department.region_id))
    roster = rounds.frozen_roster(round_.id, office)
    return OfficeBallot(round_, roster, BallotConfig.from_snapshot(round_.config))


@dataclass(frozen=True)
class BallotSnapshot:
    """Plain values the ballot hot path needs for one office in an accepting round.

    Built from the rows once and cached (the roster is frozen for the round), so neither the
    office page nor the ballot reads the database. The round's secret comes from the key store
    and stays in this process's memory only.
    """

    round_id: int
    round_name: str
    closes_at: dt.datetime
    secret: bytes
    public_key: bytes
    sealed_size: int
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
    """The office's snapshot, or None when no round accepts ballots. Raises keys.KeyMissing
    when the round's secret is not in this host's key store."""
    round_ = ballot.round
    if round_ is None:
        return None
    return BallotSnapshot(
        round_id=round_.id, round_name=round_.name, closes_at=round_.closes_at,
        secret=keys.round_secret(round_.key_id), public_key=round_.public_key, sealed_size=round_.sealed_size,
        require_wechat=round_.require_wechat, config=ballot.config, office_id=office.id,
        people=tuple((e.person_id, Role(e.role), e.person.name) for e in ballot.roster),
    )


def new_token(snap: BallotSnapshot, identity: str) -> str:
    """A form token for this voter and office: signed, stored nowhere."""
    return form_tokens.issue(snap.secret, snap.round_id, snap.office_id, identity, int(time.time()))


@dataclass
class Submission:
    """What became of a form. `receipt`: the receipt code (domain.receipts) of the ballot this
    form sealed — set when RECORDED, and when ALREADY_VOTED because this very form's ballot is
    in the box (its resend); for the voter's eyes only, never to be logged or stored."""

    outcome: Outcome
    checked: Checked | None = None
    receipt: str | None = None


def submit(snap: BallotSnapshot | None, identity: str, token: str, form: dict[str, list[str]]) -> Submission:
    """Take one ballot: at most one counted per (round, office, identity), none lost.

    The claim in Redis holds a keyed tag of this form's nonce, so the very same form sent again
    after a failure (the retry page does that) goes on past its own claim; then the dedup
    record's primary key settles it: the form was stored by its first attempt, and is not
    stored twice (ALREADY_VOTED, which says nothing about what was stored).

    The sealed row's id and the receipt sealed inside it are keyed hashes of the form's nonce
    (domain.receipts), so a form sent again finds whether its own ballot is in the box: only then
    does its ALREADY_VOTED carry the receipt again. A claim, or the dedup record, would not say
    so: the voter's other form (a second tab) may be the one stored.
    """
    if snap is None or not snap.accepting():
        return Submission(Outcome.CLOSED)
    if snap.require_wechat and not identity.startswith("w:"):
        return Submission(Outcome.WECHAT_REQUIRED)
    nonce = form_tokens.nonce_of(snap.secret, token, snap.round_id, snap.office_id, identity, int(time.time()))
    if nonce is None:
        return Submission(Outcome.STALE_TOKEN)
    checked = check_ballot(snap.config, snap.roster, form)
    if not checked.ok:
        return Submission(Outcome.INVALID, checked)
    key = dedup_key(snap.secret, identity, snap.office_id)
    claim, tag = _claim_key(snap.round_id, key), form_tokens.claim_tag(snap.secret, nonce)
    try:
        if _CLAIM([claim], [tag, _expire_at(snap.closes_at)], client=redis_ext.client) != b"claimed":
            # Another form's claim is a hint only: that attempt may have failed without knowing
            # whether it committed. The database says; a claim with no record is taken over.
            if _record_exists(snap.round_id, key):
                return _already_voted(snap, nonce, _asked)
            redis_ext.client.set(claim, tag, exat=_expire_at(snap.closes_at))
    except RedisError:
        return Submission(Outcome.FAILED, checked)
    except SQLAlchemyError:
        return Submission(Outcome.FAILED, checked)
    ballot_id, receipt = receipts.sealed_id(snap.secret, nonce), receipts.receipt(snap.secret, nonce)
    plaintext = sealing.encode(snap.office_id, "online", checked.ratings, receipt)
    if not sealing.fits(snap.sealed_size, plaintext):  # a round opened before receipts
        receipt, plaintext = None, sealing.encode(snap.office_id, "online", checked.ratings)
    try:
        seal_key_id, seal_key = _seal_key(snap.round_id, snap.public_key)
        box = sealing.seal(seal_key, snap.round_id, seal_key_id, ballot_id, snap.sealed_size, plaintext)
        stored = insert_sealed(snap.round_id, ballot_id, seal_key_id, box, key)
        if stored:
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        recorded = _recorded(snap.round_id, key)
        if recorded:
            return _already_voted(snap, nonce, _asked_afresh)  # this form's first attempt, or another form
        _release(claim, tag)
        if recorded is False:
            # Not the dedup record: the seal key's row is gone (a database restored from an older
            # backup); the form sent again seals under a new one.
            _seal_keys.pop((snap.round_id, snap.public_key), None)
            log.error("sealed ballot refused for round %s: its seal key is not in the database", snap.round_id)
        return Submission(Outcome.FAILED, checked)
    except SQLAlchemyError:
        # The write or its commit failed, and may still have happened: the database says, on a
        # fresh connection. Unless it did, the claim goes, even when that is unknown (the dedup
        # record, not the claim, refuses a second ballot): the voter can send the form again (C2),
        # and it is stored once.
        db.session.rollback()
        if _asked_afresh(select(SealedBallot.id).where(SealedBallot.id == ballot_id)):
            return Submission(Outcome.RECORDED, checked, receipt)  # this very ballot is in the box
        _release(claim, tag)
        log.warning("ballot write failed for round %s", snap.round_id)
        return Submission(Outcome.FAILED, checked)
    except BaseException:
        db.session.rollback()
        _release(claim, tag)
        raise
    if not stored:  # the round closed meanwhile: nothing was written
        db.session.rollback()
        _release(claim, tag)
        return Submission(Outcome.CLOSED)
    solicitation.count_ballot(snap.round_id, snap.office_id, secret=snap.secret, closes_at=snap.closes_at)
    return Submission(Outcome.RECORDED, checked, receipt)


def _already_voted(snap: BallotSnapshot, nonce: str, ask) -> Submission:
    """ALREADY_VOTED, with the form's receipt again only when this very form's ballot is in the
    box (asked by its row id, `ask` on the session or afresh): a voter whose thank-you page was
    lost gets the same receipt, one who sends a second form gets none."""
    own = ask(select(SealedBallot.id).where(SealedBallot.id == receipts.sealed_id(snap.secret, nonce)))
    return Submission(Outcome.ALREADY_VOTED, receipt=receipts.receipt(snap.secret, nonce) if own else None)


def has_voted(snap: BallotSnapshot, identity: str) -> bool:
    """Whether this voter's ballot for the office is recorded (asked once, at WeChat sign-in, so a
    second phone of the same WeChat user shows "已评价" before the form is filled in)."""
    return _record_exists(snap.round_id, dedup_key(snap.secret, identity, snap.office_id))


def _record_query(round_id: int, key: str):
    return select(DedupRecord.key).where(DedupRecord.round_id == round_id, DedupRecord.key == key)


def _asked(query) -> bool:
    """Whether `query` finds a row, asked on the session's connection; the read ends there."""
    try:
        return db.session.scalar(query) is not None
    finally:
        db.session.rollback()


def _record_exists(round_id: int, key: str) -> bool:
    """Whether the voter's dedup record exists, asked on the session's own connection; the read
    ends there (the ballot's write starts a transaction of its own)."""
    return _asked(_record_query(round_id, key))


def _expire_at(closes_at: dt.datetime) -> int:
    return int(closes_at.replace(tzinfo=dt.UTC).timestamp()) + CLAIM_GRACE


# Claim a voter's key for this form, atomically: set it if absent; an existing claim with this
# form's tag is the same form sent again (it goes on). KEYS[1]: the claim; ARGV: the tag, expiry.
_CLAIM = Script(None, b"""
local existing = redis.call('get', KEYS[1])
if not existing then
  redis.call('set', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
  return 'claimed'
end
if existing == ARGV[1] then return 'claimed' end
return 'voted'
""")

# Delete a claim only if it is still the one this request set (never another submission's).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _release(claim: str, tag: str) -> None:
    try:
        redis_ext.client.eval(_RELEASE, 1, claim, tag)
    except RedisError:
        log.error("could not release a claim after a failed write; a retry of the same form completes it")


def _recorded(round_id: int, key: str) -> bool | None:
    """Whether the voter's dedup record exists, on a fresh connection; None when unknown."""
    return _asked_afresh(_record_query(round_id, key))


def _asked_afresh(query) -> bool | None:
    """Whether `query` finds a row, asked on a fresh connection (after the session's failed);
    None when that fails too."""
    try:
        with db.engine.connect() as connection:
            return connection.execute(query).first() is not None
    except SQLAlchemyError:
        return None


# This process's seal key per round (by id and public key): (id, key, made at). Kept in memory
# only; its wrapped copy is committed before the first ballot sealed under it.
_seal_keys: dict[tuple[int, bytes], tuple[str, object, float]] = {}


def _seal_key(round_id: int, public_key: bytes):
    """This process's seal key for the round (id, AESGCM), made when there is none or it is an
    hour old, and committed before any ballot refers to it."""
    found = _seal_keys.get((round_id, public_key))
    if found is None or time.monotonic() - found[2] >= SEAL_KEY_SECONDS:
        # The session has written nothing yet for this ballot: commit the key on its connection
        # (a second connection per request could run the pool dry under a burst).
        found = (*_new_seal_key(db.session.connection(), round_id, public_key), time.monotonic())
        db.session.commit()
        _seal_keys[(round_id, public_key)] = found
    return found[0], found[1]


def _new_seal_key(connection, round_id: int, public_key: bytes):
    """A new seal key (id, AESGCM), its wrapped copy written on `connection`."""
    seal_key_id, raw = secrets.token_hex(16), sealing.new_seal_key()
    connection.execute(insert(SealKey).values(
        id=seal_key_id, round_id=round_id, wrapped=sealing.wrap_seal_key(public_key, round_id, seal_key_id, raw)))
    return seal_key_id, sealing.AESGCM(raw)


# The sealed ballot, written only while the round (not yet unsealed) takes it, RETURNING its id;
# then the voter's dedup record. Plain SQL both backends read alike: built once, no statement
# construction or cache key per ballot (bench/ballot_instructions.py).
_SEALED_SQL = ("INSERT INTO sealed_ballot (id, round_id, seal_key_id, box) "
               "SELECT :id, :round_id, :seal_key_id, :box WHERE EXISTS "
               "(SELECT 1 FROM round WHERE round.id = :round_id AND round.unsealed = false AND {}) RETURNING id")
_OPEN = f"round.status = '{RoundStatus.OPEN}' AND round.closes_at > :now"
_TYPES = (bindparam("box", type_=SealedBallot.__table__.c.box.type), bindparam("now", type_=Round.closes_at.type))
_INSERT_ONLINE = text(_SEALED_SQL.format(_OPEN)).bindparams(*_TYPES)
_UNTALLIED = f"round.status IN {tuple(s.value for s in UNTALLIED)}"
_INSERT_UNTALLIED = text(_SEALED_SQL.format(_UNTALLIED)).bindparams(_TYPES[0])
_INSERT_DEDUP = text("INSERT INTO dedup_record (round_id, key) VALUES (:round_id, :key)")
# PostgreSQL takes both in one statement, one round trip: the dedup record only if the sealed
# row was written (SQLite has no INSERT inside WITH).
_INSERT_ONLINE_WITH_DEDUP = text(
    f"WITH sealed AS ({_SEALED_SQL.format(_OPEN)}) "
    "INSERT INTO dedup_record (round_id, key) SELECT :round_id, :key FROM sealed RETURNING key").bindparams(*_TYPES)


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def insert_sealed(round_id: int, ballot_id: str, seal_key_id: str, box: bytes, key: str) -> bool:
    """A voter's sealed ballot and its dedup record, only while the round is open: False (nothing
    written) otherwise. Written and committed at once on PostgreSQL, in the session's new
    transaction elsewhere (the caller commits). The dedup record's primary key raises
    IntegrityError for a voter who has a ballot already."""
    values = dict(id=ballot_id, round_id=round_id, seal_key_id=seal_key_id, box=box, now=rounds.utcnow(), key=key)
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement is atomic by itself: in autocommit it is its own commit, one round trip
        # instead of BEGIN, INSERT and COMMIT (bench/ballot_load.py). What the request read before
        # (the office's page built on a cache miss) ends first, so that the option applies.
        if db.session().in_transaction():
            db.session.commit()
        connection = db.session.connection(execution_options=_AUTOCOMMIT)
        return connection.execute(_INSERT_ONLINE_WITH_DEDUP, values).first() is not None
    connection = db.session.connection()
    stored = connection.execute(_INSERT_ONLINE, values).first() is not None
    if stored:
        connection.execute(_INSERT_DEDUP, values)
    return stored


def store(round_: Round, office_id: int, ratings, channel: str) -> bool:
    """A ballot taken without a voter's claim (a counted paper form; tests, benchmarks): sealed
    like an online one into the round's box, under a seal key of its own written in the caller's
    transaction (which may already hold SQLite's write lock); False once the round is tallied or
    its unsealing has begun."""
    connection = db.session.connection()
    seal_key_id, seal_key = _new_seal_key(connection, round_.id, round_.public_key)
    ballot_id = secrets.token_hex(16)
    box = sealing.seal(seal_key, round_.id, seal_key_id, ballot_id, round_.sealed_size,
                       sealing.encode(office_id, channel, ratings))
    return connection.execute(_INSERT_UNTALLIED, dict(id=ballot_id, round_id=round_.id,
                                                      seal_key_id=seal_key_id, box=box)).first() is not None


_BOX_TABLES = "sealed_ballot, seal_key, dedup_record"


def lock_box() -> None:
    """Keep every other writer of sealed ballots out until the caller's transaction ends, once
    those already writing have finished: the unsealing reads, writes and empties the box in one
    transaction, and no ballot (a paper form counted at the close) may slip in between, nor a
    second tally. PostgreSQL: SHARE ROW EXCLUSIVE on the box's tables conflicts with INSERT and
    DELETE and with itself, not with reads; a writer that waited then sees the committed
    `unsealed` and writes nothing. SQLite: the write lock, taken by a write."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"LOCK TABLE {_BOX_TABLES} IN SHARE ROW EXCLUSIVE MODE"))
    else:
        connection.execute(text("UPDATE round SET unsealed = unsealed WHERE 0"))


def unseal(round_: Round) -> "_Opened":
    """Every sealed ballot of the round opened, in random order: iterate the result for (office id,
    channel, ratings), each rating as [person id, level, tags, note] (domain.sealing.encode); then
    its `receipts()`. The boxes are all read and opened here, at once (a box that does not open
    stops the tally before anything is written), so the caller may write the ballots as plaintext
    as it takes them (the connection is free by then), and empty the box in the same transaction.

    The order is what keeps a plaintext row from its sealed one (A1): the box is read in the
    database's order, which is near enough the order the ballots were cast, and its rows carry
    ids, xmin and ctid an operator sees; so the unsealed rows (and the WAL that writes them) must
    come out in an order drawn here, in this process alone, and nowhere else (not an ORDER BY
    random(), whose sort runs would sit in the database's temporary files with the sealed ids).
    The shuffle used to hold the whole box in memory (2.9 kB a ballot: 3.6 GB at a million,
    bench/tally_scale.py); instead each opened ballot goes into one of _BUCKETS buckets drawn
    uniformly at random, kept in a _Spill, and the buckets come out one after another, each
    shuffled. Given the buckets' sizes every assignment of ballots to buckets is equally likely,
    so the whole order is a uniformly random permutation, as the one shuffle was. Memory is one
    bucket (1/256 of the round's opened plaintext) and the spill's buffers."""
    private = keys.private_key(round_.key_id)
    seal_keys = {seal_key_id: sealing.AESGCM(sealing.unwrap_seal_key(private, round_.id, seal_key_id, wrapped))
                 for seal_key_id, wrapped in db.session.execute(
                     select(SealKey.id, SealKey.wrapped).where(SealKey.round_id == round_.id))}
    spill, buckets = _Spill(), iter(())
    try:
        for ballot_id, seal_key_id, box in _boxes(round_.id):
            bucket = next(buckets, None)
            if bucket is None:  # one random byte a ballot: _BUCKETS is 256
                buckets = iter(_bucket_draws())
                bucket = next(buckets)
            spill.put(bucket, sealing.unseal(seal_keys[seal_key_id], round_.id, seal_key_id, ballot_id, box))
    except (InvalidTag, KeyError):
        spill.close()
        raise BoxTampered("有密封选票无法打开（可能被改动、移动或复制），无法统计，请联系系统管理员核查") from None
    return _Opened(spill)


_BUCKETS = 256


def _bucket_draws() -> bytes:
    """Random bucket numbers, one a byte (tests draw them all alike, to see each bucket shuffled)."""
    return os.urandom(4096)
# Receipt codes go to buckets by their first two characters, in code order (receipts.ALPHABET is
# in ASCII order): bucket i holds the codes between the i-th and the (i+1)-th boundary.
_RECEIPT_BOUNDARIES = [a + b for a in receipts.ALPHABET for b in receipts.ALPHABET][4::4]
_CHUNK = 16 * 1024
_RECORD_LENGTH = struct.Struct(">I")


class _Opened:
    """The opened ballots of a round, bucket by bucket (unseal); their receipt codes are put
    aside as they are taken, again into a _Spill, by code, so that `receipts()` gives them
    sorted and once each, without holding them all (what the tally writes, apart from the
    ballots, in an order that says nothing of theirs)."""

    def __init__(self, ballots: "_Spill"):
        self._ballots, self._receipts = ballots, _Spill()

    def __iter__(self) -> Iterator[tuple[int, str, list]]:
        shuffle = secrets.SystemRandom().shuffle
        for bucket in range(_BUCKETS):
            records = self._ballots.take(bucket)
            shuffle(records)
            for record in records:
                office_id, channel, ratings, receipt = sealing.decode_raw(record)
                if receipt is not None:
                    self._receipts.put(bisect.bisect(_RECEIPT_BOUNDARIES, receipt[:2]), receipt.encode())
                yield office_id, channel, ratings
        self._ballots.close()

    def close(self) -> None:
        """Both spill files go now, also when the tally stopped half-way (a closed one stays closed)."""
        self._ballots.close()
        self._receipts.close()

    def receipts(self) -> Iterator[str]:
        """The codes of the ballots taken, in code order, each once (two ballots of one code, a
        chance of one in two million in a round of a million, share it)."""
        for bucket in range(_BUCKETS):
            yield from sorted({code.decode() for code in self._receipts.take(bucket)})
        self._receipts.close()


class _Spill:
    """Records (bytes) put into _BUCKETS buckets and taken back a bucket at a time, kept meanwhile
    in an unnamed temporary file of this process (in TMPDIR, which should be on disk: about 200
    bytes a ballot; the file goes when it is closed or the process dies), in chunks encrypted
    under a key that only this process's memory ever holds: what the file keeps, even of which
    chunk is whose, is useless once the process ends. In memory: a chunk's buffer per bucket,
    where each chunk is in the file, and one bucket while it is taken."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._key = sealing.AESGCM(sealing.AESGCM.generate_key(bit_length=128))
        self._pending = [bytearray() for _ in range(_BUCKETS)]
        self._chunks = [array.array("Q") for _ in range(_BUCKETS)]  # offset, length, ... of its chunks

    def put(self, bucket: int, record: bytes) -> None:
        pending = self._pending[bucket]
        pending += _RECORD_LENGTH.pack(len(record))
        pending += record
        if len(pending) >= _CHUNK:
            self._flush(bucket)

    def _flush(self, bucket: int) -> None:
        pending = self._pending[bucket]
        if pending:
            offset = self._file.seek(0, os.SEEK_END)
            data = self._key.encrypt(offset.to_bytes(12), bytes(pending), None)  # an offset is a nonce once
            self._file.write(data)
            self._chunks[bucket].extend((offset, len(data)))
            self._pending[bucket] = bytearray()

    def take(self, bucket: int) -> list[bytes]:
        """The bucket's records, in the order they were put; the bucket is left empty."""
        self._flush(bucket)
        chunks, records = self._chunks[bucket], []
        for i in range(0, len(chunks), 2):
            self._file.seek(chunks[i])
            data = self._key.decrypt(chunks[i].to_bytes(12), self._file.read(chunks[i + 1]), None)
            at = 0
            while at < len(data):
                (length,) = _RECORD_LENGTH.unpack_from(data, at)
                records.append(data[at + _RECORD_LENGTH.size:at + _RECORD_LENGTH.size + length])
                at += _RECORD_LENGTH.size + length
        self._chunks[bucket] = array.array("Q")
        return records

    def close(self) -> None:
        self._file.close()


def _boxes(round_id: int):
    """(id, seal key id, box) of every sealed ballot of the round, 2,000 at a time, in the session's
    transaction. PostgreSQL sends them in binary: half the bytes of bytea's hex text, and no
    hex decoding (a fifth of the unsealing's time in bench/tally.py)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        yield from db.session.execute(select(SealedBallot.id, SealedBallot.seal_key_id, SealedBallot.box)
                                      .where(SealedBallot.round_id == round_id).execution_options(yield_per=2000))
        return
    with connection.connection.cursor(name="sealed_boxes", binary=True) as cursor:
        cursor.itersize = 2000
        cursor.execute("SELECT id, seal_key_id, box FROM sealed_ballot WHERE round_id = %s", [round_id])
        yield from cursor


_OTHER_ROUNDS = text("SELECT (SELECT count(*) FROM sealed_ballot WHERE round_id = :r), "
                     + " OR ".join(f"EXISTS (SELECT 1 FROM {table} WHERE round_id <> :r)"
                                   for table in _BOX_TABLES.split(", ")))


def empty_box(round_id: int) -> int:
    """After unsealing, under lock_box: the sealed ballots, their seal keys and the dedup records
    of the round go. Returns how many sealed ballots went (the caller checks it is every one it
    opened). On PostgreSQL, when the box holds this round alone (one round at a time, the usual
    case), TRUNCATE: no dead rows of ciphertext, and their files go at the commit."""
    if db.session.get_bind().dialect.name == "postgresql":
        emptied, others = db.session.execute(_OTHER_ROUNDS, {"r": round_id}).one()
        if not others:
            # TRUNCATE waits for every reader (a pg_dump, say), and readers queue behind it: give up
            # after a few seconds, or without the privilege, and DELETE instead.
            try:
                with db.session.begin_nested():
                    db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
                    db.session.execute(text(f"TRUNCATE {_BOX_TABLES}"))
                return emptied
            except SQLAlchemyError:
                log.warning("the sealed box is emptied by DELETE: TRUNCATE was not possible")
    emptied = db.session.execute(delete(SealedBallot).where(SealedBallot.round_id == round_id)).rowcount
    db.session.execute(delete(SealKey).where(SealKey.round_id == round_id))
    db.session.execute(delete(DedupRecord).where(DedupRecord.round_id == round_id))
    return emptied


def turnout(round_id: int) -> int:
    """Ballots so far in the round, all offices together: a sealed ballot shows no office."""
    return db.session.scalar(select(func.count()).select_from(SealedBallot)
                             .where(SealedBallot.round_id == round_id)) or 0


def forget_claims(round_id: int) -> None:
    """After the tally: the round's claims are no longer needed."""
    r = redis_ext.client
    keys_ = list(r.scan_iter(_claim_key(round_id, "*"), count=1000))
    for start in range(0, len(keys_), 1000):
        r.delete(*keys_[start:start + 1000])
