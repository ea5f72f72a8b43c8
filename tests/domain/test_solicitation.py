"""The solicitation rules (domain.solicitation) with every number worked by hand."""

import datetime as dt

import pytest

from ballot_service.domain.solicitation import (
    BURST,
    OfficeBallots,
    bucket_of,
    bucket_start,
    burst,
    china_day,
    is_eligible,
    is_uniform,
    kept,
    office_tag,
    typical_bucket,
    uniform_flags,
    z_score,
)

SCORED = {"satisfied", "fairly_satisfied", "basically_satisfied", "dissatisfied"}
B = bucket_of(dt.datetime(2026, 12, 2, 2, 0))  # 10:00 China time on 2 December


def test_the_bucket_of_a_moment_is_its_ten_minutes():
    # 2026-12-02 is day 56 × 365 + 14 leap days + 335 = 20,789 after 1970-01-01; at 02:00 UTC that is
    # 20,789 × 86,400 + 7,200 = 1,796,176,800 s: bucket 2,993,628 exactly.
    assert B == 1_796_176_800 // 600 == 2_993_628
    assert bucket_of(dt.datetime(2026, 12, 2, 2, 9, 59)) == B
    assert bucket_of(dt.datetime(2026, 12, 2, 2, 10)) == B + 1
    assert bucket_start(B + 1) == dt.datetime(2026, 12, 2, 2, 10)
    # 15:50 UTC is 23:50 in China, 16:00 UTC is already the next day there.
    assert china_day(bucket_of(dt.datetime(2026, 12, 2, 15, 50))) == "2026-12-02"
    assert china_day(bucket_of(dt.datetime(2026, 12, 2, 16, 0))) == "2026-12-03"


def test_office_tags_are_keyed_and_stable():
    assert office_tag(b"k" * 32, 7) == office_tag(b"k" * 32, 7)
    assert office_tag(b"k" * 32, 7) != office_tag(b"k" * 32, 8) != office_tag(b"j" * 32, 8)
    assert len(office_tag(b"k" * 32, 7)) == 16


def test_forty_ballots_in_twenty_minutes_at_an_office_without_other_traffic_is_a_burst():
    # Evenly from 10:05 to 10:25: 10 in 10:00–10:10, 20 in 10:10–10:20, 10 in 10:20–10:30.
    counts = {B: 10, B + 1: 20, B + 2: 10}
    # No bucket more than an hour away: the typical bucket is 1; 20 ≥ 12 and 20 ≥ 5 × 1.
    assert typical_bucket(counts, B + 1) == 1
    assert burst(counts) == {"peak": 20, "bucket": B + 1, "day": "2026-12-02", "typical": 1, "burst_buckets": 1,
                             "ballots": 40, "buckets": 3, "rule_min_ballots": 12, "rule_ratio": 5}
    # The worst split, 13 + 14 + 13: 14 ≥ 12 still.
    assert burst({B: 13, B + 1: 14, B + 2: 13})["peak"] == 14
    # Its day, not its bucket, is kept after the round.
    assert "bucket" not in kept(burst(counts)) and kept(burst(counts))["day"] == "2026-12-02"


def test_the_burst_stands_out_against_the_offices_own_earlier_days():
    # One ballot every two hours for two days (24 buckets of 1), then 20 + 20 on day three.
    history = {B - 144 - 12 * i: 1 for i in range(24)}
    counts = {**history, B: 20, B + 1: 20}
    # For bucket B: the 24 ones are far from it; B + 1 is within the hour and left out. Median 1.
    assert typical_bucket(counts, B) == 1
    figures = burst(counts)
    assert (figures["peak"], figures["bucket"], figures["burst_buckets"], figures["ballots"]) == (20, B, 2, 64)


def test_a_steady_office_and_a_busy_steady_office_are_not_bursts():
    # The same 40 ballots over four days, never more than 2 in a bucket: below 12.
    steady = {B + 15 * i: 1 + i % 2 for i in range(27)}
    assert sum(steady.values()) == 40 and burst(steady) is None
    # Busy all day: 6, 8 and 10 in turn, with one bucket of 14. Its typical bucket is the median
    # of the others more than an hour away, 8: 14 < 5 × 8 = 40.
    busy = {B + i: (6, 8, 10)[i % 3] for i in range(60)}
    busy[B + 30] = 14
    assert typical_bucket(busy, B + 30) == 8
    assert burst(busy) is None
    # 11 in one bucket of a quiet office is below the minimum of 12.
    assert burst({B: 11, B + 100: 1}) is None


def test_a_bucket_must_be_five_times_the_typical_one():
    # Others (far away) 2, 3, 3: median 3. 15 = 5 × 3 is a burst; 14 is not.
    others = {B + 100: 2, B + 200: 3, B + 300: 3}
    assert burst({B: 15, **others})["typical"] == 3
    assert burst({B: 14, **others}) is None
    # Median of an even number of buckets: 2 and 3 → 2.5; 12 < 12.5 is not a burst, 13 is.
    assert burst({B: 12, B + 100: 2, B + 200: 3}) is None
    assert burst({B: 13, B + 100: 2, B + 200: 3})["typical"] == 2.5


def test_the_fullest_burst_is_reported_the_earliest_of_equals():
    counts = {B: 20, B + 50: 30, B + 100: 30}
    # Each bucket's others are the two more than an hour away: B's median (30+30)/2 = 30 → 20 is
    # not 5×; B + 50's median (20+30)/2 = 25 → 30 < 125 not either. None is a burst.
    assert burst(counts) is None
    counts = {B: 30, B + 50: 30, B + 100: 1, B + 150: 1, B + 200: 1}
    # B: others 30, 1, 1, 1 → median 1; B + 50 likewise. Both bursts of 30; the earlier is reported.
    figures = burst(counts)
    assert (figures["peak"], figures["bucket"], figures["burst_buckets"]) == (30, B, 2)
    assert BURST.apart == 6


