"""Published report cards (亮评价结果) and what each audience may see of a round's results.

Only published rounds are public. Individual ballots never leave this module: pages get
aggregates, hidden below k ballots (and their complements), and comments only as the table
in domain.visibility allows (architecture A3).
"""

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select

from ..domain import scoring, visibility
from ..domain.access import UserRole
from ..domain.office_codes import is_valid_department_code
from ..domain.review import Decision
from ..domain.round_states import RoundStatus
from ..domain.scoring import GRADE_LABELS, NO_GRADE_LABEL
from ..domain.visibility import Audience, Datum
from ..extensions import db
from ..models import (
    Appeal,
    Ballot,
    ConsequenceRecord,
    Department,
    Office,
    Person,
    Rating,
    RatingTag,
    Region,
    Result,
    Round,
    RoundRoster,
    TallyRun,
)


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
    hidden: bool = False  # 样本不足: below k ballots (or a complement), no score or distribution shown
    excluded: bool = False  # its ratings left out by an upheld appeal (shown as such, not as 样本不足)
    rank: int | None = None  # as shown: the official rank, or among the shown lines (ordered)

    def __post_init__(self) -> None:
        self.rank = self.result.rank

    @property
    def grade_label(self) -> str:
        return grade_label(self.result.grade)

    @property
    def low_sample(self) -> bool:
        """Below the round's minimum sample (fewer scored ratings than `min_sample`): shown apart,
        after the ranked lines, with no rank. False for a hidden line, which shows nothing of
        itself (that it is low-sample would tell its count)."""
        return bool(self.result.low_sample) and not self.hidden


@dataclass
class RoundReport:
    round: Round
    region: Line | None
    departments: list[Line]
    levels: list[tuple[str, str]]  # (code, label) of the round's snapshot
    run: TallyRun | None = None  # the version of the results shown, with its counts' digest


def current_run(round_id: int) -> TallyRun | None:
    """The round's current version of its results (None for a round tallied before versions)."""
    return db.session.scalar(select(TallyRun).where(TallyRun.round_id == round_id)
                             .order_by(TallyRun.version.desc()).limit(1))


@dataclass
class DepartmentReport:
    round: Round
    department: Department
    line: Line
    offices: list[Line]
    people: list[Line]
    levels: list[tuple[str, str]]
    consequences: list[ConsequenceRecord] = field(default_factory=list)
    appeals: list["AppealLine"] = field(default_factory=list)


AUDIENCES = {UserRole.COORDINATOR: Audience.COORDINATOR, UserRole.DEPARTMENT_ADMIN: Audience.DEPARTMENT,
             UserRole.HALL_MANAGER: Audience.PUBLIC, UserRole.AUDITOR: Audience.AUDITOR,
             UserRole.DISCIPLINE: Audience.DISCIPLINE}


def audience_of(role: UserRole) -> Audience:
    return AUDIENCES[role]


def k_of(round_: Round) -> int:
    """k: the fewest ballots behind a figure for it to be shown where the k rule applies."""
    return (round_.config or {}).get("comment_threshold", 5)


def hidden_results(round_: Round, audience: Audience, department_id: int | None = None) -> set[tuple[str, int]]:
    """The (kind, id) of the round's results this audience is shown no score or distribution
    of: the region and its departments, and, for `department_id`, that department's offices
    and people (domain.visibility: below k, and the complements that would rebuild them)."""
    if not visibility.needs_k(audience, Datum.SCORES):
        return set()
    k = k_of(round_)
    query = select(Result.subject_kind, Result.subject_id, Result.department_id, Result.ballots).where(
        Result.round_id == round_.id)
    if department_id is None:
        query = query.where(Result.subject_kind.in_(("region", "department")))
    else:
        query = query.where(Result.subject_kind.in_(("region", "department")) | (Result.department_id == department_id))
    groups: dict[str, dict[int, int]] = defaultdict(dict)
    for kind, subject_id, _department, ballots in db.session.execute(query):
        groups[kind][subject_id] = ballots
    hidden = {("department", d) for d, n in groups["department"].items() if n < k}
    hidden |= {("region", r) for r, n in groups["region"].items()
               if visibility.total_hidden(n, groups["department"], k)}
    if department_id is not None:
        offices_of = defaultdict(set)  # the offices each person is rated in, from the frozen roster
        for office_id, person_id in db.session.execute(
                select(RoundRoster.office_id, RoundRoster.person_id).where(
                    RoundRoster.round_id == round_.id, RoundRoster.office_id.in_(list(groups["office"])))):
            offices_of[person_id].add(office_id)
        under = defaultdict(set)
        for person_id, offices in offices_of.items():
            if len(offices) == 1:
                under[next(iter(offices))].add(person_id)
        hidden_offices, hidden_people = visibility.hidden_in_department(groups["office"], groups["person"], under, k)
        hidden |= {("office", o) for o in hidden_offices} | {("person", p) for p in hidden_people}
    return hidden


