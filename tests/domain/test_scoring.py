"""Scores and grades, with expected numbers worked by hand from architecture section 2."""

from decimal import Decimal as D
from fractions import Fraction

import pytest

from ballot_service.domain.scoring import (
    Stats,
    competition_ranks,
    grade_for,
    grade_steps,
    half_up,
    is_uncertain,
    mean_of_means,
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


def test_one_rating_takes_the_largest_variance_a_rating_can_have():
    # s² is undefined for n = 1: the largest variance on 30–100, 70²/4 = 1225 (sd 35), stands in.
    # 100 ± 1.959964·35 = ±68.5987 → [31.4013, 168.5987] → [31.40, 100.00]; 30 → [30.00, 98.60].
    top = stats_from_counts({"satisfied": 1}, POINTS)
    assert (top.score, top.ci_low, top.ci_high, top.variance) == (D("100.00"), D("31.40"), D("100.00"), 1225)
    bottom = stats_from_counts({"dissatisfied": 1}, POINTS)
    assert (bottom.ci_low, bottom.ci_high) == (D("30.00"), D("98.60"))


def test_a_mean_of_means_gets_the_interval_of_a_mean_of_means():
    # Person A: 100, 80 → mean 90, s² = (10² + 10²)/1 = 200, var of the mean 200/2 = 100.
    # Person B: 60, 60, 30 → mean 50, s² = (10² + 10² + 20²)/2 = 300, var 300/3 = 100.
    # Department = (90.00 + 50.00)/2 = 70.00; var = (100 + 100)/2² = 50, se 7.0711,
    # ±1.959964·7.0711 = ±13.8590 → [56.1410, 83.8590] → outwards [56.14, 83.86].
    a = stats_from_counts({"satisfied": 1, "fairly_satisfied": 1}, POINTS)
    b = stats_from_counts({"basically_satisfied": 2, "dissatisfied": 1}, POINTS)
    assert (a.score, a.variance, b.score, b.variance) == (D("90.00"), 100, D("50.00"), 100)
    pooled = stats_from_counts({"satisfied": 1, "fairly_satisfied": 1, "basically_satisfied": 2,
                                "dissatisfied": 1}, POINTS)
    assert pooled.score == D("66.00")  # 330/5: the pooled mean is not the department's score
    department = mean_of_means(pooled, [a, b], POINTS)
    assert (department.score, department.ci_low, department.ci_high) == (D("70.00"), D("56.14"), D("83.86"))
    assert department.variance == 50 and department.scored == 5 and department.counts == pooled.counts
    assert is_uncertain(department)  # 一般 to 良好
    # With a person of one rating (100, var 1225): (90 + 100)/2 = 95.00, var (100 + 1225)/4 = 331.25,
    # se 18.2003, ±35.6720 → [59.3280, 130.6720] → [59.32, 100.00].
    c = stats_from_counts({"satisfied": 1}, POINTS)
    with_one = mean_of_means(pooled, [a, c], POINTS)
    assert (with_one.score, with_one.ci_low, with_one.ci_high) == (D("95.00"), D("59.32"), D("100.00"))
    # A region of two such departments: (70.00 + 95.00)/2 = 82.50, var (50 + 331.25)/4 = 95.3125,
    # se 9.7628, ±19.1348 → [63.3652, 101.6348] → [63.36, 100.00].
    region = mean_of_means(pooled, [department, with_one], POINTS)
    assert (region.score, region.ci_low, region.ci_high) == (D("82.50"), D("63.36"), D("100.00"))
    # Subjects without a score are left out; none at all: no score, no interval.
    none = stats_from_counts({"unknown": 2}, POINTS)
    assert mean_of_means(pooled, [a, none, b], POINTS).score == D("70.00")
    assert mean_of_means(none, [none], POINTS).score is None


def test_the_interval_holds_the_printed_score_even_without_spread():
    # Two means 76.67 and 76.66 with no spread: exact 153.33/2 = 76.665 → printed 76.67 (half up);
    # the interval rounds outwards: [76.66, 76.67], which holds it.
    parts = [Stats({}, 10, 0, D("76.67"), D("76.67"), D("76.67"), Fraction(0)),
             Stats({}, 10, 0, D("76.66"), D("76.66"), D("76.66"), Fraction(0))]
    mean = mean_of_means(Stats({}, 20, 0, None, None, None), parts, POINTS)
    assert (mean.score, mean.ci_low, mean.ci_high) == (D("76.67"), D("76.66"), D("76.67"))


@pytest.mark.parametrize("low, high, uncertain", [
    ("79.99", "85.00", True),  # reaches 合格
    ("80.00", "89.99", False),  # within 良好: a band includes its floor
    ("80.00", "90.00", True),  # reaches 优秀
    ("59.99", "60.00", True),
    ("90.00", "100.00", False),
    ("30.00", "59.99", False),
])
def test_uncertain_at_band_edges(low, high, uncertain):
    stats = Stats({}, 30, 0, D(low), D(low), D(high))
    assert is_uncertain(stats) is uncertain
