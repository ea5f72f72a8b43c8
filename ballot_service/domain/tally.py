"""The tally's rules over plain rows: who is counted where, scores, intervals, ranks and grade steps.

The service (services.tally) loads a round's frozen roster and the database's aggregates of
its ratings, calls `tally`, and writes what it returns. Exclusions (an upheld appeal's: a
person's ratings in the round, or an office's ballots) are an input like the rows, so the
original tally and each re-tally after an appeal are the same function over the same rows.

`RULES_VERSION` names these rules, with domain.scoring's and domain.consequences': a round's
tally records the version it was counted under, and `flask verify` refuses to recompute a
round counted under other rules rather than silently rewrite it. Change it whenever a change
here could change a published figure.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from . import scoring

RULES_VERSION = "2023.1"
# The rules of every round tallied before tallies were versioned (migration 0012): a round of
# theirs gets this version when its stored results are first kept as a version.
FIRST_RULES_VERSION = "2023.1"

EXCLUSION_KINDS = ("person", "office")
# What a round snapshots for its appeals: the days after publication a department may appeal.
APPEAL_CONFIG = {"appeal_days": 5}


@dataclass(frozen=True, order=True)
class Exclusion:
    """Ratings left out of a re-tally: all of a person's in the round ("person"), or every
    rating on an office's ballots ("office"), by the appeal that asked for it."""

    kind: str
    subject_id: int
    appeal_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXCLUSION_KINDS:
            raise ValueError(f"unknown exclusion kind {self.kind!r}")

    def covers(self, office_id: int, person_id: int) -> bool:
        return (person_id if self.kind == "person" else office_id) == self.subject_id


@dataclass(frozen=True)
class RosterRow:
    office_id: int
    person_id: int
    role: str
    department_id: int


@dataclass(frozen=True)
class Counts:
    """The database's aggregate for one (office, person) pair: ratings per level and per tag."""

    office_id: int
    person_id: int
    levels: Mapping[str, int]
    tags: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Subject:
    kind: str
    id: int
    department_id: int | None
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tags: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stats: scoring.Stats | None = None
    ballots: int = 0  # an office's, a department's or the round's (a person's: their scored ratings)

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.id


@dataclass
class Tally:
    rows: list[dict]  # one per subject, the Result table's columns but the round's id
    removed_ratings: int  # ratings the exclusions left out (不了解情况 included)


def _add(target: dict, source: Mapping) -> None:
    for key, value in source.items():
        target[key] += value