def ordered(lines: list[Line], hidden: set[tuple[str, int]] = frozenset()) -> list[Line]:
    """One group's lines (departments, offices, people) for display, each marked hidden or not:
    first the ranked lines, best first; then the low-sample ones (`Line.low_sample`: shown apart,
    unranked, by name); last the hidden ones, by name, with no rank. A low-sample line has no
    rank even where its stored result has one (a round tallied before the rule). In a group with
    hidden or low-sample lines the ranked ones are ranked among themselves: a gap in the official
    ranks, or a hidden line's place in the order, would put its score between two shown ones."""
    for line in lines:
        line.hidden = (line.result.subject_kind, line.result.subject_id) in hidden
    ranked = [line for line in lines if not line.hidden and not line.low_sample]
    apart = [line for line in lines if line.low_sample]
    if len(ranked) < len(lines):
        ranks = scoring.competition_ranks({n: line.result.score for n, line in enumerate(ranked)})
        for n, line in enumerate(ranked):
            line.rank = ranks.get(n)
    for line in lines:
        if line.hidden or line.low_sample:
            line.rank = None
    return (sorted(ranked, key=lambda line: (line.rank is None, line.rank or 0, line.name))
            + sorted(apart, key=lambda line: line.name)
            + sorted((line for line in lines if line.hidden), key=lambda line: line.name))


def department_rank(round_: Round, department_id: int, hidden: set[tuple[str, int]]) -> int | None:
    """The department's rank as `hidden` lets it be shown: among the departments shown."""
    lines = ordered([Line("", r) for r in _results(round_.id, "department")], hidden)
    return next((line.rank for line in lines if line.result.subject_id == department_id), None)


