"""The tally's rules over plain rows, without an app: numbers worked by hand."""

from decimal import Decimal

import pytest

from ballot_service.domain import tally
from ballot_service.domain.ballots import DEFAULT_BALLOT_CONFIG
from ballot_service.domain.scoring import DEFAULT_SCORING_CONFIG

CONFIG = {**DEFAULT_BALLOT_CONFIG, **DEFAULT_SCORING_CONFIG, "min_sample": 1}
# One department (7) of two offices: A (10) rates persons 1 and 2, B (20) rates person 3.
ROSTER = [tally.RosterRow(10, 1, "staff", 7), tally.RosterRow(10, 2, "staff", 7), tally.RosterRow(20, 3, "staff", 7)]
PAIRS = [
    tally.Counts(10, 1, {"satisfied": 1, "fairly_satisfied": 1}),  # (100 + 80) / 2 = 90.00
    tally.Counts(10, 2, {"satisfied": 1, "unknown": 1}),  # 100.00 from its one scored rating
    tally.Counts(20, 3, {"dissatisfied": 2}, {"low_efficiency": 2}),  # 30.00
]
BALLOTS = {10: 2, 20: 2}


def rows_by_key(result: tally.Tally) -> dict:
    return {(r["subject_kind"], r["subject_id"]): r for r in result.rows}


def test_scores_ranks_and_grades_of_a_small_round():
    rows = rows_by_key(tally.tally(CONFIG, 1, ROSTER, PAIRS, BALLOTS, {}))
    assert [rows["person", p]["score"] for p in (1, 2, 3)] == [Decimal("90.00"), Decimal("100.00"), Decimal("30.00")]
    assert [rows["person", p]["rank"] for p in (1, 2, 3)] == [2, 1, 3]
    assert [rows["person", p]["grade"] for p in (1, 2, 3)] == ["excellent", "excellent", "fail"]
    assert rows["office", 10]["score"] == Decimal("93.33")  # (100 + 80 + 100) / 3
    assert rows["office", 10]["ballots"] == 2 and rows["person", 2]["ballots"] == 1  # a person's: scored ratings
    assert rows["department", 7]["score"] == Decimal("73.33")  # (90 + 100 + 30) / 3, mean of people
    assert rows["department", 7]["grade"] == "pass" and rows["department", 7]["ballots"] == 4
    assert rows["department", 7]["tags"] == {"low_efficiency": 2}
    assert rows["region", 1]["score"] == Decimal("73.33") and rows["region", 1]["rank"] == 1


def test_excluding_a_person_removes_their_ratings_everywhere_they_count():
    result = tally.tally(CONFIG, 1, ROSTER, PAIRS, BALLOTS, {}, [tally.Exclusion("person", 3, appeal_id=5)])
    rows = rows_by_key(result)
    assert result.removed_ratings == 2
    assert rows["person", 3]["score"] is None and rows["person", 3]["grade"] is None
    assert rows["office", 20]["score"] is None and rows["office", 20]["ballots"] == 2  # the ballots stay, empty for them
    assert rows["department", 7]["score"] == Decimal("95.00")  # (90 + 100) / 2
    assert rows["department", 7]["tags"] == {}


def test_excluding_an_office_removes_its_ballots():
    result = tally.tally(CONFIG, 1, ROSTER, PAIRS, BALLOTS, {}, [tally.Exclusion("office", 10)])
    rows = rows_by_key(result)
    assert result.removed_ratings == 4  # 2 of person 1, 2 of person 2 (不了解情况 included)
    assert rows["office", 10]["ballots"] == 0 and rows["department", 7]["ballots"] == 2
    assert rows["department", 7]["score"] == Decimal("30.00")  # only person 3 still has a score


def test_grade_steps_against_the_previous_round():
    rows = rows_by_key(tally.tally(CONFIG, 1, ROSTER, PAIRS, BALLOTS, {("person", 3): "pass", ("person", 1): "good"}))
    assert rows["person", 3]["steps"] == -2 and rows["person", 3]["previous_grade"] == "pass"  # pass → fail
    assert rows["person", 1]["steps"] == 1 and rows["person", 2]["steps"] is None


def test_score_row_recomputes_from_counts_alone():
    assert tally.score_row(CONFIG, {"satisfied": 2, "fairly_satisfied": 1}) == (Decimal("93.33"), "excellent")
    assert tally.score_row(CONFIG, {"unknown": 3}) == (None, None)


def test_unknown_exclusion_kinds_are_refused():
    with pytest.raises(ValueError):
        tally.Exclusion("department", 7)
