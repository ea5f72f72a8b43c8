"""Rectification tasks (整改), one function per use case: open a published round's tasks, the
department's submission, the coordinator's acceptance or return; the lists of the admin area,
the dashboard's overdue tasks, and the public report card's 整改情况 per department.

The rules are domain.rectification. What a task shows follows domain.visibility (A3): its
findings hold the subject's grade and distribution as the tally left them (only subjects the
department is shown open a task), its tag counts by label without 吃拿索要 / 故意刁难; comments
and tags come from results.department_comments, so a department sees them pooled over the
department and only with at least k ballots behind them, coordinators per office, and the
serious tags (from the tally's result) are for coordinators only. Nothing per ballot or voter.

Each function flushes and writes its audit entry (the rows themselves are left out of the
automatic change log, since their findings hold tag counts that only some readers may see);
the request, job or command that called it commits. Times are stored in UTC; dates are China's.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, func, select, true

from ..domain import rectification as rules
from ..domain.access import Level, Scope
from ..domain.rectification import RectifyRefused, Subject, Summary, Task
from ..domain.round_states import RoundStatus
from ..domain.scoring import GRADE_LABELS, NO_GRADE_LABEL
from ..domain.visibility import SERIOUS_TAGS, Audience
from ..extensions import db
from ..models import Department, Office, Person, Rectification, Result, Round
from . import audit, results

STATUS_FILTERS = {**rules.STATUS_LABELS, "overdue": "已逾期"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def china_today() -> dt.date:
    return dt.datetime.now(rules.CHINA).date()


def _labels(config: dict | None, group_keys=("leader_tags", "staff_tags")) -> dict[str, str]:
    labels = {}
    for group in group_keys:
        labels.update({code: label for code, label in (config or {}).get(group, [])})
    return labels


def tag_label_list(tags: dict[str, int], config: dict | None) -> list[list]:
    """[[label, count], …] in the ballot's order of tags (unknown codes last, as they are)."""
    labels = _labels(config)
    order = {code: n for n, code in enumerate(labels)}
    return [[labels.get(code, code), n] for code, n in sorted(tags.items(), key=lambda t: (order.get(t[0], 99), t[0]))
            if n]


# ---------------------------------------------------------------- opening


def _subject_names(rows: list[Result]) -> dict[tuple[str, int], str]:
    ids = defaultdict(set)
    for r in rows:
        ids[r.subject_kind].add(r.subject_id)
    names = {}
    for kind, model in (("person", Person), ("office", Office), ("department", Department)):
        if ids[kind]:
            for row in db.session.scalars(select(model).where(model.id.in_(ids[kind]))):
                names[kind, row.id] = f"{row.name}（{row.post}）" if kind == "person" and row.post else row.name
    return names


def _findings(round_: Round, row: Result, subject: str, threshold: int) -> dict:
    """What was found, as the tally left it: grade, score, ratings per level (by label), ballots,
    and the subject's own complaint tags by label, the serious ones left out."""
    tags = {tag: n for tag, n in (row.tags or {}).items() if tag not in SERIOUS_TAGS}
    return {
        "subject": subject,
        "grade": row.grade,
        "score": str(row.score) if row.score is not None else None,
        "levels": [[label, int((row.counts or {}).get(code, 0))] for code, label, _ in round_.config["levels"]],
        "ballots": row.ballots, "scored": row.scored, "unknown": row.unknown,
        "tags": tag_label_list(tags, round_.config),
        "tag_total": rules.counted_tags(row.tags or {}),
        "threshold": threshold,
    }


def _called_for(round_: Round) -> dict[tuple[str, int, str], tuple[Result, int]]:
    """{(kind, id, trigger): (result row, department id)}: the tasks the round's current results
    call for (domain.rectification.triggers), under what each department is shown (k rule)."""
    _days, threshold = rules.settings(round_.config)
    rows = db.session.scalars(select(Result).where(
        Result.round_id == round_.id, Result.subject_kind.in_(rules.SUBJECT_KINDS))
        .order_by(Result.department_id, Result.subject_kind, Result.subject_id)).all()
    hidden: dict[int, set] = {}
    called = {}
    for row in rows:
        department_id = row.subject_id if row.subject_kind == "department" else row.department_id
        if department_id is None:
            continue
        if department_id not in hidden:  # what the department itself is shown (k rule)
            hidden[department_id] = results.hidden_results(round_, Audience.DEPARTMENT, department_id)
        subject = Subject(row.subject_kind, row.grade, row.tags or {},
                          (row.subject_kind, row.subject_id) in hidden[department_id])
        for trigger in rules.triggers(subject, threshold):
            called[row.subject_kind, row.subject_id, trigger] = (row, department_id)
    return called