def shown_ranks(round_: Round, rows: list[Result], hidden: set[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
    """The ranks of one department's results as `hidden` lets them be shown (see `ordered`)."""
    ranks = {}
    for kind in ("office", "person"):
        lines = ordered([Line("", r) for r in rows if r.subject_kind == kind], hidden)
        ranks.update({(kind, line.result.subject_id): line.rank for line in lines})
    for r in rows:
        if r.subject_kind == "department":
            ranks[("department", r.subject_id)] = department_rank(round_, r.subject_id, hidden)
    return ranks


def published_rounds() -> list[Round]:
    return db.session.scalars(
        select(Round).where(Round.status == RoundStatus.PUBLISHED).order_by(Round.published_at.desc(), Round.id.desc())
    ).all()


def _published(round_id: int) -> Round | None:
    round_ = db.session.get(Round, round_id)
    return round_ if round_ is not None and round_.status == RoundStatus.PUBLISHED else None


def _levels(round_: Round) -> list[tuple[str, str]]:
    return [(code, label) for code, label, _ in round_.config["levels"]]


def _results(round_id: int, kind: str, **where) -> list[Result]:
    query = select(Result).where(Result.round_id == round_id, Result.subject_kind == kind)
    for column, value in where.items():
        query = query.where(getattr(Result, column) == value)
    return db.session.scalars(query).all()


def yellow_cards(round_: Round, audience: Audience = Audience.PUBLIC,
                 department_ids: Iterable[int] | None = None) -> dict[int, int]:
    """黄牌：本部门及其科室本轮被亮黄牌的次数（已确认）.

    Per department: the confirmed yellow cards of the round whose subject is the department
    itself or one of its offices (by the office's department at the tally); people's own
    reminders are not counted. What the audience may not see of the department (domain.visibility:
    the department, or an office, hidden below k) is not counted either, since a yellow card tells
    the grade (一般) that 样本不足 hides. Both report cards print this number."""
    query = (select(Result.department_id, ConsequenceRecord.subject_kind, ConsequenceRecord.subject_id, func.count())
             .join(Result, (Result.round_id == ConsequenceRecord.round_id)
                   & (Result.subject_kind == ConsequenceRecord.subject_kind)
                   & (Result.subject_id == ConsequenceRecord.subject_id))
             .where(ConsequenceRecord.round_id == round_.id, ConsequenceRecord.kind == "yellow_card",
                    ConsequenceRecord.subject_kind.in_(("department", "office")),
                    ConsequenceRecord.decision == Decision.CONFIRMED)
             .group_by(Result.department_id, ConsequenceRecord.subject_kind, ConsequenceRecord.subject_id))
    if department_ids is not None:
        query = query.where(Result.department_id.in_(list(department_ids)))
    by_department: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for department_id, kind, subject_id, n in db.session.execute(query):
        by_department[department_id].append((kind, subject_id, n))
    cards = {}
    for department_id, found in sorted(by_department.items()):
        hidden = hidden_results(round_, audience, department_id)
        cards[department_id] = sum(n for kind, subject_id, n in found if (kind, subject_id) not in hidden)
    return cards


def round_report(round_id: int) -> RoundReport | None:
    round_ = _published(round_id)
    if round_ is None:
        return None
    departments = {d.id: d for d in db.session.scalars(select(Department))}
    cards = yellow_cards(round_)
    lines = []
    for r in _results(round_id, "department"):
        dept = departments[r.subject_id]
        lines.append(Line(dept.name, r, dept.code, yellow_cards=cards.get(r.subject_id, 0)))
    region_rows = _results(round_id, "region")
    region = Line(db.session.get(Region, region_rows[0].subject_id).name, region_rows[0]) if region_rows else None
    hidden = hidden_results(round_, Audience.PUBLIC)
    if region:
        ordered([region], hidden)
    lines = ordered(lines, hidden)
    for line in lines:
        if line.hidden:
            line.yellow_cards = 0  # a yellow card tells the grade (一般) that 样本不足 hides
    return RoundReport(round_, region, lines, _levels(round_), current_run(round_id))


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
        ConsequenceRecord.round_id == round_id, ConsequenceRecord.decision == Decision.CONFIRMED,
        ((ConsequenceRecord.subject_kind == "department") & (ConsequenceRecord.subject_id == department.id))
        | ((ConsequenceRecord.subject_kind == "office") & ConsequenceRecord.subject_id.in_(offices))
        | ((ConsequenceRecord.subject_kind == "person") & ConsequenceRecord.subject_id.in_(people)),
    ).order_by(ConsequenceRecord.id)).all()
    line = Line(department.name, rows[0], department.code,
                yellow_cards=yellow_cards(round_, department_ids=[department.id]).get(department.id, 0))
    hidden = hidden_results(round_, Audience.PUBLIC, department.id)
    # What follows from a hidden grade would tell it: those consequences stay with the coordinators.
    consequences = [c for c in consequences if (c.subject_kind, c.subject_id) not in hidden]
    ordered([line], hidden)
    if hidden:
        line.rank = None if line.hidden or line.low_sample else department_rank(round_, department.id, hidden)
    if line.hidden:
        line.yellow_cards = 0
    appealed = appeal_lines(round_, department.id, hidden)
    excluded = {(a.kind, a.subject_id) for a in appealed}
    for x in (*office_lines, *person_lines):
        x.excluded = (x.result.subject_kind, x.result.subject_id) in excluded
    return DepartmentReport(round_, department, line, ordered(office_lines, hidden), ordered(person_lines, hidden),
                            _levels(round_), consequences, appealed)


@dataclass
class AppealLine:
    """An upheld appeal as the report card shows it: what was excluded, why, by whom, how many
    ratings it removed, and each result it touched as first published and as it stands now."""

    subject: str
    kind: str  # person | office
    subject_id: int
    reason: str
    decided_by: str
    decided_at: dt.datetime
    removed: int
    version: int
    changes: list[tuple[str, str, str]]  # (whose result, first published, now)


def _shown_result(score, grade) -> str:
    return f"{score}分 · {grade_label(grade)}" if score is not None else grade_label(None)


