"""Tally benchmark: 200,000 sealed ballots × 6 ratings over 1,500 offices and 10,000 people in PostgreSQL.

The ballots are sealed as the web processes seal them (eight seal keys, as eight processes in
their first hour would make) and the round is closed. Each run then tallies it from its sealed
box, and prints beside it, measured in the same run, two floors:

- unsealing: COPY of the same plaintext rows (ballot, rating, rating_tag) into scratch tables
  of the same shape. Target: the tally's unsealing step within 2× this floor.
- the whole tally: one hand-written SQL GROUP BY computing count and sum of points per person
  and level over the same ratings (a rating carries its round, so the floor reads the rating
  table alone, as the tally does). Target: the tally within 3× the floor.

Floors and tallies run --repeat times, interleaved, and the medians are compared. Before each
run after the first the sealed box, its seal keys and the round's key files are put back as
they were at the close (kept aside by this benchmark only), so every run unseals; every run
must give the same digest.

    .venv/bin/python bench/tally.py [--ballots 200000] [--repeat 3]

Uses a fresh database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards) unless
DATABASE_URL is set (the database must then be empty), Redis at REDIS_URL or
127.0.0.1:6379/14, and a scratch key store under bench/out/.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEPARTMENTS, OFFICES_PER_DEPARTMENT, STAFF_PER_OFFICE, PEOPLE = 250, 6, 4, 10_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ballots", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    created = None
    if not os.environ.get("DATABASE_URL"):
        created = f"ballot_tally_bench_{os.getpid()}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", created], check=True)
        os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{created}"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

    from flask_migrate import upgrade
    from sqlalchemy import text

    from ballot_service import create_app
    from ballot_service.extensions import db
    from ballot_service.services import rounds
    from ballot_service.services.tally import tally_round

    key_dir = os.path.join(ROOT, "bench", "out", f"keys-{os.getpid()}")
    app = create_app({"MEDIA_ROOT": os.path.join(ROOT, "bench", "out", "media"), "KEY_DIR": key_dir,
                      "SECRET_KEY": "bench"})
    try:
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            round_id = generate(db, text, rounds, args.ballots)
            print(f"sealed {args.ballots} ballots, {args.ballots * 6} ratings in "
                  f"{time.perf_counter() - started:.1f} s")
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            closed = set_aside(db, text, key_dir)

            floors, copies, tallies, digests = [], [], [], set()
            plaintext = None
            for run in range(args.repeat):  # interleaved, so a noisy spell hits both
                if run:
                    put_back(db, text, round_id, key_dir, closed)
                steps = []
                started = time.perf_counter()
                digests.add(tally_round(round_id, lambda step, steps=steps: steps.append((step, time.perf_counter()))))
                tallies.append((time.perf_counter() - started, steps))

                started = time.perf_counter()
                floor_rows = db.session.execute(text(
                    "SELECT r.person_id, r.level, count(*), sum(CASE r.level WHEN 'satisfied' THEN 100 "
                    "WHEN 'fairly_satisfied' THEN 80 WHEN 'basically_satisfied' THEN 60 WHEN 'dissatisfied' THEN 30 "
                    "END) FROM rating r WHERE r.round_id = :r GROUP BY r.person_id, r.level"),
                    {"r": round_id}).all()
                floors.append(time.perf_counter() - started)
                db.session.commit()

                plaintext = plaintext or read_plaintext(db, text, round_id)
                copies.append(copy_floor(db, text, plaintext))
            results = db.session.execute(text("SELECT count(*) FROM result WHERE round_id = :r"),
                                         {"r": round_id}).scalar()
        floor, copy = statistics.median(floors), statistics.median(copies)
        tally, steps = sorted(tallies, key=lambda t: t[0])[len(tallies) // 2]
        unseals = [step_time(s, "unsealing ballots") for _, s in tallies]
        unseal = statistics.median(unseals)
        print("runs (unsealing / COPY floor, s): "
              + ", ".join(f"{u:.2f} / {c:.2f}" for u, c in zip(unseals, copies, strict=True)))
        print("runs (tally / GROUP BY floor, s): "
              + ", ".join(f"{t:.2f} / {f:.2f}" for f, (t, _) in zip(floors, tallies, strict=True)))
        rows = sum(len(r) for r in plaintext.values())
        print(f"floor: COPY of the plaintext rows {copy:7.2f} s  median ({rows} rows)")
        print(f"unsealing (open, check, COPY)    {unseal:7.2f} s  median")
        print(f"ratio unsealing / COPY floor     {unseal / copy:7.2f}   (target <= 2)")
        print(f"floor: GROUP BY person, level    {floor:7.2f} s  median ({len(floor_rows)} rows)")
        print(f"tally (unsealing, results, consequences) {tally:7.2f} s  median ({results} results, "
              f"{'one digest ' + next(iter(digests))[:12] if len(digests) == 1 else 'DIGESTS DIFFER'})")
        print(f"ratio tally / GROUP BY floor     {tally / floor:7.2f}   (target <= 3)")
        print("median tally's steps: " + ", ".join(f"{name} {end - begin:.2f} s" for (name, begin), (_, end)
                                                  in zip(steps, steps[1:], strict=False)))
    finally:
        shutil.rmtree(key_dir, ignore_errors=True)
        if created:
            with app.app_context():
                db.engine.dispose()
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", created], check=False)


def step_time(steps, name: str) -> float:
    names = [step for step, _ in steps]
    i = names.index(name)
    return steps[i + 1][1] - steps[i][1]


def set_aside(db, text, key_dir: str) -> dict[str, bytes]:
    """The closed round's sealed box and seal keys copied into bench tables, its key files read."""
    for table in ("seal_key", "sealed_ballot"):
        db.session.execute(text(f"CREATE TABLE bench_{table} AS SELECT * FROM {table}"))
    db.session.commit()
    files = {}
    for name in os.listdir(key_dir):
        with open(os.path.join(key_dir, name), "rb") as fh:
            files[name] = fh.read()
    return files