@pytest.mark.parametrize(("levels", "eligible", "uniform"), [
    (["satisfied"], False, False),  # a one-person ballot is never uniform
    (["satisfied", "unknown", "unknown"], False, False),  # one scored rating
    (["unknown", "unknown"], False, False),
    (["satisfied", "satisfied"], True, True),
    (["satisfied", "satisfied", "unknown"], True, True),  # 不了解情况 counts neither way
    (["dissatisfied", "dissatisfied", "dissatisfied"], True, True),
    (["satisfied", "fairly_satisfied", "satisfied"], True, False),
])
def test_a_uniform_ballot_rates_two_people_or_more_all_alike(levels, eligible, uniform):
    assert is_eligible(levels, SCORED) is eligible
    assert is_uniform(levels, SCORED) is uniform


def test_the_z_score_by_hand():
    # 40 of 40 against 12 of 40: pooled 52/80 = 0.65; variance 0.65 × 0.35 × (1/40 + 1/40) = 0.011375;
    # se 0.106654; z = (1 − 0.3) / 0.106654 = 6.563.
    assert z_score(40, 40, 12, 40) == pytest.approx(6.5633, abs=1e-4)
    # 24 of 30 against 30 of 60: pooled 0.6; 0.24 × (1/30 + 1/60) = 0.012; z = 0.3 / 0.109545 = 2.739.
    assert z_score(24, 30, 30, 60) == pytest.approx(2.7386, abs=1e-4)
    assert z_score(20, 20, 20, 20) == 0.0  # every ballot uniform on both sides


def test_the_solicited_office_is_flagged_against_its_department_and_the_normal_one_not():
    offices = {1: OfficeBallots(10, 40, 40), 2: OfficeBallots(10, 40, 12)}
    flags = uniform_flags(offices)
    assert list(flags) == [1]  # office 2 (30%) is below its norm (office 1, 100%): one-sided
    assert flags[1] == {"eligible": 40, "uniform": 40, "share": 1.0, "norm": 0.3, "norm_eligible": 40,
                        "norm_uniform": 12, "norm_of": "department", "z": 6.56,
                        "rule_min_ballots": 20, "rule_min_z": 3.0, "rule_min_gap": 0.2}


def test_the_z_score_and_the_gap_both_have_to_hold():
    # 0.8 against 0.5, gap 0.3, but z 2.74 < 3 (30 and 60 ballots): not flagged.
    assert uniform_flags({1: OfficeBallots(10, 30, 24), 2: OfficeBallots(10, 60, 30)}) == {}
    # The same shares on 50 and 100 ballots: pooled 90/150 = 0.6; 0.24 × (1/50 + 1/100) = 0.0072;
    # z = 0.3 / 0.084853 = 3.54: flagged.
    assert uniform_flags({1: OfficeBallots(10, 50, 40), 2: OfficeBallots(10, 100, 50)})[1]["z"] == 3.54
    # 0.6 against 0.5 on 1,000 each: z = 0.1 / 0.022249 = 4.49, but a gap of 0.1 < 0.2: not flagged.
    assert z_score(600, 1000, 500, 1000) == pytest.approx(4.4947, abs=1e-4)
    assert uniform_flags({1: OfficeBallots(10, 1000, 600), 2: OfficeBallots(10, 1000, 500)}) == {}
    # A gap of exactly 0.2 is enough: 0.7 against 0.5 on 200 each, pooled 0.6,
    # 0.24 × 0.01 = 0.0024, z = 0.2 / 0.04899 = 4.08.
    assert uniform_flags({1: OfficeBallots(10, 200, 140), 2: OfficeBallots(10, 200, 100)})[1]["z"] == 4.08


def test_too_few_ballots_and_the_rounds_norm_for_a_lone_office():
    # 19 eligible ballots, all uniform: below the minimum of 20.
    assert uniform_flags({1: OfficeBallots(10, 19, 19), 2: OfficeBallots(10, 40, 4)}) == {}
    # Office 1 is its department's only office: its norm is the round's other offices
    # (offices 2 and 3 of department 20: 10 of 40 uniform, 0.25).
    offices = {1: OfficeBallots(10, 40, 40), 2: OfficeBallots(20, 20, 5), 3: OfficeBallots(20, 20, 5)}
    flags = uniform_flags(offices)
    assert list(flags) == [1]
    assert (flags[1]["norm_of"], flags[1]["norm_eligible"], flags[1]["norm_uniform"], flags[1]["norm"]) == (
        "round", 40, 10, 0.25)
    # The department's other offices with 19 eligible ballots are too few: the round's are used.
    offices = {1: OfficeBallots(10, 40, 40), 2: OfficeBallots(10, 19, 5), 3: OfficeBallots(20, 30, 6)}
    assert uniform_flags(offices)[1]["norm_of"] == "round" and uniform_flags(offices)[1]["norm_eligible"] == 49
    # Nothing to compare with at all: no flag.
    assert uniform_flags({1: OfficeBallots(10, 40, 40)}) == {}


def test_normal_random_ballots_are_not_flagged():
    # Five offices of one department, uniform shares 35%–55% on 30–80 ballots: none stands out.
    offices = {1: OfficeBallots(10, 30, 16), 2: OfficeBallots(10, 80, 30), 3: OfficeBallots(10, 45, 20),
               4: OfficeBallots(10, 60, 21), 5: OfficeBallots(10, 50, 27)}
    assert uniform_flags(offices) == {}