def appeal_lines(round_: Round, department_id: int, hidden: set[tuple[str, int]]) -> list[AppealLine]:
    """The department's upheld appeals in the round, each with the department's and the excluded
    subject's result in the original tally (version 1) and now. A figure hidden now (k) stays
    hidden; the excluded subject's first result is shown if k ballots stood behind it then."""
    appeals = db.session.scalars(select(Appeal).where(
        Appeal.round_id == round_.id, Appeal.department_id == department_id, Appeal.status == "upheld")
        .order_by(Appeal.decided_at, Appeal.id)).all()
    if not appeals:
        return []
    original = db.session.scalar(select(TallyRun.results).where(TallyRun.round_id == round_.id, TallyRun.version == 1))
    first = {(row[0], row[1]): row for row in original or [] if row[0] in ("person", "office", "department")}
    now = {(r.subject_kind, r.subject_id): r for r in db.session.scalars(select(Result).where(
        Result.round_id == round_.id, Result.department_id == department_id))}
    k = k_of(round_)
    lines = []
    for appeal in appeals:
        model = Person if appeal.kind == "person" else Office
        name = db.session.get(model, appeal.subject_id).name
        changes = []
        for key, label in (((appeal.kind, appeal.subject_id), name), (("department", department_id), "本部门")):
            if key not in first or key not in now:
                continue
            before = first[key]
            if key[0] == "person":
                shown_then = before[4] >= k  # a person's ballots are their scored ratings
            elif key[0] == "office":
                shown_then = (db.session.scalar(select(func.count()).select_from(Ballot).where(
                    Ballot.round_id == round_.id, Ballot.office_id == key[1])) or 0) >= k
            else:
                shown_then = key not in hidden
            after = now[key]
            changes.append((label, _shown_result(before[6], before[7]) if shown_then else "样本不足，不公开",
                            "已排除" if key[0] == appeal.kind else
                            "样本不足，不公开" if key in hidden else _shown_result(after.score, after.grade)))
        lines.append(AppealLine(name, appeal.kind, appeal.subject_id, appeal.decision_reason, appeal.decided_by,
                                appeal.decided_at, appeal.removed_ratings or 0, appeal.tally_version or 1, changes))
    return lines


def latest_department_report(code: str) -> DepartmentReport | None:
    """The department's card in the latest published round that has one (for hall screens)."""
    for round_ in published_rounds():
        report = department_report(round_.id, code)
        if report is not None:
            return report
    return None


def visible_tags(tags: dict[str, int], audience: Audience, state: str) -> dict[str, int]:
    """A result's own tag counts as the audience may see them (a department's admins see tags
    only pooled, through department_comments)."""
    shown = {}
    tag_rule = visibility.rule(audience, Datum.TAG_COUNTS)
    if visibility.shown(audience, Datum.TAG_COUNTS, state) and not tag_rule.pooled:
        shown |= visibility.without_serious(tags)
    if visibility.shown(audience, Datum.SERIOUS, state):
        shown |= {tag: n for tag, n in tags.items() if tag in visibility.SERIOUS_TAGS}
    return dict(sorted(shown.items()))


@dataclass
class Comments:
    """Comments and tag counts of one group of ballots: an office (coordinators), or the whole
    department pooled (its own admins)."""

    label: str
    office_id: int | None
    ballots: int
    shown: bool  # False: fewer than k ballots behind them, nothing is shown
    notes: list[str]
    tags: dict[str, int]


def _serious_rating():
    """Whether the rating carries a 吃拿索要 or 故意刁难 tag."""
    return exists().where(RatingTag.ballot_id == Rating.ballot_id, RatingTag.person_id == Rating.person_id,
                          RatingTag.tag.in_(visibility.SERIOUS_TAGS))


def department_comments(round_: Round, department_id: int, audience: Audience,
                        rng: random.Random | None = None) -> list[Comments]:
    """A department's comments and tag counts as domain.visibility lets the audience see them:
    coordinators every office's; the department's own admins the department's pooled, once
    published and with at least k ballots behind them, without the serious tags or the notes of
    ratings carrying one; others none. Notes shuffled, with no dates or ballot ids."""
    if not visibility.shown(audience, Datum.COMMENTS, round_.status):
        return []
    rule = visibility.rule(audience, Datum.COMMENTS)
    serious = visibility.shown(audience, Datum.SERIOUS, round_.status)
    rng = rng or random.SystemRandom()
    offices = db.session.scalars(select(Office).where(Office.department_id == department_id)
                                 .order_by(Office.sort_order, Office.id)).all()
    ids = [o.id for o in offices]
    counts = dict(db.session.execute(select(Ballot.office_id, func.count()).where(
        Ballot.round_id == round_.id, Ballot.office_id.in_(ids)).group_by(Ballot.office_id)).all())
    if rule.pooled:
        department = db.session.get(Department, department_id)
        groups = [(department.name, None, ids, sum(counts.values()))]
    else:
        groups = [(o.name, o.id, [o.id], counts.get(o.id, 0)) for o in offices]
    shown_ids = [i for _, _, members, n in groups if not rule.k or n >= k_of(round_) for i in members]
    notes, tags = defaultdict(list), defaultdict(lambda: defaultdict(int))
    if shown_ids:
        note_query = select(Rating.office_id, Rating.note).where(
            Rating.round_id == round_.id, Rating.office_id.in_(shown_ids), Rating.note.is_not(None))
        tag_query = (select(Ballot.office_id, RatingTag.tag, func.count())
                     .join(Ballot, Ballot.id == RatingTag.ballot_id)
                     .where(Ballot.round_id == round_.id, Ballot.office_id.in_(shown_ids))
                     .group_by(Ballot.office_id, RatingTag.tag))
        if not serious:
            note_query = note_query.where(~_serious_rating())
            tag_query = tag_query.where(RatingTag.tag.not_in(visibility.SERIOUS_TAGS))
        for office_id, note in db.session.execute(note_query):
            notes[office_id].append(note)
        for office_id, tag, n in db.session.execute(tag_query):
            tags[office_id][tag] = n
    result = []
    for label, office_id, members, ballots in groups:
        shown = all(i in shown_ids for i in members)
        group_notes = sorted(note for i in members for note in notes[i])  # the database's order gone,
        rng.shuffle(group_notes)  # then shuffled
        group_tags = defaultdict(int)
        for i in members:
            for tag, n in tags[i].items():
                group_tags[tag] += n
        result.append(Comments(label, office_id, ballots, shown, group_notes if shown else [],
                               dict(sorted(group_tags.items())) if shown else {}))
    return result


