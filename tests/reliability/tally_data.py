"""A separate region with a closed round of N generated ballots, for the tally scenario."""

import datetime as dt

from sqlalchemy import text

from ballot_service.domain.office_codes import new_office_code
from ballot_service.domain.roles import Role
from ballot_service.domain.round_states import RoundStatus
from ballot_service.models import Department, Office, Person, Region
from ballot_service.services import rounds

OFFICES, STAFF = 50, 5


def make_round(db, ballots: int) -> int:
    region = Region(code="reltally", name="统计测试区", kind="zone")
    dept = Department(code="reltally", name="统计测试局", region=region)
    db.session.add_all([region, dept])
    db.session.add(Person(department=dept, role=Role.MAIN_LEADER.value, name="主要领导", post="局长", phone="13900000000"))
    for n in range(OFFICES):
        office = Office(department=dept, name=f"测试科{n}", code=new_office_code())
        db.session.add(office)
        for k in range(STAFF):
            db.session.add(Person(department=dept, office=office, role=Role.STAFF.value, name=f"员工{n}-{k}",
                                  post="工作人员", phone="13900000001"))
    db.session.commit()
    now = rounds.utcnow()
    round_ = rounds.create_round("统计测试轮", "reltally", now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    rounds.open_round(round_.id)
    db.session.commit()
    db.session.execute(text(
        "INSERT INTO ballot (id, round_id, office_id, channel) "
        "SELECT md5('rel' || b::text), :r, o.id, 'online' "
        "FROM generate_series(1, :n) b JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM office "
        "WHERE department_id = :d) o ON o.k = b % :offices"),
        {"r": round_.id, "n": ballots, "d": dept.id, "offices": OFFICES})
    db.session.execute(text(
        "INSERT INTO rating (ballot_id, round_id, office_id, person_id, level) "
        "SELECT b.id, b.round_id, b.office_id, rr.person_id, (ARRAY['satisfied','fairly_satisfied','basically_satisfied','dissatisfied',"
        "'unknown'])[1 + (('x' || substr(md5(b.id || rr.person_id::text), 1, 8))::bit(32)::int & 1023) % 5] "
        "FROM ballot b JOIN round_roster rr ON rr.round_id = b.round_id AND rr.office_id = b.office_id "
        "WHERE b.round_id = :r"), {"r": round_.id})
    round_.status = RoundStatus.CLOSED  # closed without queueing a tally: each test runs its own
    db.session.commit()
    return round_.id
