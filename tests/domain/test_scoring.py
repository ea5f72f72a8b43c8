"""Scores and grades, with expected numbers worked by hand from architecture section 2."""

from decimal import Decimal as D

import pytest

from ballot_service.domain.scoring import (
    competition_ranks,
    grade_for,
    grade_steps,
    half_up,
    is_uncertain,
    mean_score,
    stats_from_counts,
)

POINTS = {"satisfied": 100, "fairly_satisfied": 80, "basically_satisfied": 60, "dissatisfied": 30, "unknown": None}


@pytest.mark.parametrize("score, grade", [
    ("100", "excellent"), ("90", "excellent"), ("89.99", "good"), ("80", "good"), ("79.99", "pass"),
    ("70", "pass"), ("69.99", "average"), ("60", "average"), ("59.99", "fail"), ("30", "fail"),
])
def test_grade_bands(score, grade):
    assert grade_for(D(score)) == grade


def test_no_scored_rating_means_no_grade():
    stats = stats_from_counts({"unknown": 4}, POINTS)
    assert (stats.scored, stats.unknown, stats.score) == (0, 4, None)
    assert grade_for(stats.score) is None


def test_unknown_is_counted_but_not_scored():
    # 2×100 + 1×30 = 230 over 3 scored ratings = 76.666… → 76.67; the 5 unknown do not count.
    stats = stats_from_counts({"satisfied": 2, "dissatisfied": 1, "unknown": 5}, POINTS)
    assert (stats.scored, stats.unknown, stats.score) == (3, 5, D("76.67"))
    assert stats.counts == {"satisfied": 2, "fairly_satisfied": 0, "basically_satisfied": 0, "dissatisfied": 1,
                            "unknown": 5}


def test_half_up_rounding_at_the_third_decimal():
    assert half_up(179, 2) == D("89.50")
    assert half_up(1, 8) == D("0.13")  # 0.125 rounds up
    assert half_up(2, 3) == D("0.67")
    assert half_up(1, 3) == D("0.33")
    # 80 + 60 + 60 = 200 / 3 = 66.666… → 66.67 (一般)
    assert stats_from_counts({"fairly_satisfied": 1, "basically_satisfied": 2}, POINTS).score == D("66.67")


def test_interval_for_a_mean_by_hand():
    # 1×100, 1×60: mean 80, sample variance ((20)²+(20)²)/1 = 800, sd 28.284, se 20, ±1.96·20 = 39.2
    # → [40.80, 119.20] clipped to the points range [30, 100] → [40.80, 100]
    stats = stats_from_counts({"satisfied": 1, "basically_satisfied": 1}, POINTS)
    assert stats.score == D("80.00")
    assert stats.ci_low == D("40.80") and stats.ci_high == D("100.00")
    assert is_uncertain(stats)
    # Ten 满意: no spread, the interval is the point, the grade is certain.
    certain = stats_from_counts({"satisfied": 10}, POINTS)
    assert (certain.ci_low, certain.ci_high) == (D("100.00"), D("100.00")) and not is_uncertain(certain)


def test_mean_of_people_scores_rounds_half_up():
    # (76.67 + 90.00 + 80.00) / 3 = 246.67 / 3 = 82.2233… → 82.22
    assert mean_score([D("76.67"), D("90.00"), D("80.00")]) == D("82.22")
    # (89.99 + 90.00) / 2 = 89.995 → 90.00 (half up)
    assert mean_score([D("89.99"), D("90.00")]) == D("90.00")
    assert mean_score([]) is None


def test_ties_share_a_rank_and_the_next_rank_skips():
    ranks = competition_ranks({"a": D("95"), "b": D("90"), "c": D("90"), "d": D("85"), "e": None})
    assert ranks == {"a": 1, "b": 2, "c": 2, "d": 4}


def test_grade_steps():
    assert grade_steps("average", "good") == 2
    assert grade_steps("good", "good") == 0
    assert grade_steps("excellent", "fail") == -4
    assert grade_steps(None, "good") is None and grade_steps("good", None) is None
