"""Flags for possibly solicited ratings (刷票): turnout bursts and uniform ballots, per office.

Staff asking the businesses at their window to rate them 满意, or a script voting, shows as a
burst of ballots at one office and as ballots that give everyone the same level. Both rules
work on aggregates only: an office's ballots per 10-minute bucket, and at the tally its counts
of eligible and uniform ballots. A flag is a prompt for the coordinator to look, with the
numbers behind it; it never blocks or discounts a ballot.

Burst (BURST): a bucket is a burst when it holds at least `min_ballots` (12) ballots and at
least `ratio` (5) times the office's typical bucket. The typical bucket is the median of the
office's other non-empty buckets more than an hour away from it (so a burst spread over two or
three buckets is not its own baseline), and 1 when there are none (an office with no other
ballots: any non-empty bucket holds at least one).
  Why 12 and 5: 40 ballots in 20 minutes fall into at most three buckets, so one holds at least
  14 (20 when they come evenly); at an office with no other traffic that is flagged. One window
  serves a business in 5 to 15 minutes, so 12 in ten minutes is beyond one desk's pace. A
  steady office, its ballots arriving at random (Poisson) around a typical bucket of μ, reaches
  max(12, 5μ) in a bucket with a probability of at most 1e-5 (worst near μ = 2.4), about one
  false flag in 70 steady offices over a round of 1,600 working buckets; a busy office with a
  steady high rate (say 8 a bucket) would need 40 in one bucket.
  Live, an office in its first hour has no other buckets yet: a flag then says only that it is
  busy (at least 12 in ten minutes), which is worth a look too.

Uniform ballot: one that rates at least two people with a scored level and gives them all the
same level (不了解情况 is not a scored level and does not count either way). A one-person
ballot, or a ballot with one scored rating, is never uniform: it is not eligible.

Uniform share (UNIFORM): an office is flagged when it has at least `min_ballots` (20) eligible
ballots, its share of uniform ones is at least `min_gap` (0.20) above its norm, and the
two-proportion z-score against the norm is at least `min_z` (3.0). The norm is the pooled share
of the department's other offices; when those have fewer than `min_ballots` eligible ballots
(a department of one office), the pooled share of the round's other offices.
  Why: many honest voters give everyone 满意, so the share alone says little; what stands out is
  an office far above offices of its own department, which serve the same businesses under the
  same leaders. The z-score (pooled, one-sided, about 1 in 740 by chance) keeps small offices
  from being flagged on noise, also when the norm itself rests on few ballots; the gap keeps a
  large office from being flagged for a small, statistically clear but harmless difference.
"""

import datetime as dt
import hmac
import math
import statistics
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass

BUCKET_SECONDS = 600
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
_EPOCH = dt.datetime(1970, 1, 1)


def bucket_of(moment: dt.datetime) -> int:
    """The 10-minute bucket of a moment (naive UTC, as stored): whole 10 minutes since 1970."""
    return int((moment - _EPOCH).total_seconds()) // BUCKET_SECONDS


def bucket_start(bucket: int) -> dt.datetime:
    """When the bucket starts (naive UTC)."""
    return _EPOCH + dt.timedelta(seconds=bucket * BUCKET_SECONDS)


def china_day(bucket: int) -> str:
    """The day of the bucket in China time, as an ISO date (2026-12-01)."""
    return bucket_start(bucket).replace(tzinfo=dt.UTC).astimezone(CHINA).date().isoformat()


def office_tag(round_secret: bytes, office_id: int) -> str:
    """An office's name in the round's live counts: a keyed hash under the round's secret, so the
    counts do not say which office a ballot went to without the key store (A1); 16 hex digits."""
    return hmac.digest(round_secret, f"turnout\x1f{office_id}".encode(), "sha256").hex()[:16]


@dataclass(frozen=True)
class BurstRule:
    min_ballots: int = 12
    ratio: float = 5
    apart: int = 6  # buckets either side left out of a bucket's baseline (an hour)


BURST = BurstRule()


def typical_bucket(counts: Mapping[int, int], bucket: int, rule: BurstRule = BURST) -> float:
    """The median of the office's other non-empty buckets more than `rule.apart` buckets away
    from `bucket`; 1 when there are none."""
    others = [n for b, n in counts.items() if n > 0 and abs(b - bucket) > rule.apart]
    return statistics.median(others) if others else 1


