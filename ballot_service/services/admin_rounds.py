"""What the admin area and the API need around rounds and results, on top of
services/rounds.py, tally.py, results.py and posters.py: time entry in China time, the
coordinator's review of a tallied (not yet published) round, and live turnout with office
names (posters: services.poster_batches).

Individual ballots never leave here either (A3): only the tally's aggregates, and comments
through results.department_comments under the k rule.
"""

import datetime as dt
from dataclasses import dataclass, field

from rq.job import Job
from sqlalchemy import ColumnElement, false, select

from .. import jobs
from ..domain import review as review_rules
from ..domain.access import Level, Scope
from ..domain.consequences import KIND_LABELS
from ..domain.review import Decision
from ..domain.round_states import REVIEWABLE, RoundStatus
from ..extensions import db
from ..models import ConsequenceRecord, Department, Office, Person, Region, Result, Round
from . import audit, ballot_box, rounds
from .access import condition
from .results import Line, ordered
from .rounds import RoundError


def from_china(moment: dt.datetime) -> dt.datetime:
    """A time typed in China time (naive, or aware in any zone) -> naive UTC, as stored."""
    if not 2000 <= moment.year <= 2100:
        raise RoundError("时间应在2000年至2100年之间")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=rounds.CHINA)
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- scope helpers


def regions_in_scope(scope: Scope) -> list[Region]:
    return db.session.scalars(select(Region).where(condition("region", scope))
                              .order_by(Region.sort_order, Region.id)).all()


def result_rounds_condition(scope: Scope) -> ColumnElement[bool]:
    """Rounds whose results the scope may read: coordinators and auditors their region's (all
    when city-wide) tallied or published rounds; department admins their region's published ones."""
    if scope.level is Level.OFFICES:
        return false()
    statuses = (RoundStatus.PUBLISHED,) if scope.level is Level.DEPARTMENT else REVIEWABLE
    return condition("round", scope) & Round.status.in_(statuses)


def results_visible(round_: Round, scope: Scope) -> bool:
    """Whether this scope may read the round's results now (department admins: once published)."""
    if scope.level is Level.DEPARTMENT:
        return round_.status == RoundStatus.PUBLISHED
    return round_.status in REVIEWABLE


def department_filter(scope: Scope) -> int | None:
    """The only department a scope may see results of (None: all of the round)."""
    return scope.department_id if scope.level is Level.DEPARTMENT else None


# ---------------------------------------------------------------- round actions


@dataclass
class TallyProgress:
    state: str  # RQ's: queued | started | finished | failed | ...
    label: str  # in Chinese, what it is doing (or where it stopped)
    percent: int
    failure: str | None = None  # the last line of the error, once it failed for good


JOB_STATE_LABELS = {"queued": "排队等待统计", "started": "正在统计", "deferred": "等待中", "scheduled": "等待重试",
                    "finished": "统计完成", "failed": "统计失败，请查看任务进程日志后重新统计",
                    "stopped": "已停止", "canceled": "已取消"}


def tally_job(round_id: int) -> TallyProgress | None:
    """How the round's tally job is doing, if RQ knows one."""
    job = jobs.tally.fetch(round_id)
    if job is None:
        return None
    state, meta = job_state(job), job.get_meta(refresh=True)
    label = meta.get("label") if state == "started" and meta.get("label") else JOB_STATE_LABELS.get(state, state)
    failure = None
    if state == "failed" and (result := job.latest_result()) is not None and result.exc_string:
        failure = result.exc_string.strip().splitlines()[-1]
    return TallyProgress(state, label, 100 if state == "finished" else meta.get("percent", 0), failure)


def job_state(job: Job) -> str:
    """queued | started | deferred | scheduled | finished | failed | stopped | canceled"""
    status = job.get_status(refresh=True)
    return getattr(status, "value", status) or "unknown"


