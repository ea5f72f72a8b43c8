"""How the tally's cost grows with the round: 100,000 and 1,000,000 sealed ballots on PostgreSQL.

The organisation is bench/tally.py's (250 departments, 1,500 offices, 10,000 people; six people
on each office's ballot), so the results are the same size at every round size: whatever the
tallying process needs beyond them grows with the ballots. The largest round is sealed once, as
web processes seal ballots (eight seal keys, a receipt code in every ballot, complaint tags on
about half of the basically-satisfied and dissatisfied ratings, a note on one ballot in 20), in
two processes, COPYed straight into a table kept aside; before each tally the first N of those
(in the order they were sealed, as a round's box fills) are put back into the box, with the
seal keys and the round's key files as they were at the close.

Each tally runs in a process of its own (bench/tally_scale.py --child), so that its peak memory
(ru_maxrss) is the tally's alone; it prints that and its RSS before the tally. Beside each
tally, in the same run and on the rows it has just written, two floors:

- unsealing: COPY FROM of the same bytes (the ballot, rating, rating_tag and receipt rows the
  unsealing wrote, dumped with COPY TO) into scratch tables of the same shape, keys and indexes
  included, in one transaction. The unsealing must also read and open the box and empty it,
  which this floor does not.
- counting: the hand-written GROUP BY of count and sum of points per person and level over the
  round's ratings, as bench/tally.py's floor. The tally's counting (every step after the
  unsealing) is compared with it; so is the whole tally.

    .venv/bin/python bench/tally_scale.py [--sizes 100000,1000000] [--repeat 1]

Uses a fresh database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards), Redis at
REDIS_URL or 127.0.0.1:6379/14, scratch files under bench/out/. At 1,000,000 ballots the box
is 2.9 GB and the bench keeps a copy of it: about 8 GB of disk while it runs, and 10 minutes.
"""

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SEAL_KEYS = 8
GROUP_BY_FLOOR = (
    "SELECT r.person_id, r.level, count(*), sum(CASE r.level WHEN 'satisfied' THEN 100 "
    "WHEN 'fairly_satisfied' THEN 80 WHEN 'basically_satisfied' THEN 60 WHEN 'dissatisfied' THEN 30 "
    "END) FROM rating r WHERE r.round_id = :r GROUP BY r.person_id, r.level")
# What the unsealing writes, table by table, as the COPY floor writes it again.
PLAINTEXT = {"rating": "ballot_id, round_id, office_id, person_id, level, note",
             "ballot": "id, round_id, office_id, channel",
             "rating_tag": "ballot_id, person_id, tag",
             "receipt": "round_id, code"}