def burst(counts: Mapping[int, int], rule: BurstRule = BURST) -> dict | None:
    """The burst figures of one office from its ballots per bucket ({bucket: count}), or None.

    Figures: the peak (the fullest bucket that is a burst, the earliest of equals), its bucket and
    China day, the typical bucket beside it, how many buckets are bursts, the office's ballots and
    non-empty buckets counted, and the rule's numbers."""
    flagged = [(n, b, typical) for b, n in sorted(counts.items())
               if n >= rule.min_ballots and n >= rule.ratio * (typical := typical_bucket(counts, b, rule))]
    if not flagged:
        return None
    peak, bucket, typical = max(flagged, key=lambda f: (f[0], -f[1]))
    return {"peak": peak, "bucket": bucket, "day": china_day(bucket), "typical": typical,
            "burst_buckets": len(flagged), "ballots": sum(counts.values()),
            "buckets": sum(1 for n in counts.values() if n > 0),
            "rule_min_ballots": rule.min_ballots, "rule_ratio": rule.ratio}


def kept(figures: dict) -> dict:
    """A burst's figures as kept after the round: the day, not the bucket (A1 keeps no time of a
    ballot finer than the day)."""
    return {k: v for k, v in figures.items() if k != "bucket"}


def scored_ratings(levels: Iterable[str], scored: Collection[str]) -> list[str]:
    return [level for level in levels if level in scored]


def is_eligible(levels: Iterable[str], scored: Collection[str]) -> bool:
    """Whether a ballot (its ratings' levels) can be uniform: two scored ratings or more."""
    return len(scored_ratings(levels, scored)) >= 2


def is_uniform(levels: Iterable[str], scored: Collection[str]) -> bool:
    """An eligible ballot whose scored ratings all have one level."""
    levels = scored_ratings(levels, scored)
    return len(levels) >= 2 and len(set(levels)) == 1


@dataclass(frozen=True)
class UniformRule:
    min_ballots: int = 20
    min_z: float = 3.0
    min_gap: float = 0.20


UNIFORM = UniformRule()


@dataclass(frozen=True)
class OfficeBallots:
    """An office's eligible ballots and how many of them are uniform, in one round."""

    department_id: int
    eligible: int
    uniform: int


def z_score(uniform: int, eligible: int, norm_uniform: int, norm_eligible: int) -> float:
    """The two-proportion z-score of the office's uniform share over the norm's (pooled variance);
    0 when every ballot of both, or none, is uniform (the shares are then equal)."""
    pooled = (uniform + norm_uniform) / (eligible + norm_eligible)
    se = math.sqrt(pooled * (1 - pooled) * (1 / eligible + 1 / norm_eligible))
    gap = uniform / eligible - norm_uniform / norm_eligible
    return gap / se if se else 0.0


def uniform_flags(offices: Mapping[int, OfficeBallots], rule: UniformRule = UNIFORM) -> dict[int, dict]:
    """{office id: figures} of the offices whose uniform share stands out from their norm.

    Figures: eligible and uniform ballots and their share, the norm's (its ballots, uniform ones,
    share, and whether it is the department's other offices or, failing enough ballots there, the
    round's), the z-score, and the rule's numbers. Shares and z rounded to 4 and 2 places."""
    by_department: dict[int, list[int]] = {}
    for office_id, o in offices.items():
        by_department.setdefault(o.department_id, []).append(office_id)
    round_eligible = sum(o.eligible for o in offices.values())
    round_uniform = sum(o.uniform for o in offices.values())
    flags = {}
    for office_id, o in sorted(offices.items()):
        if o.eligible < rule.min_ballots:
            continue
        others = [offices[i] for i in by_department[o.department_id] if i != office_id]
        norm_of, norm_eligible, norm_uniform = "department", sum(x.eligible for x in others), sum(
            x.uniform for x in others)
        if norm_eligible < rule.min_ballots:
            norm_of, norm_eligible, norm_uniform = "round", round_eligible - o.eligible, round_uniform - o.uniform
        if norm_eligible < rule.min_ballots:
            continue
        share, norm = o.uniform / o.eligible, norm_uniform / norm_eligible
        z = z_score(o.uniform, o.eligible, norm_uniform, norm_eligible)
        if share - norm >= rule.min_gap - 1e-9 and z >= rule.min_z:
            flags[office_id] = {"eligible": o.eligible, "uniform": o.uniform, "share": round(share, 4),
                                "norm": round(norm, 4), "norm_eligible": norm_eligible, "norm_uniform": norm_uniform,
                                "norm_of": norm_of, "z": round(z, 2),
                                **{f"rule_{k}": v for k, v in asdict(rule).items()}}
    return flags