def turnout(round_: Round) -> int:
    """Ballots so far in the round, all offices together: until the tally a ballot is sealed,
    its office inside, so no count per office exists (A1)."""
    return ballot_box.turnout(round_.id)


# ---------------------------------------------------------------- results review


@dataclass
class DepartmentBlock:
    department: Department
    line: Line
    offices: list[Line] = field(default_factory=list)
    people: list[Line] = field(default_factory=list)


@dataclass
class ConsequenceLine:
    record: ConsequenceRecord
    label: str
    subject: str
    people: list[str]


@dataclass
class Review:
    round: Round
    region: Line | None
    departments: list[DepartmentBlock]
    levels: list[tuple[str, str]]
    consequences: list[ConsequenceLine]


def review(round_: Round, department_id: int | None = None) -> Review:
    """Every result of a tallied or published round with names (one department's only when
    `department_id` is given), and the consequences the tally computed."""
    query = select(Result).where(Result.round_id == round_.id)
    if department_id is not None:
        query = query.where(Result.department_id == department_id)
    rows = db.session.scalars(query).all()
    by_kind: dict[str, list[Result]] = {}
    for r in rows:
        by_kind.setdefault(r.subject_kind, []).append(r)
    departments = {d.id: d for d in db.session.scalars(select(Department).where(Department.id.in_(
        [r.subject_id for r in by_kind.get("department", [])])))}
    offices = {o.id: o for o in db.session.scalars(select(Office).where(Office.id.in_(
        [r.subject_id for r in by_kind.get("office", [])])))}
    people = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(
        [r.subject_id for r in by_kind.get("person", [])])))}
    blocks = {d_id: DepartmentBlock(d, Line(d.name, next(r for r in by_kind["department"] if r.subject_id == d_id),
                                            d.code))
              for d_id, d in departments.items()}
    for r in by_kind.get("office", []):
        if r.department_id in blocks:
            blocks[r.department_id].offices.append(Line(offices[r.subject_id].name, r, offices[r.subject_id].code))
    for r in by_kind.get("person", []):
        if r.department_id in blocks:
            person = people[r.subject_id]
            blocks[r.department_id].people.append(Line(person.name, r, detail=person.post))
    for block in blocks.values():
        block.offices, block.people = ordered(block.offices), ordered(block.people)
    blocks_by_rank = sorted(blocks.values(), key=lambda b: (b.line.result.rank is None, b.line.result.rank or 0,
                                                            b.department.id))
    region = None
    if department_id is None and by_kind.get("region"):
        r = by_kind["region"][0]
        region = Line(db.session.get(Region, r.subject_id).name, r)
    levels = [(code, label) for code, label, _ in (round_.config or {}).get("levels", [])]
    return Review(round_, region, blocks_by_rank, levels, consequences(round_.id, department_id))


def decide_consequence(round_id: int, consequence_id: int, decision: str, reason: str,
                       sample_acknowledged: bool = False) -> ConsequenceRecord:
    """The coordinator confirms or strikes one consequence of a tallied, unpublished round
    (domain.review), or one that a re-tally after an appeal brought to a published round; the
    decision and its reason go into the audit trail."""
    round_ = _reviewable(round_id, published_pending=True)
    record = db.session.get(ConsequenceRecord, consequence_id)
    if record is None or record.round_id != round_id:
        raise RoundError("没有这一项结果运用")
    if round_.status == RoundStatus.PUBLISHED and record.decision != Decision.PENDING:
        raise RoundError("结果已发布，已审核的结果运用不能再改")
    _decide(record, decision, reason, sample_acknowledged)
    if round_.status == RoundStatus.PUBLISHED:
        rounds.redraw_ledger(round_id)
    return record


