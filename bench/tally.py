"""Tally benchmark: 200,000 ballots × 6 ratings over 1,500 offices and 10,000 people in PostgreSQL.

Prints the tally's wall time and, in the same run, the floor: one hand-written SQL GROUP BY
computing count and sum of points per person and level over the same ratings (a rating
carries its round, so the floor reads the rating table alone, as the tally does). Target: the
tally within 3× the floor.

Floor and tally run --repeat times, interleaved, and the medians are compared: the first tally
is a fresh one, the others re-tally the round (deleting its results first, so they do more),
and every run must give the same digest.

    .venv/bin/python bench/tally.py [--ballots 200000] [--repeat 3]

Uses a fresh database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards) unless
DATABASE_URL is set (the database must then be empty), and Redis at REDIS_URL or
127.0.0.1:6379/14.
"""

import argparse
import os
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

    app = create_app({"MEDIA_ROOT": os.path.join(ROOT, "bench", "out", "media")})
    try:
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            round_id = generate(db, text, rounds, args.ballots)
            print(f"generated {args.ballots} ballots, {args.ballots * 6} ratings in "
                  f"{time.perf_counter() - started:.1f} s")
            db.session.execute(text("ANALYZE"))
            db.session.commit()

            floors, tallies, digests = [], [], set()
            for _ in range(args.repeat):  # interleaved, so a noisy spell hits both
                started = time.perf_counter()
                floor_rows = db.session.execute(text(
                    "SELECT r.person_id, r.level, count(*), sum(CASE r.level WHEN 'satisfied' THEN 100 "
                    "WHEN 'fairly_satisfied' THEN 80 WHEN 'basically_satisfied' THEN 60 WHEN 'dissatisfied' THEN 30 "
                    "END) FROM rating r WHERE r.round_id = :r GROUP BY r.person_id, r.level"),
                    {"r": round_id}).all()
                floors.append(time.perf_counter() - started)
                db.session.commit()

                steps = []
                started = time.perf_counter()
                digests.add(tally_round(round_id, lambda step, steps=steps: steps.append((step, time.perf_counter()))))
                tallies.append((time.perf_counter() - started, steps))
            results = db.session.execute(text("SELECT count(*) FROM result WHERE round_id = :r"),
                                         {"r": round_id}).scalar()
        floor = statistics.median(floors)
        tally, steps = sorted(tallies, key=lambda t: t[0])[len(tallies) // 2]
        print("runs (floor / tally, s): "
              + ", ".join(f"{f:.2f} / {t:.2f}" for f, (t, _) in zip(floors, tallies, strict=True)))
        print(f"floor: GROUP BY person, level   {floor:7.2f} s  median ({len(floor_rows)} rows)")
        print(f"tally (results + consequences)  {tally:7.2f} s  median ({results} results, "
              f"{'one digest ' + next(iter(digests))[:12] if len(digests) == 1 else 'DIGESTS DIFFER'})")
        print(f"ratio tally / floor             {tally / floor:7.2f}   (target <= 3)")
        print("median tally's steps: " + ", ".join(f"{name} {end - begin:.2f} s" for (name, begin), (_, end)
                                                  in zip(steps, steps[1:], strict=False)))
    finally:
        if created:
            with app.app_context():
                db.engine.dispose()
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", created], check=False)


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
    db.session.execute(text(
        "INSERT INTO ballot (id, round_id, office_id, channel) "
        "SELECT md5(b::text), :r, 1 + (b % 1500), 'online' FROM generate_series(1, :n) b"),
        {"r": round_.id, "n": ballots})
    db.session.execute(text(
        "INSERT INTO rating (ballot_id, round_id, office_id, person_id, level) "
        "SELECT b.id, b.round_id, b.office_id, rr.person_id, "
        "(ARRAY['satisfied','satisfied','fairly_satisfied','basically_satisfied','dissatisfied','unknown'])"
        "[1 + floor(random() * 6)::int] "
        "FROM ballot b JOIN round_roster rr ON rr.round_id = b.round_id AND rr.office_id = b.office_id "
        "WHERE b.round_id = :r"), {"r": round_.id})
    db.session.commit()
    rounds.close_round(round_.id)
    return round_.id


if __name__ == "__main__":
    main()