@dataclass
class SeriousCount:
    """How many of a person's ratings at one office were tagged 吃拿索要 or 故意刁难."""

    office: str
    person: str
    post: str
    tags: dict[str, int]


@dataclass
class SeriousReports:
    """A department's reports of misconduct for the discipline inspectors (纪检监察) and the
    coordinators: counted per office and person; their notes pooled over the whole department,
    shuffled and undated, and shown only where the department has at least k ballots (`shown`)."""

    ballots: int
    shown: bool
    counts: list[SeriousCount]
    notes: list[str]


def serious_reports(round_: Round, department_id: int, audience: Audience,
                    rng: random.Random | None = None) -> SeriousReports | None:
    """The department's ratings tagged 吃拿索要 or 故意刁难, for coordinators and discipline
    inspectors only (None for anyone else, the rated department included)."""
    if not visibility.shown(audience, Datum.SERIOUS, round_.status):
        return None
    rows = db.session.execute(
        select(Rating.ballot_id, Rating.person_id, Office.name, Person.name, Person.post, Rating.note, RatingTag.tag)
        .join(RatingTag, (RatingTag.ballot_id == Rating.ballot_id) & (RatingTag.person_id == Rating.person_id))
        .join(Office, Office.id == Rating.office_id).join(Person, Person.id == Rating.person_id)
        .where(Rating.round_id == round_.id, Office.department_id == department_id,
               RatingTag.tag.in_(visibility.SERIOUS_TAGS))).all()
    counts: dict[tuple, SeriousCount] = {}
    notes: dict[tuple, str] = {}  # one per rating, whatever its number of serious tags
    for ballot_id, person_id, office, person, post, note, tag in rows:
        line = counts.setdefault((office, person, person_id), SeriousCount(office, person, post or "", {}))
        line.tags[tag] = line.tags.get(tag, 0) + 1
        if note:
            notes[(ballot_id, person_id)] = note
    ballots = db.session.scalar(select(func.count()).select_from(Ballot).join(Office, Office.id == Ballot.office_id)
                                .where(Ballot.round_id == round_.id, Office.department_id == department_id)) or 0
    shown = ballots >= k_of(round_)
    pooled = sorted(notes.values()) if shown else []
    (rng or random.SystemRandom()).shuffle(pooled)
    return SeriousReports(ballots, shown, [counts[key] for key in sorted(counts)], pooled)


@dataclass
class OfficeReport:
    """An office's own part of its department's latest published card: the office page shows it."""

    round: Round
    department: Department
    office: Line
    people: list[Line]
    levels: list[tuple[str, str]]


def latest_office_report(office: Office) -> OfficeReport | None:
    """The office's line and its people's lines (as the public sees them) from the latest
    published round that rated it."""
    for round_ in published_rounds():
        report = department_report(round_.id, office.department.code)
        line = next((x for x in report.offices if x.result.subject_id == office.id), None) if report else None
        if line is None:
            continue
        rated_here = set(db.session.scalars(select(RoundRoster.person_id).where(
            RoundRoster.round_id == round_.id, RoundRoster.office_id == office.id)))
        people = [x for x in report.people if x.result.subject_id in rated_here]
        return OfficeReport(round_, report.department, line, people, report.levels)
    return None