def _reviewable(round_id: int, published_pending: bool = False) -> Round:
    """The round, locked as publishing locks it (a decision never lands after the publish that
    counted it), if its consequences may be decided now (`published_pending`: also a published
    round's, which only a re-tally after an appeal leaves pending)."""
    round_ = rounds.locked(round_id)
    if round_ is None:
        raise RoundError("没有这一项结果运用")
    if round_.status != RoundStatus.TALLIED and not (published_pending and round_.status == RoundStatus.PUBLISHED):
        raise RoundError("只有已统计、尚未发布的轮次可以审核结果运用")
    return round_


def _decide(record: ConsequenceRecord, decision: str, reason: str,
            sample_acknowledged: bool) -> ConsequenceRecord:
    try:
        record.decision, record.reason = review_rules.decide(decision, reason, record.low_sample, sample_acknowledged)
    except review_rules.ReviewRefused as refused:
        raise RoundError(str(refused)) from None
    actor = audit.actor_name()
    record.decided_by, record.decided_at = actor, rounds.utcnow()
    audit.note("consequence.review", f"consequence:{record.id}",
               {"round": record.round_id, "kind": record.kind, "decision": record.decision, "reason": record.reason})
    db.session.flush()
    return record


def confirm_remaining(round_id: int) -> int:
    """Confirm every consequence still pending except those resting on a low-sample grade (each of
    those needs its own decision); returns how many were confirmed."""
    _reviewable(round_id)
    pending = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == round_id, ConsequenceRecord.decision == Decision.PENDING,
        ConsequenceRecord.low_sample.is_(False)).order_by(ConsequenceRecord.id)).all()
    for record in pending:
        _decide(record, Decision.CONFIRMED, "", False)
    return len(pending)


def consequences(round_id: int, department_id: int | None = None,
                 confirmed_only: bool = False) -> list[ConsequenceLine]:
    """The round's consequences with names (one department's only when `department_id` is
    given); `confirmed_only`: what the review kept, as published and in the circular."""
    query = select(ConsequenceRecord).where(ConsequenceRecord.round_id == round_id)
    if confirmed_only:
        query = query.where(ConsequenceRecord.decision == Decision.CONFIRMED)
    records = db.session.scalars(query.order_by(ConsequenceRecord.id)).all()
    office_ids = {c.subject_id for c in records if c.subject_kind == "office"}
    offices = {o.id: o for o in db.session.scalars(select(Office).where(Office.id.in_(office_ids)))}
    departments = {d.id: d for d in db.session.scalars(select(Department))}
    person_ids = {p for c in records for p in c.people}
    persons = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    names = {p.id: p.name for p in persons.values()}
    tallied_in = dict(db.session.execute(select(Result.subject_id, Result.department_id).where(
        Result.round_id == round_id, Result.subject_kind == "person",
        Result.subject_id.in_({c.subject_id for c in records if c.subject_kind == "person"}))).all())
    lines = []
    for c in records:
        if c.subject_kind == "office":
            office = offices.get(c.subject_id)
            dept_id = office.department_id if office else None
            subject = f"{departments[dept_id].name}{office.name}" if office else f"科室{c.subject_id}"
        elif c.subject_kind == "person":
            person, dept_id = persons.get(c.subject_id), tallied_in.get(c.subject_id)  # not where they are now
            subject = f"{departments[dept_id].name}{person.name}（个人）" if person and dept_id in departments \
                else f"人员{c.subject_id}"
        else:
            dept_id = c.subject_id
            subject = departments[dept_id].name if dept_id in departments else f"部门{dept_id}"
        if department_id is not None and dept_id != department_id:
            continue
        people = [names.get(p, str(p)) for p in c.people]
        if c.includes_department and dept_id in departments:
            people.insert(0, f"{departments[dept_id].name}（单位）")
        lines.append(ConsequenceLine(c, KIND_LABELS.get(c.kind, c.kind), subject, people))
    return lines


def tag_labels(round_: Round) -> dict[str, str]:
    config = round_.config or {}
    labels = {}
    for group in ("leader_tags", "staff_tags"):
        labels.update({code: label for code, label in config.get(group, [])})
    return labels
