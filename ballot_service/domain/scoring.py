"""Scores, grades, ranks and intervals (architecture section 2), over plain numbers.

All arithmetic on scores is exact: a mean of integer points is rounded half-up to two
decimals with integer arithmetic, never through binary floats.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

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
    """One subject's ratings summarised: counts per level and what follows from them.

    `score` is the statistic printed (a mean of ratings, or a mean of means) and `ci_low`,
    `ci_high` are the 95% interval of that same statistic; `variance` is the estimated variance
    of its exact value, which a mean over such subjects combines (`mean_of_means`)."""

    counts: dict[str, int]  # every level, 不了解情况 included
    scored: int
    unknown: int
    score: Decimal | None
    ci_low: Decimal | None
    ci_high: Decimal | None
    variance: Fraction | None = None


def max_rating_variance(points: Mapping[str, int | None]) -> Fraction:
    """The largest variance a rating on this points range can have: (high − low)² / 4, all the
    weight on the two ends (Popoviciu). 30–100: 70²/4 = 1225, a standard deviation of 35."""
    low, high = _points_range(points)
    return Fraction((high - low) ** 2, 4)


def stats_from_counts(counts: Mapping[str, int], points: Mapping[str, int | None]) -> Stats:
    """Score = mean points of scored ratings (不了解情况 excluded but counted), half-up to 2 dp,
    with a normal-approximation 95% interval for that mean (`interval`).

    The variance of the mean is s²/n with s² the sample variance of the n scored ratings. With
    one scored rating s² is undefined; the largest variance a rating can have on the points range
    stands in for it (`max_rating_variance`: 1225 for 30–100), so one rating of 100 gives
    100 − 1.959964·35 = 31.40 to 100 — never narrower than the data allow."""
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
    if n == 1:
        variance = max_rating_variance(points)
    else:
        variance = Fraction(n * squares - total * total, n * n * (n - 1))  # s²/n, exact
    low, high = interval(Fraction(total, n), variance, points)
    return Stats(full, n, unknown, half_up(total, n), low, high, variance)


def mean_of_means(pooled: Stats, parts: Iterable[Stats], points: Mapping[str, int | None]) -> Stats:
    """A score that is the mean of other subjects' two-decimal scores (a department's of its
    people's, a region's of its departments'), with the interval of that mean of means.

    `pooled` gives the counts (every rating of the subject, as shown beside the score); `parts`
    the subjects averaged, those without a score left out. The score is `mean_score` of their
    scores, exact and half-up as before. Treating the m parts as independent, the variance of
    the mean is (1/m²)·Σ var_i, with var_i each part's own `variance` (s_i²/n_i for a mean of
    n_i ratings, the largest possible variance of a rating over n_i = 1 when n_i is 1 — see
    `stats_from_counts` — and, for a part that is itself a mean of means, its variance as worked
    here). The interval is centred on the exact mean of the parts' scores (`interval`)."""
    scored = [p for p in parts if p.score is not None]
    if not scored:
        return Stats(pooled.counts, pooled.scored, pooled.unknown, None, None, None)
    m = len(scored)
    hundredths = sum(int(p.score.scaleb(2)) for p in scored)
    variance = sum((p.variance for p in scored), Fraction(0)) / (m * m)
    low, high = interval(Fraction(hundredths, 100 * m), variance, points)
    return Stats(pooled.counts, pooled.scored, pooled.unknown, half_up(hundredths, 100 * m), low, high, variance)


_CENT = Decimal("0.01")
_Z95 = Decimal(str(Z95))


def interval(mean: Fraction, variance: Fraction, points: Mapping[str, int | None]) -> tuple[Decimal, Decimal]:
    """mean ± 1.959964·√variance, clipped to the points range, its ends rounded outwards to
    2 dp (low down, high up), so that the interval always holds the score printed (the mean
    rounded half-up): with no spread it is that score's two neighbouring hundredths or the
    score itself. Decimal arithmetic at 40 digits: the same on every machine."""
    with localcontext() as ctx:
        ctx.prec = 40
        centre = Decimal(mean.numerator) / Decimal(mean.denominator)
        half_width = _Z95 * (Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt()
        lowest, highest = (Decimal(p) for p in _points_range(points))
        low = max(lowest, centre - half_width).quantize(_CENT, rounding=ROUND_FLOOR)
        high = min(highest, centre + half_width).quantize(_CENT, rounding=ROUND_CEILING)
    score = half_up(mean.numerator, mean.denominator)
    return min(low, score), max(high, score)


def _points_range(points: Mapping[str, int | None]) -> tuple[int, int]:
    scored_points = [p for p in points.values() if p is not None]
    return min(scored_points), max(scored_points)


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
    """The 95% interval of the printed score reaches into another grade band: its two ends,
    as printed (2 dp), fall in different bands. A band includes its floor, so [79.99, 85.00]
    crosses 80 and is uncertain, [80.00, 89.99] lies within 良好 and is not."""
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
