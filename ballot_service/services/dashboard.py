"""The admin landing page's figures: rounds in progress with their ballots so far, and, for the
latest counted round in scope, the ballots per office (0 and below the minimum sample marked),
with department subtotals.

Per-office turnout exists only from the tally on (A1): a live count per office would put, in the
database or Redis, which office each sealed ballot went to and when, which is what the sealed box
is there to hide. So during a round the dashboard gives the round's total, and after the tally
every office's count. The one live count per office, for flags of solicited ratings
(services.solicitation), names the office in Redis only under a keyed tag, and the dashboard
shows only the offices it flags, with their figures.
"""

from dataclasses import dataclass, field

from sqlalchemy import select

from ..domain.access import Scope
from ..domain.round_states import REVIEWABLE, RoundStatus
from ..extensions import db
from ..models import Department, Office, Result, Round
from . import ballot_box, rectification, rounds, solicitation
from .access import condition
from .admin_rounds import result_rounds_condition

SORTS = {"ballots": "票数", "name": "名称", "low": "样本不足在前"}


@dataclass
class OpenRound:
    round: Round
    ballots: int
    days_left: int


@dataclass
class OfficeTurnout:
    name: str
    code: str
    ballots: int
    low_sample: bool

    @property
    def none(self) -> bool:
        return self.ballots == 0


@dataclass
class DepartmentTurnout:
    name: str
    offices: list[OfficeTurnout] = field(default_factory=list)

    @property
    def ballots(self) -> int:
        return sum(o.ballots for o in self.offices)

    @property
    def empty_offices(self) -> int:
        return sum(1 for o in self.offices if o.none)

    @property
    def low_offices(self) -> int:
        return sum(1 for o in self.offices if o.low_sample and not o.none)


@dataclass
class CountedRound:
    round: Round
    departments: list[DepartmentTurnout]
    min_sample: int

    @property
    def ballots(self) -> int:
        return sum(d.ballots for d in self.departments)

    @property
    def most(self) -> int:
        return max((d.ballots for d in self.departments), default=0)


def open_rounds(scope: Scope) -> list[OpenRound]:
    now = rounds.utcnow()
    found = db.session.scalars(select(Round).where(condition("round", scope), Round.status == RoundStatus.OPEN)
                               .order_by(Round.closes_at)).all()
    return [OpenRound(r, ballot_box.turnout(r.id), max(0, (r.closes_at - now).days)) for r in found]


def overdue_rectifications(scope: Scope) -> tuple[int, list[rectification.TaskView]]:
    """Rectification tasks of the scope past their deadline and not accepted: how many, and the
    most overdue (department, subject, deadline, days overdue)."""
    return rectification.overdue(scope)


def latest_counted(scope: Scope) -> Round | None:
    return db.session.scalar(select(Round).where(result_rounds_condition(scope), Round.status.in_(REVIEWABLE))
                             .order_by(Round.closes_at.desc(), Round.id.desc()).limit(1))


def office_turnout(round_: Round, scope: Scope, sort: str = "ballots") -> CountedRound:
    """Ballots per office of a counted round, grouped by department."""
    query = (select(Result, Office.name, Office.code, Department.id, Department.name)
             .join(Office, Office.id == Result.subject_id).join(Department, Department.id == Office.department_id)
             .where(Result.round_id == round_.id, Result.subject_kind == "office"))
    departments: dict[int, DepartmentTurnout] = {}
    for result, name, code, dept_id, dept_name in db.session.execute(query):
        departments.setdefault(dept_id, DepartmentTurnout(dept_name)).offices.append(
            OfficeTurnout(name, code, result.ballots, result.low_sample))
    key = {"ballots": lambda o: (o.ballots, o.name), "name": lambda o: o.name,
           "low": lambda o: (not o.low_sample, o.ballots, o.name)}[sort if sort in SORTS else "ballots"]
    for dept in departments.values():
        dept.offices.sort(key=key)
    dept_key = {"ballots": lambda d: (d.ballots, d.name), "name": lambda d: d.name,
                "low": lambda d: (-d.low_offices, d.ballots, d.name)}[sort if sort in SORTS else "ballots"]
    return CountedRound(round_, sorted(departments.values(), key=dept_key),
                        (round_.config or {}).get("min_sample", 10))


@dataclass
class FlaggedRound:
    round: Round
    flags: list[solicitation.Flag]
    live: bool


def flagged_rounds(scope: Scope) -> list[FlaggedRound]:
    """Flags of solicited ratings, for the coordinator: the bursts so far of each open round in
    scope, and the kept flags of the latest counted round; rounds without a flag left out."""
    found = [FlaggedRound(r, solicitation.live_flags(r), True) for r in db.session.scalars(
        select(Round).where(condition("round", scope), Round.status == RoundStatus.OPEN).order_by(Round.closes_at))]
    if (latest := latest_counted(scope)) is not None:
        found.append(FlaggedRound(latest, solicitation.round_flags(latest.id), False))
    return [f for f in found if f.flags]
