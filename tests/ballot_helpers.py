"""Helpers for ballot tests: an office with a frozen roster in an open round, and form plumbing."""

import datetime as dt
import re

from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.services import rounds
from tests import factories as f

TOKEN = re.compile(r'name="token" value="([^"]+)"')
PEOPLE = re.compile(r'name="r(\d+)"')


def open_office(require_wechat: bool = False, extra_offices: int = 0, **round_fields):
    """A department with one office of four people (and `extra_offices` of one person each),
    and an open round covering it."""
    dept = f.department(code="spj", name="市行政审批服务局")
    office = f.office(dept, name="企业登记窗口")
    f.person(dept, Role.MAIN_LEADER, name="王建国", post="局长")
    f.person(dept, Role.LEADER_IN_CHARGE, name="李海燕", post="副局长", overseen_offices=[office])
    f.person(dept, Role.OFFICE_HEAD, office=office, name="张丽娜", post="窗口负责人")
    f.person(dept, Role.STAFF, office=office, name="刘文博", post="工作人员")
    for n in range(extra_offices):
        f.person(dept, Role.STAFF, office=f.office(dept, name=f"第{n + 2}窗口"), post="工作人员")
    db.session.commit()
    now = rounds.utcnow()
    round_ = rounds.create_round(round_fields.get("name", "2026年下半年"), dept.region.code,
                                 round_fields.get("opens_at", now - dt.timedelta(hours=1)),
                                 round_fields.get("closes_at", now + dt.timedelta(days=30)), require_wechat)
    rounds.open_round(round_.id)
    db.session.commit()
    return office, round_


def token_and_people(html: str) -> tuple[str, list[int]]:
    match = TOKEN.search(html)
    assert match, "the page has no ballot form"
    return match.group(1), sorted({int(i) for i in PEOPLE.findall(html)})


def all_satisfied(token: str, people: list[int], **extra) -> dict:
    form = {"token": token, **{f"r{p}": "satisfied" for p in people}}
    form.update(extra)
    return form


def sealed_ballots() -> int:
    """Ballots in the sealed box (every ballot until the tally unseals them)."""
    from sqlalchemy import func, select

    from ballot_service.models import SealedBallot

    return db.session.scalar(select(func.count()).select_from(SealedBallot))


def opened(round_id: int) -> list:
    """The round's sealed ballots opened with its private key, as the tally would: (office id,
    channel, ratings) each. Test-only: nothing is written or destroyed."""
    from ballot_service.domain.ballots import Rating
    from ballot_service.models import Round
    from ballot_service.services import ballot_box

    return [(office_id, channel, [Rating(p, level, tuple(tags), note) for p, level, tags, note in ratings])
            for office_id, channel, ratings in ballot_box.unseal(db.session.get(Round, round_id))]


def cast(round_id: int, office_id: int, ratings, channel: str = "online") -> None:
    """One ballot into the round's sealed box, committed (no voter, no claim)."""
    from ballot_service.models import Round
    from ballot_service.services import ballot_box

    assert ballot_box.store(db.session.get(Round, round_id), office_id, list(ratings), channel)
    db.session.commit()


def window(hours_ago: int = 1, days_left: int = 30) -> tuple[dt.datetime, dt.datetime]:
    """A voting window around now."""
    now = rounds.utcnow()
    return now - dt.timedelta(hours=hours_ago), now + dt.timedelta(days=days_left)


def publish(round_id: int):
    """Review as a coordinator who agrees with everything (each low-sample item acknowledged one by
    one), then publish and commit; returns the round. The tests tally in-process: the tally job
    that closing queued is dropped, as `rounds tally --sync` does."""
    from sqlalchemy import select

    from ballot_service import jobs
    from ballot_service.models import ConsequenceRecord
    from ballot_service.services import admin_rounds

    jobs.tally.drop_queued(round_id)
    for consequence_id in db.session.scalars(select(ConsequenceRecord.id).where(
            ConsequenceRecord.round_id == round_id, ConsequenceRecord.decision == "pending")).all():
        admin_rounds.decide_consequence(round_id, consequence_id, "confirmed", "", sample_acknowledged=True)
    round_, _jobs = rounds.publish_round(round_id)
    db.session.commit()
    return round_