def bench_app(key_dir: str):
    from ballot_service import create_app

    return create_app({"MEDIA_ROOT": os.path.join(ROOT, "bench", "out", "media"), "KEY_DIR": key_dir,
                       "SECRET_KEY": "bench"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000", help="round sizes in ballots, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="tallies per size (medians are printed)")
    parser.add_argument("--child", type=int, metavar="ROUND_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    created = f"ballot_tally_scale_{os.getpid()}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", created], check=True)
    os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{created}"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    key_dir = os.path.join(ROOT, "bench", "out", f"keys-{os.getpid()}")
    os.environ["BENCH_KEY_DIR"] = key_dir
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    dumps = tempfile.mkdtemp(prefix="tally-scale-", dir=os.path.join(ROOT, "bench", "out"))

    from flask_migrate import upgrade
    from sqlalchemy import text

    from ballot_service.extensions import db

    app = bench_app(key_dir)
    figures = []
    try:
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            round_id = generate(db, text, max(sizes))
            print(f"sealed {max(sizes):,} ballots in {time.perf_counter() - started:.1f} s", flush=True)
            files = {name: open(os.path.join(key_dir, name), "rb").read() for name in os.listdir(key_dir)}
            for size in sizes:
                runs = []
                for _ in range(args.repeat):
                    put_back(db, text, round_id, size, key_dir, files)
                    tallied = run_child(round_id)
                    copy = copy_floor(db, text, round_id, dumps)
                    started = time.perf_counter()
                    db.session.execute(text(GROUP_BY_FLOOR), {"r": round_id}).all()
                    group_by = time.perf_counter() - started
                    db.session.commit()
                    runs.append(dict(tallied, copy=copy, group_by=group_by))
                    print(f"  {size:>9,} ballots: tally {tallied['total']:.2f} s "
                          f"(unsealing {tallied['unsealing']:.2f} s), "
                          f"COPY floor {copy:.2f} s, GROUP BY floor {group_by:.2f} s, "
                          f"peak {tallied['peak_mb']:.0f} MB; within the unsealing: "
                          + ", ".join(f"{name} {t:.2f} s" for name, t in tallied["within"].items()), flush=True)
                figures.append((size, runs))
            results = db.session.execute(text("SELECT count(*) FROM result WHERE round_id = :r"),
                                         {"r": round_id}).scalar()
    finally:
        shutil.rmtree(key_dir, ignore_errors=True)
        shutil.rmtree(dumps, ignore_errors=True)
        with app.app_context():
            db.engine.dispose()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", created], check=False)
    report(figures, results)


def report(figures: list, results: int) -> None:
    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    print(f"\n{'ballots':>9}  {'unsealing':>9}  {'COPY floor':>10}  {'ratio':>5}  {'counting':>8}  "
          f"{'GROUP BY':>8}  {'ratio':>5}  {'tally':>7}  {'/GROUP BY':>9}  {'RSS before':>10}  {'peak RSS':>8}  digest")
    for size, runs in figures:
        unseal, copy, total = median(runs, "unsealing"), median(runs, "copy"), median(runs, "total")
        group_by, counting = median(runs, "group_by"), median(runs, "counting")
        digests = {r["digest"] for r in runs}
        print(f"{size:>9,}  {unseal:8.2f}s  {copy:9.2f}s  {unseal / copy:5.2f}  {counting:7.2f}s  "
              f"{group_by:7.2f}s  {counting / group_by:5.2f}  {total:6.2f}s  {total / group_by:9.1f}  "
              f"{median(runs, 'before_mb'):8.0f}MB  {median(runs, 'peak_mb'):6.0f}MB  "
              f"{next(iter(digests))[:12] if len(digests) == 1 else 'DIGESTS DIFFER'}")
    if len(figures) > 1:
        (small, a), (large, b) = figures[0], figures[-1]
        grow = large / small
        print(f"\n{large:,} against {small:,} ballots ({grow:.0f}x the work): "
              + ", ".join(f"{name} {median(b, key) / median(a, key):.1f}x" for name, key in
                          (("unsealing", "unsealing"), ("its COPY floor", "copy"), ("counting", "counting"),
                           ("GROUP BY floor", "group_by"), ("tally", "total")))
              + f"; peak RSS {median(a, 'peak_mb'):.0f} -> {median(b, 'peak_mb'):.0f} MB, "
              f"{(median(b, 'peak_mb') - median(a, 'peak_mb')) * 2**20 / (large - small):.0f} bytes per further ballot")
    print(f"{results} result rows at every size (the results themselves)")


def run_child(round_id: int) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(round_id)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(round_id: int) -> None:
    """The measured process: the app, then one tally; its figures as one JSON line."""
    from ballot_service.services import ballot_box
    from ballot_service.services.tally import tally_round

    app = bench_app(os.environ["BENCH_KEY_DIR"])
    timed = {}

    def timing(name, function):
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timed[name] = timed.get(name, 0) + time.perf_counter() - started
        return timed_call

    # Within the unsealing: ballot_box.unseal (reads the whole box, and opens it), emptying the box.
    ballot_box.unseal = timing("reading the box", ballot_box.unseal)
    ballot_box.empty_box = timing("emptying the box", ballot_box.empty_box)
    with app.app_context():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        steps = []
        started = time.perf_counter()
        digest = tally_round(round_id, lambda step: steps.append((str(step), time.perf_counter())))
        total = time.perf_counter() - started
    times = {name: end - begin for (name, begin), (_, end) in zip(steps, steps[1:], strict=False)}
    unsealing = times["unsealing ballots"]
    print(json.dumps(dict(total=total, unsealing=unsealing, counting=total - unsealing, steps=times, within=timed,
                          digest=digest,
                          before_mb=before / 1024,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def copy_floor(db, text, round_id: int, dumps: str) -> float:
    """Seconds to COPY FROM the very bytes the unsealing wrote (dumped first with COPY TO) into
    scratch tables shaped like the real ones, in one transaction; then dropped."""
    raw = db.session.connection().connection
    paths = {}
    with raw.cursor() as cursor:
        for table, columns in PLAINTEXT.items():
            paths[table] = os.path.join(dumps, table)
            with open(paths[table], "wb") as out, cursor.copy(f"COPY {table} ({columns}) TO STDOUT") as copy:
                for chunk in copy:
                    out.write(chunk)
    db.session.commit()
    for table in PLAINTEXT:
        db.session.execute(text(f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING ALL)"))
    db.session.commit()
    raw = db.session.connection().connection
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table, columns in PLAINTEXT.items():
            with open(paths[table], "rb") as data, cursor.copy(f"COPY scratch_{table} ({columns}) FROM STDIN") as copy:
                while chunk := data.read(1 << 20):
                    copy.write(chunk)
    db.session.commit()
    took = time.perf_counter() - started
    for table in PLAINTEXT:
        db.session.execute(text(f"DROP TABLE scratch_{table}"))
        os.remove(paths[table])
    db.session.commit()
    return took


def put_back(db, text, round_id: int, size: int, key_dir: str, files: dict[str, bytes]) -> None:
    """The round as at its close with the first `size` sealed ballots in its box, in the order
    they were sealed; no plaintext rows; its seal keys and key files back."""
    for statement in ("TRUNCATE rating_tag, rating, ballot, receipt, sealed_ballot, seal_key",
                      "INSERT INTO seal_key SELECT * FROM bench_seal_key",
                      "INSERT INTO sealed_ballot (id, round_id, seal_key_id, box) "
                      "SELECT id, round_id, seal_key_id, box FROM bench_box WHERE n <= :n ORDER BY n",
                      "UPDATE round SET unsealed = false WHERE id = :r"):
        db.session.execute(text(statement), {"r": round_id, "n": size})
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE sealed_ballot"))  # as autovacuum would have, over a round
    os.makedirs(key_dir, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(key_dir, name), "wb") as fh:
            fh.write(data)


def generate(db, text, ballots: int) -> int:
    """bench/tally.py's organisation and round (opened, so its roster is frozen, then closed),
    with `ballots` sealed ballots in bench_box (n: the order they were sealed) and the round's
    seal keys in bench_seal_key."""
    from ballot_service.services import rounds
    from bench.tally import generate as organisation

    round_id = organisation(db, text, rounds, 0)  # seals no ballot; its eight seal keys go
    db.session.execute(text("DELETE FROM seal_key"))
    db.session.execute(text("CREATE TABLE bench_box (n integer, id varchar(32), round_id integer, "
                            "seal_key_id varchar(32), box bytea)"))
    db.session.commit()
    from ballot_service.domain import sealing
    from ballot_service.models import Round

    round_ = db.session.get(Round, round_id)
    roster: dict[int, list[tuple[int, str]]] = {}
    for office_id, person_id, role in db.session.execute(text(
            "SELECT office_id, person_id, role FROM round_roster WHERE round_id = :r ORDER BY office_id, position"),
            {"r": round_id}):
        roster.setdefault(office_id, []).append((person_id, role))
    seal_keys = []
    for _ in range(SEAL_KEYS):
        seal_key_id, raw = os.urandom(16).hex(), sealing.new_seal_key()
        db.session.execute(text("INSERT INTO seal_key (id, round_id, wrapped) VALUES (:i, :r, :w)"),
                           {"i": seal_key_id, "r": round_id,
                            "w": sealing.wrap_seal_key(round_.public_key, round_id, seal_key_id, raw)})
        seal_keys.append((seal_key_id, raw))
    db.session.execute(text("CREATE TABLE bench_seal_key AS SELECT * FROM seal_key"))
    db.session.commit()
    work = [(os.environ["DATABASE_URL"], round_id, round_.sealed_size, seal_keys, roster, start, ballots, 2)
            for start in (1, 2)]
    db.engine.dispose()  # no connection of this process's is inherited by the sealing processes
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.starmap(seal_part, work)
    db.session.execute(text("CREATE INDEX ON bench_box (n)"))
    db.session.commit()
    db.session.execute(text("ANALYZE bench_box"))
    db.session.commit()
    return round_id


def seal_part(url: str, round_id: int, size: int, seal_keys: list, roster: dict, start: int, ballots: int,
              step: int) -> None:
    """Ballots start, start + step, ... up to `ballots`, sealed as a web process seals them."""
    import random

    import psycopg

    from ballot_service.domain import receipts, sealing
    from ballot_service.domain.ballots import Rating

    random.seed()
    levels = ["satisfied", "satisfied", "fairly_satisfied", "basically_satisfied", "dissatisfied", "unknown"]
    tags = ["poor_attitude", "low_efficiency", "buck_passing", "other"]  # on leaders' ballots and staff's alike
    keys = [(seal_key_id, sealing.AESGCM(raw)) for seal_key_id, raw in seal_keys]
    with psycopg.connect(url) as connection, connection.cursor() as cursor, \
            cursor.copy("COPY bench_box (n, id, round_id, seal_key_id, box) FROM STDIN") as copy:
        for b in range(start, ballots + 1, step):
            office_id = 1 + (b % 1500)
            seal_key_id, seal_key = keys[(b // 1000) % len(keys)]  # a key seals a run of ballots, as in an hour
            noted = b % 20 == 0
            ratings = []
            for person_id, _role in roster[office_id]:
                level = random.choice(levels)
                complaint = level in ("basically_satisfied", "dissatisfied")
                ratings.append(Rating(person_id, level,
                                      (random.choice(tags),) if complaint and random.random() < 0.5 else (),
                                      "窗口排队时间太长" if complaint and noted and not ratings else None))
            code = "".join(random.choices(receipts.ALPHABET, k=receipts.LENGTH))
            ballot_id = os.urandom(16).hex()
            box = sealing.seal(seal_key, round_id, seal_key_id, ballot_id, size,
                               sealing.encode(office_id, "online", ratings, code))
            copy.write_row((b, ballot_id, round_id, seal_key_id, box))


if __name__ == "__main__":
    main()