def put_back(db, text, round_id: int, key_dir: str, files: dict[str, bytes]) -> None:
    """The round as it was at its close: plaintext rows gone, sealed box and key files back."""
    for statement in ("TRUNCATE rating_tag, rating, ballot",  # the bench database holds this round alone
                      "INSERT INTO seal_key SELECT * FROM bench_seal_key",
                      "INSERT INTO sealed_ballot SELECT * FROM bench_sealed_ballot",
                      "UPDATE round SET unsealed = false WHERE id = :r"):
        db.session.execute(text(statement), {"r": round_id})
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    for name, data in files.items():
        with open(os.path.join(key_dir, name), "wb") as fh:
            fh.write(data)


def read_plaintext(db, text, round_id: int) -> dict[str, list[tuple]]:
    """The unsealed rows, as the unsealing wrote them, to COPY again for the floor."""
    queries = {
        "ballot": "SELECT id, round_id, office_id, channel FROM ballot WHERE round_id = :r",
        "rating": "SELECT ballot_id, round_id, office_id, person_id, level, note FROM rating WHERE round_id = :r",
        "rating_tag": "SELECT t.ballot_id, t.person_id, t.tag FROM rating_tag t JOIN ballot b ON b.id = t.ballot_id "
                      "WHERE b.round_id = :r",
    }
    rows = {table: [tuple(row) for row in db.session.execute(text(sql), {"r": round_id})]
            for table, sql in queries.items()}
    db.session.commit()
    return rows


