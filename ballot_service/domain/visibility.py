"""Who sees what of a round's results (A3): one table, and the small-cell rules it relies on.

Audiences are the public (and hall managers, who see what the public sees), department
admins, coordinators, auditors and the discipline inspectors (纪检监察). What each may see
depends on the datum, the round's state, and — for some — k, the ballots behind the figure:

- for a person, the ballots that rated them (不了解情况 not counted: it says nothing of them);
- for an office, its ballots; for a department, its offices' ballots together.

k is the round's `comment_threshold` (5 unless the round says otherwise).

Ratings tagged 吃拿索要 or 故意刁难 are reports of misconduct: their tags and notes go to the
coordinators and the discipline inspectors only, never to the department they name.

The README's table "Who sees what" is this table in words; tests hold the code to it.
"""

from dataclasses import dataclass
from enum import StrEnum

from .round_states import REVIEWABLE, UNTALLIED, RoundStatus


class Audience(StrEnum):
    PUBLIC = "public"  # report cards, hall screens; hall managers see no more
    DEPARTMENT = "department"  # a department admin, their own department
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    DISCIPLINE = "discipline"  # 纪检监察


class Datum(StrEnum):
    SCORES = "scores"  # score, grade, rank
    DISTRIBUTIONS = "distributions"  # ratings per level
    TAG_COUNTS = "tag_counts"  # problem tags other than the serious ones
    COMMENTS = "comments"  # notes of ratings without a serious tag
    SERIOUS = "serious"  # 吃拿索要 / 故意刁难: their counts and their ratings' notes
    TURNOUT = "turnout"  # ballots so far, the round as a whole
    CONSEQUENCES = "consequences"  # yellow cards, reviews, escalations


SERIOUS_TAGS = frozenset({"bribery", "obstruction"})  # 吃拿索要, 故意刁难


@dataclass(frozen=True)
class Rule:
    states: tuple[str, ...]  # round states in which the datum is shown
    k: bool = False  # only where k ballots stand behind it, small cells' complements hidden too
    pooled: bool = False  # pooled over the department, never per office or person


PUBLISHED = (RoundStatus.PUBLISHED,)
ALL_STATES = (*UNTALLIED, *REVIEWABLE)

RULES: dict[Audience, dict[Datum, Rule]] = {
    Audience.PUBLIC: {
        Datum.SCORES: Rule(PUBLISHED, k=True),
        Datum.DISTRIBUTIONS: Rule(PUBLISHED, k=True),
        Datum.CONSEQUENCES: Rule(PUBLISHED),
    },
    Audience.DEPARTMENT: {
        Datum.SCORES: Rule(PUBLISHED, k=True),
        Datum.DISTRIBUTIONS: Rule(PUBLISHED, k=True),
        Datum.TAG_COUNTS: Rule(PUBLISHED, k=True, pooled=True),
        Datum.COMMENTS: Rule(PUBLISHED, k=True, pooled=True),
        Datum.CONSEQUENCES: Rule(PUBLISHED),
    },
    Audience.COORDINATOR: {
        Datum.SCORES: Rule(REVIEWABLE),
        Datum.DISTRIBUTIONS: Rule(REVIEWABLE),
        Datum.TAG_COUNTS: Rule(REVIEWABLE),
        Datum.COMMENTS: Rule(REVIEWABLE),
        Datum.SERIOUS: Rule(REVIEWABLE),
        Datum.TURNOUT: Rule(ALL_STATES),
        Datum.CONSEQUENCES: Rule(REVIEWABLE),
    },
    Audience.AUDITOR: {
        Datum.SCORES: Rule(REVIEWABLE),
        Datum.DISTRIBUTIONS: Rule(REVIEWABLE),
        Datum.TURNOUT: Rule(ALL_STATES),
        Datum.CONSEQUENCES: Rule(REVIEWABLE),
    },
    Audience.DISCIPLINE: {
        Datum.SCORES: Rule(REVIEWABLE),
        Datum.DISTRIBUTIONS: Rule(REVIEWABLE),
        Datum.SERIOUS: Rule(REVIEWABLE),
        Datum.CONSEQUENCES: Rule(REVIEWABLE),
    },
}


def rule(audience: Audience, datum: Datum) -> Rule | None:
    return RULES[audience].get(datum)


def shown(audience: Audience, datum: Datum, state: str) -> bool:
    """Whether the audience sees the datum at all in a round in this state (k aside)."""
    found = rule(audience, datum)
    return found is not None and state in found.states


def needs_k(audience: Audience, datum: Datum) -> bool:
    found = rule(audience, datum)
    return found is not None and found.k


def hidden_cells(ballots: dict, k: int, also: frozenset | set = frozenset()) -> set:
    """Of a group of cells whose figures add up to a total that is shown (the offices of a
    department, its people), those to hide: every cell with fewer than k ballots behind it (and
    those in `also`), and then, while the hidden cells that have any ballots hold fewer than k
    together (the total minus the shown cells would rebuild them), the smallest shown cell as
    well. Ties go by the cell's key, so the choice is the same every time."""
    hidden = {cell for cell, n in ballots.items() if n < k} | set(also)
    shown_by_size = sorted((n, cell) for cell, n in ballots.items() if cell not in hidden)
    while 0 < sum(ballots[cell] for cell in hidden) < k and shown_by_size:
        hidden.add(shown_by_size.pop(0)[1])
    return hidden


def hidden_in_department(offices: dict, people: dict, under: dict, k: int) -> tuple[set, set]:
    """(offices, people) of one department to hide. Offices and people are each a group under the
    department's total (hidden_cells); and an office's figures are its people's ratings from its
    ballots, so for `under` — the people rated on one office's ballots only, per office — a shown
    office whose hidden people hold between 1 and k-1 ratings is hidden too (the office minus its
    shown people would rebuild them); and while the hidden offices' hidden people hold between 1
    and k-1 together (the department minus the shown offices, minus the shown people under the
    hidden ones, would rebuild them), the smallest shown person under them is hidden too, or,
    when none is left, the smallest shown office."""
    hidden_people, hidden_offices = hidden_cells(people, k), hidden_cells(offices, k)
    while True:
        before = (len(hidden_people), len(hidden_offices))
        for office, members in under.items():
            if office not in hidden_offices and 0 < sum(people.get(p, 0) for p in members & hidden_people) < k:
                hidden_offices.add(office)
        hidden_offices = hidden_cells(offices, k, hidden_offices)
        members = set().union(*(under.get(office, set()) for office in hidden_offices))
        if 0 < sum(people.get(p, 0) for p in members & hidden_people) < k:
            shown_people = sorted((people.get(p, 0), p) for p in members - hidden_people)
            shown_offices = sorted((n, office) for office, n in offices.items() if office not in hidden_offices)
            if shown_people:
                hidden_people.add(shown_people[0][1])
            elif shown_offices:
                hidden_offices.add(shown_offices[0][1])
        hidden_people = hidden_cells(people, k, hidden_people)
        if (len(hidden_people), len(hidden_offices)) == before:
            return hidden_offices, hidden_people


def total_hidden(total: int, ballots: dict, k: int) -> bool:
    """Whether a group's total is hidden rather than a second cell (the round's line over its
    departments, whose breakdowns would rebuild a department hidden as a complement): when it has
    fewer than k ballots itself, or its cells below k hold between 1 and k-1 ballots together."""
    return total < k or 0 < sum(n for n in ballots.values() if n < k) < k


def without_serious(tags: dict[str, int]) -> dict[str, int]:
    return {tag: n for tag, n in tags.items() if tag not in SERIOUS_TAGS}