def open_for_round(round_id: int) -> list[Rectification]:
    """Open the tasks of a published round (domain.rectification.triggers), each for its subject's
    department, due `rectify_days` after the China date of publication. Idempotent: a task already
    opened for a (subject, trigger) is left as it is. Returns the tasks opened now."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.status != RoundStatus.PUBLISHED or round_.published_at is None:
        return []
    days, threshold = rules.settings(round_.config)
    due = rules.deadline(round_.published_at, days)
    existing = set(db.session.execute(select(Rectification.subject_kind, Rectification.subject_id,
                                             Rectification.trigger).where(Rectification.round_id == round_id)).all())
    called = {key: found for key, found in _called_for(round_).items() if key not in existing}
    names = _subject_names([row for row, _department in called.values()])
    opened, now = [], utcnow()
    for (kind, subject_id, trigger), (row, department_id) in called.items():
        name = names.get((kind, subject_id), f"{kind}{subject_id}")
        task = Rectification(round_id=round_id, department_id=department_id, subject_kind=kind,
                             subject_id=subject_id, trigger=trigger, opened_at=now, deadline=due,
                             status="open", findings=_findings(round_, row, name, threshold))
        db.session.add(task)
        opened.append(task)
    if opened:
        db.session.flush()
        audit.note("rectification.open", f"round:{round_id}",
                   {"opened": [t.id for t in opened], "deadline": due.isoformat()})
    return opened


def follow_retally(round_id: int, version: int) -> None:
    """After a re-tally (an upheld appeal): a task not yet accepted whose subject's new result no
    longer calls for it is withdrawn, with the reason; the tasks the new results call for and
    the round has not had are opened."""
    round_ = db.session.get(Round, round_id)
    called = _called_for(round_)
    withdrawn = []
    for task in db.session.scalars(select(Rectification).where(
            Rectification.round_id == round_id, Rectification.status.not_in(rules.CLOSED))):
        if (task.subject_kind, task.subject_id, task.trigger) not in called:
            task.status, task.reviewed_by = "withdrawn", audit.actor_name()
            task.review_note = f"申诉复核后重新统计（第{version}版），该对象不再须整改"
            withdrawn.append(task.id)
    if withdrawn:
        audit.note("rectification.withdraw", f"round:{round_id}", {"withdrawn": withdrawn, "version": version})
    open_for_round(round_id)


# ---------------------------------------------------------------- the department's and the coordinator's moves


def _task(task_id: int) -> Rectification:
    task = db.session.get(Rectification, task_id, with_for_update=True, populate_existing=True)
    if task is None:
        raise RectifyRefused("没有这一整改任务")
    return task


def submit(task_id: int, measures: str | None, report: str | None) -> Rectification:
    """The department's 整改措施 and 整改完成情况 (a first submission, or again after a return)."""
    task = _task(task_id)
    status = rules.move(task.status, "submit")
    measures, report = rules.check_text(measures, report)
    task.status, task.measures, task.report = status, measures, report
    task.submitted_by, task.submitted_at = audit.actor_name(), utcnow()
    audit.note("rectification.submit", f"rectification:{task.id}",
               {"status": status, "measures": measures, "report": report})
    db.session.flush()
    return task


def accept(task_id: int, note: str | None = None) -> Rectification:
    """The coordinator's 验收通过 of a submitted task (a note optional)."""
    task = _task(task_id)
    status = rules.move(task.status, "accept")
    note = rules.check_note(note, required=False)
    task.status, task.review_note = status, note or None
    task.reviewed_by, task.accepted_at = audit.actor_name(), utcnow()
    audit.note("rectification.accept", f"rectification:{task.id}", {"status": status, "note": note})
    db.session.flush()
    return task


def return_task(task_id: int, note: str | None) -> Rectification:
    """The coordinator's 退回整改 of a submitted task, with a written note of why."""
    task = _task(task_id)
    status = rules.move(task.status, "return")
    note = rules.check_note(note, required=True)
    task.status, task.review_note, task.reviewed_by = status, note, audit.actor_name()
    audit.note("rectification.return", f"rectification:{task.id}", {"status": status, "note": note})
    db.session.flush()
    return task


# ---------------------------------------------------------------- lists


def scope_condition(scope: Scope) -> ColumnElement[bool]:
    """Tasks the scope covers: a region's departments' (all of them city-wide), or one department's."""
    if scope.level is Level.CITY:
        return true()
    if scope.level is Level.REGION:
        return Rectification.department_id.in_(select(Department.id).where(Department.region_id == scope.region_id))
    if scope.level is Level.DEPARTMENT:
        return Rectification.department_id == scope.department_id
    return false()


