"""Rounds, one function per use case, called by the CLI, the admin, the API and the cron alike:
create, edit, cancel, open (freeze the roster, snapshot the configuration, new keys), close
(and queue the tally), request a tally, publish. Each checks its move against the round's state
(domain.round_states) and flushes; the request, job or command that called it commits.

All times are stored in UTC; people see them in China Standard Time (UTC+8, no DST).
"""

import copy
import datetime as dt
import logging

from rq.job import Job
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from .. import jobs
from ..domain import review as review_rules
from ..domain import sealing
from ..domain.ballots import DEFAULT_BALLOT_CONFIG, BallotConfig
from ..domain.rectification import DEFAULT_RECTIFY_CONFIG
from ..domain.review import Decision
from ..domain.roles import office_roster
from ..domain.round_states import Move, MoveRefused, RoundStatus, changes
from ..domain.scoring import DEFAULT_SCORING_CONFIG
from ..domain.tally import APPEAL_CONFIG
from ..extensions import db
from ..models import ConsequenceRecord, Department, LedgerEntry, Office, Person, Region, Round, RoundRoster
from . import audit, keys, push, rectification, solicitation, verification
from .disclosure import roster_entry
from .jobs import ACTIVE

log = logging.getLogger(__name__)

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


class RoundError(ValueError):
    """A round operation that is not allowed now; the message is for people."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def china_today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def to_china(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC).astimezone(CHINA)


def china_date(moment: dt.datetime) -> str:
    """The day as people write it: 2026年12月1日 (no leading zeros)."""
    day = to_china(moment)
    return f"{day.year}年{day.month}月{day.day}日"


def china_time(moment: dt.datetime) -> str:
    """2026年12月1日 09:30."""
    return f"{china_date(moment)} {to_china(moment):%H:%M}"


def check_move(round_: Round, move: Move) -> bool:
    """Check the move against the round's state (domain.round_states); whether it changes anything."""
    try:
        return changes(round_.status, move)
    except MoveRefused as refused:
        raise RoundError(str(refused)) from None


def _check_times(opens_at: dt.datetime, closes_at: dt.datetime) -> None:
    if closes_at <= opens_at:
        raise RoundError("结束时间必须晚于开始时间")


def create_round(name: str, region_code: str, opens_at: dt.datetime, closes_at: dt.datetime,
                 require_wechat: bool = False) -> Round:
    region = db.session.scalar(select(Region).where(Region.code == region_code))
    if region is None:
        raise RoundError(f"没有编码为“{region_code}”的区域")
    _check_times(opens_at, closes_at)
    round_ = Round(name=name, region=region, opens_at=opens_at, closes_at=closes_at, require_wechat=require_wechat,
                   status=RoundStatus.DRAFT)
    db.session.add(round_)
    db.session.flush()
    return round_


def edit_round(round_id: int, *, name: str | None = None, region_code: str | None = None,
               opens_at: dt.datetime | None = None, closes_at: dt.datetime | None = None,
               require_wechat: bool | None = None) -> Round:
    """Change a draft round (fields left None stay as they are)."""
    round_ = _get(round_id)
    check_move(round_, Move.EDIT)
    if region_code is not None and region_code != round_.region.code:
        region = db.session.scalar(select(Region).where(Region.code == region_code))
        if region is None:
            raise RoundError(f"没有编码为“{region_code}”的区域")
        round_.region = region
    _check_times(opens_at or round_.opens_at, closes_at or round_.closes_at)
    for field, value in (("name", name), ("opens_at", opens_at), ("closes_at", closes_at),
                         ("require_wechat", require_wechat)):
        if value is not None:
            setattr(round_, field, value)
    db.session.flush()
    return round_


def cancel_round(round_id: int) -> Round:
    """Cancel a draft round (kept, marked 已取消); an opened round cannot be cancelled or deleted."""
    round_ = _get(round_id)
    if check_move(round_, Move.CANCEL):
        round_.status = RoundStatus.CANCELLED
        db.session.flush()
    return round_


