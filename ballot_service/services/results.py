"""Published report cards (亮评价结果) and what a department may see of its comments.

Only published rounds are public. Individual ballots never leave this module: pages get
aggregates, and comments only under the k rule (architecture A3).
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..domain.office_codes import is_valid_department_code
from ..domain.scoring import GRADE_LABELS, NO_GRADE_LABEL
from ..extensions import db
from ..models import Ballot, ConsequenceRecord, Department, Office, Person, Rating, RatingTag, Region, Result, Round


def grade_label(grade: str | None) -> str:
    return GRADE_LABELS.get(grade, NO_GRADE_LABEL)


@dataclass
class Line:
    """One row of a report card: a subject, its result and how to show it."""

    name: str
    result: Result
    code: str | None = None
    detail: str | None = None
    yellow_cards: int = 0

    @property
    def grade_label(self) -> str:
        return grade_label(self.result.grade)


@dataclass
class RoundReport:
    round: Round
    region: Line | None
    departments: list[Line]
    levels: list[tuple[str, str]]  # (code, label) of the round's snapshot


@dataclass
class DepartmentReport:
    round: Round
    department: Department
    line: Line
    offices: list[Line]
    people: list[Line]
    levels: list[tuple[str, str]]
    consequences: list[ConsequenceRecord] = field(default_factory=list)


def published_rounds() -> list[Round]:
    return db.session.scalars(
        select(Round).where(Round.status == "published").order_by(Round.published_at.desc(), Round.id.desc())
    ).all()


def _published(round_id: int) -> Round | None:
    round_ = db.session.get(Round, round_id)
    return round_ if round_ is not None and round_.status == "published" else None


def _levels(round_: Round) -> list[tuple[str, str]]:
    return [(code, label) for code, label, _ in round_.config["levels"]]


def _results(round_id: int, kind: str, **where) -> list[Result]:
    query = select(Result).where(Result.round_id == round_id, Result.subject_kind == kind)
    for column, value in where.items():
        query = query.where(getattr(Result, column) == value)
    return db.session.scalars(query).all()


def _by_rank(lines: list[Line]) -> list[Line]:
    return sorted(lines, key=lambda line: (line.result.rank is None, line.result.rank or 0, line.name))


def round_report(round_id: int) -> RoundReport | None:
    round_ = _published(round_id)
    if round_ is None:
        return None
    departments = {d.id: d for d in db.session.scalars(select(Department))}
    cards = dict(db.session.execute(
        select(ConsequenceRecord.subject_id, func.count())
        .where(ConsequenceRecord.round_id == round_id, ConsequenceRecord.kind == "yellow_card",
               ConsequenceRecord.subject_kind == "department")
        .group_by(ConsequenceRecord.subject_id)).all())
    lines = []
    for r in _results(round_id, "department"):
        dept = departments[r.subject_id]
        lines.append(Line(dept.name, r, dept.code, yellow_cards=cards.get(r.subject_id, 0)))
    region_rows = _results(round_id, "region")
    region = Line(db.session.get(Region, region_rows[0].subject_id).name, region_rows[0]) if region_rows else None
    return RoundReport(round_, region, _by_rank(lines), _levels(round_))


def department_report(round_id: int, code: str) -> DepartmentReport | None:
    round_ = _published(round_id)
    if round_ is None or not is_valid_department_code(code):
        return None
    department = db.session.scalar(select(Department).where(Department.code == code))
    if round_ is None or department is None:
        return None
    rows = _results(round_id, "department", subject_id=department.id)
    if not rows:
        return None
    offices = {o.id: o for o in department.offices}
    people = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(
        select(Result.subject_id).where(Result.round_id == round_id, Result.subject_kind == "person",
                                        Result.department_id == department.id))))}
    office_lines = [Line(offices[r.subject_id].name, r, offices[r.subject_id].code)
                    for r in _results(round_id, "office", department_id=department.id)]
    person_lines = [Line(people[r.subject_id].name, r, detail=people[r.subject_id].post)
                    for r in _results(round_id, "person", department_id=department.id)]
    consequences = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == round_id,
        ((ConsequenceRecord.subject_kind == "department") & (ConsequenceRecord.subject_id == department.id))
        | ((ConsequenceRecord.subject_kind == "office") & ConsequenceRecord.subject_id.in_(offices)),
    ).order_by(ConsequenceRecord.id)).all()
    return DepartmentReport(round_, department, Line(department.name, rows[0], department.code),
                            _by_rank(office_lines), _by_rank(person_lines), _levels(round_), consequences)


def latest_department_report(code: str) -> DepartmentReport | None:
    """The department's card in the latest published round that has one (for hall screens)."""
    for round_ in published_rounds():
        report = department_report(round_.id, code)
        if report is not None:
            return report
    return None


@dataclass
class OfficeComments:
    office: Office
    ballots: int
    shown: bool  # False: fewer than k ballots, nothing is shown
    notes: list[str]
    tags: dict[str, int]


def department_comments(round_id: int, department_id: int, threshold: int | None = None,
                        rng: random.Random | None = None) -> list[OfficeComments]:
    """Comments and tag counts of a department's offices for its own users (A3): only for an
    office with at least k ballots in the round, notes shuffled, with no dates or ballot ids."""
    round_ = db.session.get(Round, round_id)
    k = threshold if threshold is not None else round_.config.get("comment_threshold", 5)
    rng = rng or random.SystemRandom()
    offices = db.session.scalars(select(Office).where(Office.department_id == department_id)
                                 .order_by(Office.sort_order, Office.id)).all()
    counts = dict(db.session.execute(
        select(Ballot.office_id, func.count()).where(Ballot.round_id == round_id).group_by(Ballot.office_id)).all())
    notes, tags = defaultdict(list), defaultdict(lambda: defaultdict(int))
    shown_ids = [o.id for o in offices if counts.get(o.id, 0) >= k]
    if shown_ids:
        for office_id, note in db.session.execute(
                select(Ballot.office_id, Rating.note).join(Ballot, Ballot.id == Rating.ballot_id)
                .where(Ballot.round_id == round_id, Ballot.office_id.in_(shown_ids), Rating.note.is_not(None))):
            notes[office_id].append(note)
        for office_id, tag, n in db.session.execute(
                select(Ballot.office_id, RatingTag.tag, func.count()).join(Ballot, Ballot.id == RatingTag.ballot_id)
                .where(Ballot.round_id == round_id, Ballot.office_id.in_(shown_ids))
                .group_by(Ballot.office_id, RatingTag.tag)):
            tags[office_id][tag] = n
    result = []
    for office in offices:
        shown = office.id in shown_ids
        office_notes = sorted(notes[office.id])  # drop the database's order first, then shuffle
        rng.shuffle(office_notes)
        result.append(OfficeComments(office, counts.get(office.id, 0), shown,
                                     office_notes if shown else [], dict(tags[office.id]) if shown else {}))
    return result
