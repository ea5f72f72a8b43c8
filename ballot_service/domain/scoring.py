"""Scores, grades, ranks and intervals (architecture section 2), over plain numbers.

All arithmetic on scores is exact: a mean of integer points is rounded half-up to two
decimals with integer arithmetic, never through binary floats.
"""

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

GRADE_ORDER = ["fail", "average", "pass", "good", "excellent"]  # low to high
GRADE_LABELS = {"excellent": "优秀", "good": "良好", "pass": "合格", "average": "一般", "fail": "不合格"}
NO_GRADE_LABEL = "无有效评价"
DEFAULT_GRADE_BANDS = [[90, "excellent"], [80, "good"], [70, "pass"], [60, "average"]]  # below: fail
Z95 = 1.959964

# What a round snapshots besides the ballot form (domain.ballots.DEFAULT_BALLOT_CONFIG).
DEFAULT_SCORING_CONFIG = {
    "grade_bands": DEFAULT_GRADE_BANDS,
    # "mean_of_people": a department's score is the mean of its people's scores;
    # "ratings_weighted": the mean over all its people's scored ratings.
    "department_aggregation": "mean_of_people",
    "min_sample": 10,  # fewer scored ratings than this: flagged "low sample"
    "comment_threshold": 5,  # k: ballots behind a figure for a department or the public to see it (A3)
}


def half_up(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator rounded half-up to 2 decimals (both non-negative integers)."""
    hundredths = (200 * numerator + denominator) // (2 * denominator)
    return Decimal(hundredths).scaleb(-2)


@dataclass(frozen=True)
class Stats:
    """One subject's ratings summarised: counts per level and what follows from them."""

    counts: dict[str, int]  # every level, 不了解情况 included
    scored: int
    unknown: int
    score: Decimal | None
    ci_low: Decimal | None
    ci_high: Decimal | None


def stats_from_counts(counts: Mapping[str, int], points: Mapping[str, int | None]) -> Stats:
    """Score = mean points of scored ratings (不了解情况 excluded but counted), half-up to 2 dp,
    with a normal-approximation 95% interval for that mean, clipped to the points range."""
    full = {level: int(counts.get(level, 0)) for level in points}
    n = total = squares = unknown = 0
    for level, p in points.items():
        c = full[level]
        if p is None:
            unknown += c
        else:
            n, total, squares = n + c, total + c * p, squares + c * p * p
    if n == 0:
        return Stats(full, 0, unknown, None, None, None)
    score = half_up(total, n)
    scored_points = [p for p in points.values() if p is not None]
    low, high = min(scored_points), max(scored_points)
    if n == 1:
        return Stats(full, n, unknown, score, Decimal(low), Decimal(high))
    mean = total / n
    variance = (n * squares - total * total) / (n * (n - 1))  # sample variance; exact up to this division
    half_width = Z95 * math.sqrt(variance / n)
    return Stats(full, n, unknown, score, _two_dp(max(low, mean - half_width)), _two_dp(min(high, mean + half_width)))


_CENT = Decimal("0.01")


def _two_dp(value: float) -> Decimal:
    return Decimal(value).quantize(_CENT)


def mean_score(scores: Iterable[Decimal]) -> Decimal | None:
    """Mean of two-decimal scores, half-up to 2 dp (a department over its people, a region over
    its departments)."""
    hundredths = [int(s.scaleb(2)) for s in scores]
    if not hundredths:
        return None
    return half_up(sum(hundredths), len(hundredths) * 100)


def grade_for(score: Decimal | None, bands=DEFAULT_GRADE_BANDS) -> str | None:
    """90 ≤ s → 优秀; 80 ≤ s < 90 → 良好; 70 ≤ s < 80 → 合格; 60 ≤ s < 70 → 一般; below → 不合格."""
    if score is None:
        return None
    for floor, grade in sorted(bands, reverse=True):
        if score >= floor:
            return grade
    return "fail"


def grade_steps(previous: str | None, current: str | None) -> int | None:
    """How many grades current lies above (+) or below (−) previous; None if either is missing."""
    if previous is None or current is None:
        return None
    return GRADE_ORDER.index(current) - GRADE_ORDER.index(previous)


def is_uncertain(stats: Stats, bands=DEFAULT_GRADE_BANDS) -> bool:
    """The 95% interval reaches into another grade band."""
    if stats.score is None:
        return False
    return grade_for(stats.ci_low, bands) != grade_for(stats.ci_high, bands)


def competition_ranks(scores: Mapping[Hashable, Decimal | None]) -> dict[Hashable, int]:
    """Highest score first; equal scores share a rank and the next rank skips (1, 2, 2, 4).
    Subjects without a score are not ranked."""
    ordered = sorted((s, key) for key, s in scores.items() if s is not None)
    ordered.reverse()
    ranks, previous, rank = {}, None, 0
    for position, (score, key) in enumerate(ordered, start=1):
        if score != previous:
            rank, previous = position, score
        ranks[key] = rank
    return ranks
