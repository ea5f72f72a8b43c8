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
REVIEWABLE = ("tallied", "published")


@dataclass(frozen=True)
class Rule:
    states: tuple[str, ...]  # round states in which the datum is shown
    k: bool = False  # only where k ballots stand behind it, small cells' complements hidden too
    pooled: bool = False  # pooled over the department, never per office or person


PUBLISHED = ("published",)
ALL_STATES = ("open", "closed", "tallied", "published")

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


def hidden_cells(ballots: dict, k: int) -> set:
    """Of a group of cells whose figures add up to a total that is shown (the offices of a
    department, its people), those to hide: every cell with fewer than k ballots behind it, and
    then, while the hidden cells that have any ballots hold fewer than k together (the total
    minus the shown cells would rebuild them), the smallest shown cell as well. Ties go by the
    cell's key, so the choice is the same every time."""
    hidden = {cell for cell, n in ballots.items() if n < k}
    shown_by_size = sorted((n, cell) for cell, n in ballots.items() if cell not in hidden)
    while 0 < sum(ballots[cell] for cell in hidden) < k and shown_by_size:
        hidden.add(shown_by_size.pop(0)[1])
    return hidden


def total_hidden(total: int, ballots: dict, k: int) -> bool:
    """Whether a group's total is hidden rather than a second cell (the round's line over its
    departments, whose breakdowns would rebuild a department hidden as a complement): when it has
    fewer than k ballots itself, or its cells below k hold between 1 and k-1 ballots together."""
    return total < k or 0 < sum(n for n in ballots.values() if n < k) < k


def without_serious(tags: dict[str, int]) -> dict[str, int]:
    return {tag: n for tag, n in tags.items() if tag not in SERIOUS_TAGS}