def open_round(round_id: int, now: dt.datetime | None = None) -> Round:
    """Freeze every active office's roster, snapshot the ballot configuration, make the keys
    (in the key store; the database gets the key id and the public key). A round opened before
    its scheduled start takes ballots at once: its start becomes now (so a round opened late, after
    another of the region closed, also starts when it opened)."""
    round_ = _get(round_id)
    if not check_move(round_, Move.OPEN):
        return round_
    now = now or utcnow()
    if round_.closes_at <= now:
        raise RoundError("该轮次的结束时间已过，请先修改结束时间再开启")
    clash = db.session.scalar(
        select(Round.id).where(Round.region_id == round_.region_id, Round.status == RoundStatus.OPEN,
                               Round.id != round_.id)
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
    round_.config = copy.deepcopy({**DEFAULT_BALLOT_CONFIG, **DEFAULT_SCORING_CONFIG, **DEFAULT_RECTIFY_CONFIG,
                                   **APPEAL_CONFIG})
    round_.sealed_size = sealing.padded_size(BallotConfig.from_snapshot(round_.config), most_people)
    round_.key_id, round_.public_key = keys.create_round_keys()
    round_.opens_at = now  # when it really opened: early by hand, late after another round, or on time
    round_.status = RoundStatus.OPEN
    db.session.flush()
    return round_


def close_round(round_id: int, now: dt.datetime | None = None) -> tuple[Round, Job | None]:
    """Stop accepting ballots and queue the tally (idempotent: a closed round is left as it is).
    A round closed before its scheduled end ends now, so that it is the previous round of the
    next one. The database refuses every ballot from the caller's commit on (the ballot's INSERT
    checks the round); pages still showing the form learn it then. The tally is queued before
    that commit: if Redis cannot take it, the caller rolls back and the round stays open. Then the
    live turnout's bursts are kept as flags and the live counts go (services.solicitation)."""
    round_ = _get(round_id)
    if not check_move(round_, Move.CLOSE):
        return round_, None
    round_.status = RoundStatus.CLOSED
    round_.closes_at = min(round_.closes_at, now or utcnow())
    db.session.flush()
    job = jobs.tally.enqueue(round_.id)
    solicitation.keep_bursts(round_.id)
    return round_, job


def request_tally(round_id: int) -> Job:
    """Queue the tally of a closed round (or a re-tally of a tallied one, before publishing)
    in the worker (job id tally-<id>: never queued twice at once); who asked is in the audit trail."""
    round_ = _get(round_id)
    check_move(round_, Move.TALLY)
    job = jobs.tally.enqueue(round_.id)
    audit.note("round.tally", f"round:{round_.id}", {"job": job.id})
    return job


def publish_round(round_id: int) -> tuple[Round, list[Job]]:
    """Make a tallied round's report cards public and queue the pushes to subscribers (idempotent).
    Every consequence must have been confirmed or struck first (the review)."""
    round_ = _get(round_id)
    if not check_move(round_, Move.PUBLISH):
        return round_, []
    tally = jobs.tally.fetch(round_id)
    if tally is not None and tally.get_status(refresh=True) in ACTIVE:
        raise RoundError("统计任务正在进行或排队，完成并审核后再发布")
    undecided = review_rules.undecided(db.session.scalars(
        select(ConsequenceRecord.decision).where(ConsequenceRecord.round_id == round_id)))
    if undecided:
        raise RoundError(f"还有{undecided}项结果运用未审核，请逐项确认或撤销后再发布")
    round_.status = RoundStatus.PUBLISHED
    round_.published_at = utcnow()
    db.session.add_all(ledger_entries(round_id))
    rectification.open_for_round(round_id)
    db.session.flush()
    verification.seal_counts(round_)
    return round_, push.enqueue_push(round_.id)  # the pushes deliver only once this is committed


def ledger_entries(round_id: int) -> list[LedgerEntry]:
    """The performance ledger of a published round: −10 per recipient of each confirmed yellow
    card (a struck one deducts nothing). Each card is its own 提醒: a person may get a department's,
    an office's and their own in one round."""
    entries = []
    for c in db.session.scalars(select(ConsequenceRecord).where(
            ConsequenceRecord.round_id == round_id, ConsequenceRecord.decision == Decision.CONFIRMED,
            ConsequenceRecord.deduction_each > 0).order_by(ConsequenceRecord.id)):
        recipients = [("department", c.subject_id)] if c.includes_department else []
        recipients += [("person", p) for p in c.people]
        entries += [LedgerEntry(round_id=round_id, consequence_id=c.id, recipient_kind=kind, recipient_id=rid,
                                points=-c.deduction_each) for kind, rid in recipients]
    return entries


def redraw_ledger(round_id: int) -> None:
    """Draw a published round's ledger again from its confirmed consequences (after a decision
    that came after the publication: a re-tally's new consequence, or its striking of an old one)."""
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.round_id == round_id))
    db.session.add_all(ledger_entries(round_id))
    db.session.flush()


# FOR NO KEY UPDATE: moves on one round wait for each other, while a ballot's INSERT, whose foreign
# key takes FOR KEY SHARE on the round's row, never waits for a move (FOR UPDATE would block it).
ROW_LOCK = {"key_share": True}


def locked(round_id: int) -> Round | None:
    """The round, fresh from the database, its row locked until the caller commits (PostgreSQL;
    SQLite takes one writer at a time anyway)."""
    return db.session.get(Round, round_id, with_for_update=ROW_LOCK, populate_existing=True)


def _get(round_id: int) -> Round:
    round_ = locked(round_id)
    if round_ is None:
        raise RoundError(f"没有编号为{round_id}的评价轮次")
    return round_


def accepting_round(region_id: int, now: dt.datetime | None = None) -> Round | None:
    """The region's open round, if it is within its voting window."""
    now = now or utcnow()
    return db.session.scalar(
        select(Round).where(
            Round.region_id == region_id, Round.status == RoundStatus.OPEN, Round.opens_at <= now, Round.closes_at > now
        )
    )


def next_round(region_id: int, now: dt.datetime | None = None) -> Round | None:
    """The next round of the region that has not started yet (a draft whose start is ahead)."""
    now = now or utcnow()
    return db.session.scalar(
        select(Round)
        .where(Round.region_id == region_id, Round.status == RoundStatus.DRAFT, Round.opens_at > now)
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


def advance_rounds(now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Open draft rounds whose time has come and close open rounds whose time is up (queueing
    their tally), each in its own transaction. Run every minute by the worker's cron; safe to
    run at any time."""
    now = now or utcnow()
    done = {"opened": [], "closed": []}
    due = [("opened", open_round, select(Round.id).where(Round.status == RoundStatus.DRAFT, Round.opens_at <= now,
                                                         Round.closes_at > now).order_by(Round.opens_at)),
           ("closed", close_round, select(Round.id).where(Round.status == RoundStatus.OPEN, Round.closes_at <= now))]
    for outcome, move, query in due:
        for round_id in db.session.scalars(query).all():
            try:
                move(round_id, now)
                db.session.commit()
            except RoundError:
                db.session.rollback()  # e.g. another round of the region still open: left for a person
                continue
            except Exception:  # Redis or the key store away: the other rounds still move, this one next minute
                db.session.rollback()
                log.exception("round %s could not be moved on schedule", round_id)
                continue
            done[outcome].append(round_id)
    return done