def copy_floor(db, text, plaintext: dict[str, list[tuple]]) -> float:
    """Seconds to COPY the same rows into scratch tables shaped like the real ones (keys and
    indexes included), in one transaction, as the unsealing does; then dropped."""
    columns = {"ballot": "id, round_id, office_id, channel",
               "rating": "ballot_id, round_id, office_id, person_id, level, note",
               "rating_tag": "ballot_id, person_id, tag"}
    for table in columns:
        db.session.execute(text(f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING ALL)"))
    db.session.commit()
    raw = db.session.connection().connection
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table, names in columns.items():
            with cursor.copy(f"COPY scratch_{table} ({names}) FROM STDIN") as copy:
                for row in plaintext[table]:
                    copy.write_row(row)
    db.session.commit()
    took = time.perf_counter() - started
    for table in columns:
        db.session.execute(text(f"DROP TABLE scratch_{table}"))
    db.session.commit()
    return took


def generate(db, text, rounds, ballots: int) -> int:
    """Regions, departments, offices and people with plain SQL; ballots and ratings with
    generate_series inside PostgreSQL (random levels, 6 ratings per ballot)."""
    import datetime as dt

    sql = [
        "INSERT INTO region (id, code, name, kind, sort_order) VALUES (1, 'bench', '基准市', 'city', 0)",
        f"INSERT INTO department (id, code, name, region_id, is_stationed, active, sort_order) "
        f"SELECT d, 'd' || d, '部门' || d, 1, false, true, d FROM generate_series(1, {DEPARTMENTS}) d",
        f"INSERT INTO office (id, department_id, code, name, active, sort_order) "
        f"SELECT o, (o - 1) / {OFFICES_PER_DEPARTMENT} + 1, 'B' || lpad(o::text, 5, '0'), '科室' || o, true, o "
        f"FROM generate_series(1, {DEPARTMENTS * OFFICES_PER_DEPARTMENT}) o",
        # people 1..250 main leaders; 251..750 leaders-in-charge (3 offices each); then 4 staff per office;
        # the rest up to 10,000 are people on no ballot (other posts).
        f"INSERT INTO person (id, department_id, office_id, role, name, post, phone, active, sort_order) "
        f"SELECT p, CASE WHEN p <= 250 THEN p WHEN p <= 750 THEN (p - 251) / 2 + 1 "
        f"WHEN p <= 6750 THEN (p - 751) / 24 + 1 ELSE (p % 250) + 1 END, "
        f"CASE WHEN p > 750 AND p <= 6750 THEN (p - 751) / 4 + 1 END, "
        f"CASE WHEN p <= 250 THEN 'main_leader' WHEN p <= 750 THEN 'leader_in_charge' ELSE 'staff' END, "
        f"'人' || p, '职务', '13900000000', true, 0 FROM generate_series(1, {PEOPLE}) p",
        "INSERT INTO leader_office (person_id, office_id) "
        "SELECT 251 + (o - 1) / 3, o FROM generate_series(1, 1500) o",
    ]
    for statement in sql:
        db.session.execute(text(statement))
    db.session.commit()
    now = rounds.utcnow()
    round_ = rounds.create_round("基准轮", "bench", now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    rounds.open_round(round_.id)  # freezes the roster: main leader, leader-in-charge, 4 staff per office
    seal(db, text, round_.id, ballots)
    rounds.close_round(round_.id)
    return round_.id


def seal(db, text, round_id: int, ballots: int) -> None:
    """The ballots as web processes seal them: random levels over each office's frozen roster,
    encoded, padded and sealed under one of eight seal keys; COPYed into the sealed box."""
    import random
    import secrets as random_ids

    from ballot_service.domain import sealing
    from ballot_service.domain.ballots import Rating
    from ballot_service.models import Round

    round_ = db.session.get(Round, round_id)
    public_key, size = round_.public_key, round_.sealed_size  # read now: the COPY below holds the connection
    roster: dict[int, list[int]] = {}
    for office_id, person_id in db.session.execute(text(
            "SELECT office_id, person_id FROM round_roster WHERE round_id = :r ORDER BY office_id, person_id"),
            {"r": round_id}):
        roster.setdefault(office_id, []).append(person_id)
    seal_keys = []
    for _ in range(8):
        seal_key_id, raw = random_ids.token_hex(16), sealing.new_seal_key()
        wrapped = sealing.wrap_seal_key(public_key, round_id, seal_key_id, raw)
        db.session.execute(text("INSERT INTO seal_key (id, round_id, wrapped) VALUES (:i, :r, :w)"),
                           {"i": seal_key_id, "r": round_id, "w": wrapped})
        seal_keys.append((seal_key_id, sealing.AESGCM(raw)))
    db.session.commit()
    levels = ["satisfied", "satisfied", "fairly_satisfied", "basically_satisfied", "dissatisfied", "unknown"]
    raw = db.session.connection().connection
    with raw.cursor() as cursor, cursor.copy("COPY sealed_ballot (id, round_id, seal_key_id, box) FROM STDIN") as copy:
        for b in range(1, ballots + 1):
            office_id = 1 + (b % 1500)
            seal_key_id, seal_key = seal_keys[b % len(seal_keys)]
            ratings = [Rating(person_id, random.choice(levels)) for person_id in roster[office_id]]
            ballot_id = random_ids.token_hex(16)
            box = sealing.seal(seal_key, round_id, seal_key_id, ballot_id, size,
                               sealing.encode(office_id, "online", ratings))
            copy.write_row((ballot_id, round_id, seal_key_id, box))
    db.session.commit()


if __name__ == "__main__":
    main()
