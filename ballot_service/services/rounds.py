"""Rounds: create, open (freeze the roster, snapshot the configuration, new keys), close.

All times are stored in UTC; people see them in China Standard Time (UTC+8, no DST).
"""

import copy
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain import sealing
from ..domain.ballots import DEFAULT_BALLOT_CONFIG, BallotConfig
from ..domain.roles import office_roster
from ..domain.scoring import DEFAULT_SCORING_CONFIG
from ..extensions import db
from ..models import Department, Office, Person, Region, Round, RoundRoster
from . import keys
from .disclosure import roster_entry

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


class RoundError(ValueError):
    """A round operation that is not allowed now; the message is for people."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def china_today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def to_china(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC).astimezone(CHINA)


def create_round(name: str, region_code: str, opens_at: dt.datetime, closes_at: dt.datetime,
                 require_wechat: bool = False) -> Round:
    region = db.session.scalar(select(Region).where(Region.code == region_code))
    if region is None:
        raise RoundError(f"没有编码为“{region_code}”的区域")
    if closes_at <= opens_at:
        raise RoundError("结束时间必须晚于开始时间")
    round_ = Round(name=name, region=region, opens_at=opens_at, closes_at=closes_at, require_wechat=require_wechat)
    db.session.add(round_)
    db.session.commit()
    return round_


def open_round(round_id: int) -> Round:
    """Freeze every active office's roster, snapshot the ballot configuration, make the keys
    (in the key store; the database gets the key id and the public key)."""
    round_ = _get(round_id)
    if round_.status == "open":
        return round_
    if round_.status != "draft":
        raise RoundError("只有草稿状态的评价轮次可以开启")
    clash = db.session.scalar(
        select(Round.id).where(Round.region_id == round_.region_id, Round.status == "open", Round.id != round_.id)
    )
    if clash:
        raise RoundError("该区域已有进行中的评价轮次，请先结束它")
    departments = db.session.scalars(
        select(Department)
        .where(Department.region_id == round_.region_id, Department.active)
        .options(
            selectinload(Department.offices),
            selectinload(Department.people).selectinload(Person.overseen_offices),
        )
    ).all()
    most_people = 0
    for dept in departments:
        entries = [roster_entry(p) for p in dept.people]
        for office in dept.offices:
            if office.active:
                roster = office_roster(entries, office.id)
                most_people = max(most_people, len(roster))
                for position, entry in enumerate(roster):
                    db.session.add(RoundRoster(round_id=round_.id, office_id=office.id, person_id=entry.id,
                                               role=entry.role.value, position=position))
    round_.config = copy.deepcopy({**DEFAULT_BALLOT_CONFIG, **DEFAULT_SCORING_CONFIG})
    round_.sealed_size = sealing.padded_size(BallotConfig.from_snapshot(round_.config), most_people)
    round_.key_id, round_.public_key = keys.create_round_keys()
    round_.status = "open"
    db.session.commit()
    return round_


def close_round(round_id: int) -> Round:
    """Stop accepting ballots (idempotent). The database refuses every ballot from the commit
    on (the ballot's INSERT checks the round); pages still showing the form learn it then."""
    round_ = _get(round_id)
    if round_.status == "draft":
        raise RoundError("该轮次尚未开启")
    if round_.status == "open":
        round_.status = "closed"
        db.session.commit()
    return round_


def _get(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        raise RoundError(f"没有编号为{round_id}的评价轮次")
    return round_


def accepting_round(region_id: int, now: dt.datetime | None = None) -> Round | None:
    """The region's open round, if it is within its voting window."""
    now = now or utcnow()
    return db.session.scalar(
        select(Round).where(
            Round.region_id == region_id, Round.status == "open", Round.opens_at <= now, Round.closes_at > now
        )
    )


def next_round(region_id: int, now: dt.datetime | None = None) -> Round | None:
    """The next round of the region that has not started yet (draft or open but not yet begun)."""
    now = now or utcnow()
    return db.session.scalar(
        select(Round)
        .where(Round.region_id == region_id, Round.status.in_(("draft", "open")), Round.opens_at > now)
        .order_by(Round.opens_at)
        .limit(1)
    )


def frozen_roster(round_id: int, office: Office) -> list[RoundRoster]:
    return db.session.scalars(
        select(RoundRoster)
        .where(RoundRoster.round_id == round_id, RoundRoster.office_id == office.id)
        .options(selectinload(RoundRoster.person))
        .order_by(RoundRoster.position)
    ).all()


TALLY_RETRY_INTERVALS = [10, 60, 300]


def enqueue_tally(round_id: int):
    """Queue the tally of a round (job id `tally-<id>`: never queued twice at once)."""
    from rq import Retry

    from .jobs import enqueue_once

    return enqueue_once("worker.jobs.tally", f"tally-{round_id}", round_id,
                        retry=Retry(max=len(TALLY_RETRY_INTERVALS), interval=TALLY_RETRY_INTERVALS))


def publish_round(round_id: int) -> Round:
    """Make a tallied round's report cards public (idempotent)."""
    round_ = _get(round_id)
    if round_.status == "published":
        return round_
    if round_.status != "tallied":
        raise RoundError("只有已统计的评价轮次可以发布")
    round_.status = "published"
    round_.published_at = utcnow()
    db.session.commit()
    return round_


def advance_rounds(now: dt.datetime | None = None) -> tuple[list[int], list[int]]:
    """Open draft rounds whose time has come and close open rounds whose time is up (queueing
    their tally). Run every minute by the worker's scheduler; safe to run at any time."""
    now = now or utcnow()
    opened, closed = [], []
    for round_id in db.session.scalars(select(Round.id).where(Round.status == "draft", Round.opens_at <= now,
                                                              Round.closes_at > now).order_by(Round.opens_at)):
        try:
            open_round(round_id)
            opened.append(round_id)
        except RoundError:
            db.session.rollback()  # e.g. another round of the region still open: left for a person to decide
    for round_id in db.session.scalars(select(Round.id).where(Round.status == "open", Round.closes_at <= now)):
        close_round(round_id)
        enqueue_tally(round_id)
        closed.append(round_id)
    return opened, closed