def tasks_query(scope: Scope, round_id: int | None = None, status: str | None = None,
                today: dt.date | None = None):
    """The scope's tasks, soonest deadline first; `status` one of STATUS_FILTERS ("overdue": not
    accepted and past the deadline)."""
    query = select(Rectification).where(scope_condition(scope))
    if round_id is not None:
        query = query.where(Rectification.round_id == round_id)
    if status == "overdue":
        query = query.where(Rectification.status.not_in(rules.CLOSED),
                            Rectification.deadline < (today or china_today()))
    elif status:
        query = query.where(Rectification.status == status)
    return query.order_by(Rectification.deadline, Rectification.department_id, Rectification.id)


def rounds_with_tasks(scope: Scope) -> list[Round]:
    return db.session.scalars(select(Round).where(Round.id.in_(
        select(Rectification.round_id).where(scope_condition(scope)))).order_by(Round.published_at.desc())).all()


@dataclass
class TaskView:
    task: Rectification
    department: str
    round_name: str
    today: dt.date

    @property
    def subject(self) -> str:
        return self.task.findings.get("subject", "")

    @property
    def kind_label(self) -> str:
        return rules.SUBJECT_KIND_LABELS.get(self.task.subject_kind, self.task.subject_kind)

    @property
    def trigger_label(self) -> str:
        if self.task.trigger == "grade":
            return f"评定为“{GRADE_LABELS.get(self.task.findings.get('grade'), NO_GRADE_LABEL)}”"
        return rules.TRIGGER_LABELS["tags"]

    @property
    def status_label(self) -> str:
        return rules.STATUS_LABELS.get(self.task.status, self.task.status)

    @property
    def overdue(self) -> bool:
        return rules.is_overdue(self.task.status, self.task.deadline, self.today)

    @property
    def days_overdue(self) -> int:
        return rules.days_overdue(self.task.status, self.task.deadline, self.today)

    @property
    def on_time(self) -> bool:
        accepted = rules.china_day(self.task.accepted_at) if self.task.accepted_at else None
        return rules.on_time(self.task.status, self.task.deadline, accepted)


def views(tasks: list[Rectification], today: dt.date | None = None) -> list[TaskView]:
    today = today or china_today()
    departments = dict(db.session.execute(select(Department.id, Department.name).where(
        Department.id.in_({t.department_id for t in tasks}))).all())
    round_names = dict(db.session.execute(select(Round.id, Round.name).where(
        Round.id.in_({t.round_id for t in tasks}))).all())
    return [TaskView(t, departments.get(t.department_id, ""), round_names.get(t.round_id, ""), today) for t in tasks]


def overdue(scope: Scope, today: dt.date | None = None, limit: int = 50) -> tuple[int, list[TaskView]]:
    """(how many, the first `limit` most overdue) of the scope's tasks past their deadline."""
    today = today or china_today()
    query = tasks_query(scope, status="overdue", today=today)
    count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return count, views(db.session.scalars(query.limit(limit)).all(), today)


@dataclass
class TaskDetail:
    view: TaskView
    round: Round
    own_tags: list[list]  # the subject's own tags by label: coordinators only (departments: pooled)
    serious: list[list]  # 吃拿索要 / 故意刁难 of the subject: coordinators only
    comments: list[results.Comments]
    k: int
    tag_labels: dict[str, str] = field(default_factory=dict)


def detail(task: Rectification, audience: Audience, today: dt.date | None = None) -> TaskDetail:
    """A task as the audience may see it (domain.visibility)."""
    round_ = db.session.get(Round, task.round_id)
    view = views([task], today)[0]
    coordinator = audience is Audience.COORDINATOR
    serious = []
    if coordinator:
        row = db.session.scalar(select(Result).where(Result.round_id == task.round_id,
                                                     Result.subject_kind == task.subject_kind,
                                                     Result.subject_id == task.subject_id))
        shown = results.visible_tags(row.tags or {}, audience, round_.status) if row else {}
        serious = tag_label_list({t: n for t, n in shown.items() if t in SERIOUS_TAGS}, round_.config)
    comments = results.department_comments(round_, task.department_id, audience)
    if coordinator and task.subject_kind == "office":
        comments = [c for c in comments if c.office_id == task.subject_id]
    return TaskDetail(view, round_, task.findings.get("tags", []) if coordinator else [], serious, comments,
                      results.k_of(round_), _labels(round_.config))


# ---------------------------------------------------------------- the public report card


def public_summary(round_id: int, department_id: int, today: dt.date | None = None) -> Summary:
    """整改情况 of one department in one round: open, done (accepted), overdue and the on-time rate."""
    tasks = db.session.execute(select(Rectification.status, Rectification.deadline, Rectification.accepted_at).where(
        Rectification.round_id == round_id, Rectification.department_id == department_id)).all()
    return rules.summarise([Task(status, deadline, rules.china_day(accepted) if accepted else None)
                            for status, deadline, accepted in tasks], today or china_today())