def tally(config: Mapping, region_id: int, roster: Iterable[RosterRow], pairs: Iterable[Counts],
          office_ballots: Mapping[int, int], previous: Mapping[tuple[str, int], str],
          exclusions: Iterable[Exclusion] = ()) -> Tally:
    """Count a round.

    `pairs`: ratings per (office, person) rated; `office_ballots`: ballots per office;
    `previous`: each subject's grade in its previous graded round. A rating counts for its
    person, its office and the office's department; the round (the region) pools its
    departments. A person's and an office's score is the mean of its ratings; a department's the
    mean of its people's scores (or of all their ratings, "ratings_weighted"); the round's the
    mean of its departments'. Each carries the interval of that same statistic (domain.scoring).
    """
    points = {code: p for code, _label, p in config["levels"]}
    exclusions = tuple(exclusions)
    roster = list(roster)
    office_dept = {r.office_id: r.department_id for r in roster}
    people: dict[int, Subject] = {}
    offices: dict[int, Subject] = {}
    departments: dict[int, Subject] = {}
    dept_people: dict[int, set[int]] = defaultdict(set)
    for r in roster:
        people.setdefault(r.person_id, Subject("person", r.person_id, r.department_id))
        offices.setdefault(r.office_id, Subject("office", r.office_id, r.department_id))
        departments.setdefault(r.department_id, Subject("department", r.department_id, r.department_id))
        dept_people[r.department_id].add(r.person_id)
    region = Subject("region", region_id, None)

    removed = 0
    for pair in pairs:
        if any(e.covers(pair.office_id, pair.person_id) for e in exclusions):
            removed += sum(pair.levels.values())
            continue
        for subject in (people[pair.person_id], offices[pair.office_id], departments[office_dept[pair.office_id]]):
            _add(subject.counts, pair.levels)
            _add(subject.tags, pair.tags)
    for dept in departments.values():
        _add(region.counts, dept.counts)
        _add(region.tags, dept.tags)
    # The ballots behind each figure (domain.visibility): an office's, its department's, the round's.
    excluded_offices = {e.subject_id for e in exclusions if e.kind == "office"}
    for office_id, n in office_ballots.items():
        if office_id in offices and office_id not in excluded_offices:
            for subject in (offices[office_id], departments[office_dept[office_id]], region):
                subject.ballots += n

    for subject in [*people.values(), *offices.values()]:
        subject.stats = scoring.stats_from_counts(subject.counts, points)
    for dept in departments.values():
        dept.stats = scoring.stats_from_counts(dept.counts, points)
        if config["department_aggregation"] != "ratings_weighted":
            dept.stats = scoring.mean_of_means(dept.stats, (people[p].stats for p in sorted(dept_people[dept.id])),
                                               points)
    region.stats = scoring.mean_of_means(scoring.stats_from_counts(region.counts, points),
                                         (d.stats for _, d in sorted(departments.items())), points)

    subjects = [*sorted(people.values(), key=lambda s: s.id), *sorted(offices.values(), key=lambda s: s.id),
                *sorted(departments.values(), key=lambda s: s.id), region]
    ranks = _ranks(people, offices, departments, region, config["min_sample"])
    bands = config["grade_bands"]
    rows = []
    for s in subjects:
        grade = scoring.grade_for(s.stats.score, bands)
        prev = previous.get(s.key)
        rows.append(dict(
            subject_kind=s.kind, subject_id=s.id, department_id=s.department_id,
            counts=dict(sorted(s.stats.counts.items())), tags=dict(sorted(s.tags.items())),
            scored=s.stats.scored, unknown=s.stats.unknown, score=s.stats.score, grade=grade,
            rank=ranks.get(s.key), ci_low=s.stats.ci_low, ci_high=s.stats.ci_high,
            low_sample=s.stats.scored < config["min_sample"],
            uncertain=s.stats.score is not None and scoring.is_uncertain(s.stats, bands),
            previous_grade=prev, steps=scoring.grade_steps(prev, grade) if prev else None,
            ballots=s.stats.scored if s.kind == "person" else s.ballots,
        ))
    return Tally(rows, removed)


def _ranks(people, offices, departments, region, min_sample: int) -> dict[tuple[str, int], int | None]:
    """People and offices rank within their department; departments within the round. A subject
    below the minimum sample is shown apart and unranked: the others rank among themselves."""

    def rankable(s: Subject) -> Decimal | None:
        return None if s.stats.scored < min_sample else s.stats.score

    ranks: dict[tuple[str, int], int | None] = {}
    for kind, group in (("person", people), ("office", offices)):
        by_dept: dict[int, dict[int, Decimal | None]] = defaultdict(dict)
        for s in group.values():
            by_dept[s.department_id][s.id] = rankable(s)
        for scores in by_dept.values():
            ranks.update({(kind, k): r for k, r in scoring.competition_ranks(scores).items()})
    ranks.update({("department", k): r
                  for k, r in scoring.competition_ranks({d.id: rankable(d) for d in departments.values()}).items()})
    ranks[region.key] = 1 if rankable(region) is not None else None
    return ranks


def score_row(config: Mapping, counts: Mapping[str, int]) -> tuple[Decimal | None, str | None]:
    """A person's or an office's score and grade from its level counts alone (what `flask verify`
    recomputes from the published counts)."""
    points = {code: p for code, _label, p in config["levels"]}
    score = scoring.stats_from_counts(counts, points).score
    return score, scoring.grade_for(score, config["grade_bands"])
