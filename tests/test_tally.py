"""Tally of whole rounds, with every expected number worked by hand from architecture section 2.

Department A (市甲局): office X — main leader M, leader-in-charge L (oversees X and Y), head H1,
staff S1; office Y — head H2. Department B (市乙局): office Z — staff P.

Round 1 ballots (— = 不了解情况):
  X: b1 M 100, L 80, H1 100, S1 30 (故意刁难) · b2 M 100, L —, H1 60, S1 60 · b3 M 80, L 100, H1 100, S1 —
  Y: b4 M 30, L 100, H2 80 · b5 M —, L 60, H2 100
  Z: b6 P 100 · b7 P 100
People: M (100+100+80+30)/4 = 77.50 合格; L (80+100+100+60)/4 = 85.00 良好; H1 260/3 = 86.67 良好;
  S1 90/2 = 45.00 不合格; H2 180/2 = 90.00 优秀; P 100.00 优秀.
Offices: X 810/10 = 81.00 良好; Y 370/5 = 74.00 合格; Z 100.00 优秀.
Departments (mean of people): A (77.50+85.00+86.67+45.00+90.00)/5 = 384.17/5 = 76.834 → 76.83 合格;
  B 100.00 优秀. Ratings-weighted A: 1180/15 = 78.666… → 78.67.
Region: (76.83 + 100.00)/2 = 88.415 → 88.42 良好.
"""

import datetime as dt
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from ballot_service.domain.ballots import Rating
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import ConsequenceRecord, LedgerEntry, Person, Result, Round
from ballot_service.services import admin_rounds, keys, rounds
from ballot_service.services.tally import tally_round
from tests import ballot_helpers
from tests import factories as f
from tests.ballot_helpers import publish

T0 = dt.datetime(2025, 3, 1)


@pytest.fixture
def city(database):
    region = f.region(code="heze", name="菏泽市", kind="city")
    a = f.department(region=region, name="市甲局")
    b = f.department(region=region, name="市乙局", is_stationed=True, superior_authority="省乙厅")
    x, y, z = f.office(a, name="X科"), f.office(a, name="Y科"), f.office(b, name="Z科")
    people = {
        "M": f.person(a, Role.MAIN_LEADER),
        "L": f.person(a, Role.LEADER_IN_CHARGE, overseen_offices=[x, y]),
        "H1": f.person(a, Role.OFFICE_HEAD, office=x),
        "S1": f.person(a, Role.STAFF, office=x),
        "H2": f.person(a, Role.OFFICE_HEAD, office=y),
        "P": f.person(b, Role.STAFF, office=z),
    }
    db.session.commit()
    ids = {k: v.id for k, v in people.items()}
    return {"region": region.code, "A": a.id, "B": b.id, "X": x.id, "Y": y.id, "Z": z.id, **ids}


def new_round(city, n: int) -> int:
    opens = T0 + dt.timedelta(days=180 * n)
    round_ = rounds.create_round(f"第{n}轮", city["region"], opens, opens + dt.timedelta(days=30))
    rounds.open_round(round_.id, now=opens)
    db.session.commit()
    return round_.id


def cast(round_id: int, office_id: int, levels: dict[int, str], tags: dict[int, tuple] | None = None) -> None:
    ratings = [Rating(pid, level, (tags or {}).get(pid, ()), None) for pid, level in levels.items()]
    ballot_helpers.cast(round_id, office_id, ratings)


def close_and_tally(round_id: int) -> str:
    rounds.close_round(round_id)
    return tally_round(round_id)


def results(round_id: int) -> dict[tuple[str, int], Result]:
    return {(r.subject_kind, r.subject_id): r for r in db.session.scalars(select(Result).where(
        Result.round_id == round_id))}


def first_round(c) -> int:
    r = new_round(c, 1)
    M, L, H1, S1, H2, P = (c[k] for k in ("M", "L", "H1", "S1", "H2", "P"))
    cast(r, c["X"], {M: "satisfied", L: "fairly_satisfied", H1: "satisfied", S1: "dissatisfied"},
         {S1: ("obstruction",)})
    cast(r, c["X"], {M: "satisfied", L: "unknown", H1: "basically_satisfied", S1: "basically_satisfied"})
    cast(r, c["X"], {M: "fairly_satisfied", L: "satisfied", H1: "satisfied", S1: "unknown"})
    cast(r, c["Y"], {M: "dissatisfied", L: "satisfied", H2: "fairly_satisfied"})
    cast(r, c["Y"], {M: "unknown", L: "basically_satisfied", H2: "satisfied"})
    cast(r, c["Z"], {P: "satisfied"})
    cast(r, c["Z"], {P: "satisfied"})
    return r


def test_first_round_scores_grades_ranks_by_hand(city):
    c = city
    r = first_round(c)
    digest = close_and_tally(r)
    res = results(r)
    person = {k: res[("person", c[k])] for k in ("M", "L", "H1", "S1", "H2", "P")}
    assert {k: (v.score, v.grade) for k, v in person.items()} == {
        "M": (D("77.50"), "pass"), "L": (D("85.00"), "good"), "H1": (D("86.67"), "good"),
        "S1": (D("45.00"), "fail"), "H2": (D("90.00"), "excellent"), "P": (D("100.00"), "excellent"),
    }
    # 不了解情况 is excluded from the score but counted.
    assert (person["M"].scored, person["M"].unknown) == (4, 1)
    assert person["S1"].counts == {"basically_satisfied": 1, "dissatisfied": 1, "fairly_satisfied": 0,
                                   "satisfied": 0, "unknown": 1}
    assert person["S1"].tags == {"obstruction": 1}
    # Everyone has fewer than 10 scored ratings (min_sample): low sample, shown apart, unranked.
    assert all(v.low_sample and v.rank is None for v in person.values())
    assert (res[("office", c["X"])].score, res[("office", c["X"])].grade) == (D("81.00"), "good")
    assert (res[("office", c["Y"])].score, res[("office", c["Y"])].grade) == (D("74.00"), "pass")
    a, b = res[("department", c["A"])], res[("department", c["B"])]
    # A has 15 scored ratings and ranks first; B, with 2 (below min_sample 10), is graded but unranked.
    assert (a.score, a.grade, a.rank, a.scored, a.unknown, a.low_sample) == (D("76.83"), "pass", 1, 15, 3, False)
    assert (b.score, b.grade, b.rank, b.low_sample) == (D("100.00"), "excellent", None, True)
    region = next(v for (kind, _), v in res.items() if kind == "region")
    assert (region.score, region.grade) == (D("88.42"), "good")
    assert person["M"].uncertain  # 77.50 with ratings from 30 to 100: the interval spans bands
    # Intervals of the statistic printed (z = 1.959964). Variance of each person's mean, s²/n:
    #   M 100,100,80,30: mean 77.5, squared deviations 506.25+506.25+6.25+2256.25 = 3275, s² = 3275/3,
    #     var = 3275/12 = 272.917; ±1.959964·16.520 = ±32.38 → [45.12, 109.88] → [45.12, 100.00]
    #   L 80,100,100,60: 25+225+225+625 = 1100, var = 1100/12 = 91.667
    #   H1 100,60,100: 177.78+711.11+177.78 = 1066.67, var = 1066.67/2/3 = 177.778
    #   S1 30,60: 225+225 = 450, var = 450/2 = 225 · H2 80,100: 200, var = 100
    # A = mean of 5 means: var = (272.917+91.667+177.778+225+100)/25 = 867.361/25 = 34.694, se 5.8902,
    #   ±11.5446 around the exact 384.17/5 = 76.834 → [65.2894, 88.3786], rounded outwards [65.28, 88.38].
    assert (person["M"].ci_low, person["M"].ci_high) == (D("45.12"), D("100.00"))
    assert (a.ci_low, a.ci_high, a.uncertain) == (D("65.28"), D("88.38"), True)  # 一般 to 良好
    # B: P's two 100s, no spread: var 0, [100.00, 100.00].
    assert (b.ci_low, b.ci_high, b.uncertain) == (D("100.00"), D("100.00"), False)
    # The region = mean of A and B: var = (34.694 + 0)/4 = 8.6736, se 2.9451, ±5.7723 around 88.415
    #   → [82.6427, 94.1873] → [82.64, 94.19]: crosses 90, uncertain.
    assert (region.ci_low, region.ci_high, region.uncertain) == (D("82.64"), D("94.19"), True)
    for v in res.values():  # every interval holds its score
        assert v.score is None or v.ci_low <= v.score <= v.ci_high

    found = db.session.execute(select(ConsequenceRecord.kind, ConsequenceRecord.subject_kind,
                                      ConsequenceRecord.subject_id, ConsequenceRecord.people,
                                      ConsequenceRecord.authority)).all()
    assert sorted(found) == sorted([
        ("priority_excellent", "office", c["Z"], [c["P"]], None),
        ("priority_excellent", "department", c["B"], [c["P"]], None),
        ("superior_notice", "department", c["B"], [], "省乙厅"),  # B is stationed by 省乙厅
        ("review_reference", "person", c["S1"], [c["S1"]], None),  # S1's own 45.00 不合格
    ])
    round_ = db.session.get(Round, r)
    assert round_.status == "tallied" and round_.unsealed and round_.digest == digest
    with pytest.raises(keys.KeyMissing):  # A2: the round's key files are gone
        keys.round_secret(round_.key_id)
    assert tally_round(r) == digest  # re-tally: identical results


def set_config(round_id: int, **changes) -> None:
    round_ = db.session.get(Round, round_id)
    round_.config = {**round_.config, **changes}
    db.session.commit()


def test_ranks_by_hand_when_everyone_has_the_minimum_sample(city):
    c = city
    r = first_round(c)
    set_config(r, min_sample=2)  # everyone has at least 2 scored ratings: all ranked
    close_and_tally(r)
    res = results(r)
    # Ranks within department A: H2 90, H1 86.67, L 85, M 77.5, S1 45.
    assert [res[("person", c[k])].rank for k in ("H2", "H1", "L", "M", "S1")] == [1, 2, 3, 4, 5]
    assert res[("person", c["P"])].rank == 1  # alone in B
    # Departments: B 100.00 first, A 76.83 second.
    assert (res[("department", c["B"])].rank, res[("department", c["A"])].rank) == (1, 2)


def test_ratings_weighted_department_score(city):
    r = first_round(city)
    set_config(r, department_aggregation="ratings_weighted")
    close_and_tally(r)
    a = results(r)[("department", city["A"])]
    assert a.score == D("78.67")
    # The pooled interval: A's 15 scored ratings are 7×100, 3×80, 3×60, 2×30 = 1180, squares
    # 70000+19200+10800+1800 = 101800; s² = (15·101800 − 1180²)/(15·14) = (1527000 − 1392400)/210
    # = 640.952; var = s²/15 = 42.730, se 6.5368, ±12.8119 around 78.6667 → [65.8548, 91.4786]
    # → [65.85, 91.48].
    assert (a.ci_low, a.ci_high) == (D("65.85"), D("91.48"))


def test_a_department_below_the_minimum_sample_is_unranked_and_the_others_rank_among_themselves(database):
    region = f.region(code="heze", name="菏泽市", kind="city")
    depts = [f.department(region=region, name=name) for name in ("市一局", "市二局", "市三局")]
    offices = [f.office(d, name="窗口") for d in depts]
    staff = [f.person(d, Role.STAFF, office=o) for d, o in zip(depts, offices, strict=True)]
    db.session.commit()
    c = {"region": region.code}
    r = new_round(c, 1)
    # 市一局 10 × 满意 = 100.00; 市二局 5 × 满意 + 5 × 比较满意 = 900/10 = 90.00;
    # 市三局 one 满意 = 100.00, but 1 scored rating < 10: low sample.
    for level in ["satisfied"] * 10:
        cast(r, offices[0].id, {staff[0].id: level})
    for level in ["satisfied"] * 5 + ["fairly_satisfied"] * 5:
        cast(r, offices[1].id, {staff[1].id: level})
    cast(r, offices[2].id, {staff[2].id: "satisfied"})
    digest = close_and_tally(r)
    res = results(r)
    one, two, three = (res[("department", d.id)] for d in depts)
    assert (one.score, one.rank, one.low_sample) == (D("100.00"), 1, False)
    assert (two.score, two.rank, two.low_sample) == (D("90.00"), 2, False)
    assert (three.score, three.grade, three.rank, three.low_sample) == (D("100.00"), "excellent", None, True)
    # Its consequences follow its grade as before, flagged for the coordinator's review.
    [priority] = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.kind == "priority_excellent", ConsequenceRecord.subject_kind == "department",
        ConsequenceRecord.subject_id == depts[2].id)).all()
    assert priority.low_sample
    # The office and person of 市三局 are unranked too; 市二局's are ranked 1 in their department.
    assert res[("office", offices[2].id)].rank is None and res[("person", staff[2].id)].rank is None
    assert res[("office", offices[1].id)].rank == 1 and res[("person", staff[1].id)].rank == 1
    # The one rating's variance is the largest a rating can have on 30–100: 70²/4 = 1225, sd 35,
    # ±1.959964·35 = ±68.60 → [31.40, 168.60] → [31.40, 100.00].
    assert (three.ci_low, three.ci_high) == (D("31.40"), D("100.00"))
    assert tally_round(r) == digest  # re-tally: the same ranks, the same digest


def test_a_transfer_after_opening_does_not_move_scores(city):
    c = city
    r = first_round(c)
    h2 = db.session.get(Person, c["H2"])
    h2.department_id, h2.office_id = c["B"], c["Z"]  # moved to department B after the round opened
    db.session.commit()
    close_and_tally(r)
    res = results(r)
    assert res[("person", c["H2"])].department_id == c["A"]
    assert res[("department", c["A"])].score == D("76.83")
    assert res[("department", c["B"])].score == D("100.00")


def everyone(c, level):
    return {c[k]: level for k in ("M", "L", "H1", "S1")}


def test_falls_yellow_cards_and_consecutive_fails_across_rounds(city):
    c = city
    close_and_tally(first_round(c))
    # Round 2: department A all 不满意 → 30.00 不合格 (from 合格: down 2); B all 基本满意 → 60.00 一般 (from 优秀: down 3).
    r2 = new_round(c, 2)
    cast(r2, c["X"], everyone(c, "dissatisfied"))
    cast(r2, c["Y"], {c["M"]: "dissatisfied", c["L"]: "dissatisfied", c["H2"]: "dissatisfied"})
    cast(r2, c["Z"], {c["P"]: "basically_satisfied"})
    close_and_tally(r2)
    res = results(r2)
    a, b = res[("department", c["A"])], res[("department", c["B"])]
    assert (a.score, a.grade, a.previous_grade, a.steps) == (D("30.00"), "fail", "pass", -2)
    assert (b.score, b.grade, b.previous_grade, b.steps) == (D("60.00"), "average", "excellent", -3)
    kinds = {(k, s, i) for k, s, i in db.session.execute(select(
        ConsequenceRecord.kind, ConsequenceRecord.subject_kind, ConsequenceRecord.subject_id).where(
        ConsequenceRecord.round_id == r2))}
    assert ("review_reference", "department", c["A"]) in kinds
    assert ("escalation", "department", c["A"]) not in kinds  # the previous round was not a fail
    assert {("yellow_card", "department", c["B"]), ("review_reference", "department", c["B"])} <= kinds
    # People by their own grades: everyone in A 30.00 不合格 (M from 合格, L, H1 from 良好, S1 again 不合格,
    # H2 from 优秀); P 60.00 一般, down 3 from 优秀: a yellow card and a review reference.
    people = {c[k] for k in ("M", "L", "H1", "S1", "H2", "P")}
    assert {i for k, s, i in kinds if (k, s) == ("review_reference", "person")} == people
    assert {i for k, s, i in kinds if (k, s) == ("yellow_card", "person")} == {c["P"]}
    assert not {i for k, s, i in kinds if s == "person" and k not in ("review_reference", "yellow_card")}
    # The ledger is written at publication, of the cards the review kept. B's yellow card (the
    # department and P, 10 points each; B has no leader-in-charge) is struck; office Z's card and P's
    # own remain: P, twice.
    def ledger():
        return sorted(db.session.execute(select(LedgerEntry.recipient_kind, LedgerEntry.recipient_id,
                                                LedgerEntry.points).where(LedgerEntry.round_id == r2)).all())

    assert ledger() == []
    [b_card] = db.session.scalars(select(ConsequenceRecord.id).where(
        ConsequenceRecord.round_id == r2, ConsequenceRecord.kind == "yellow_card",
        ConsequenceRecord.subject_kind == "department")).all()
    admin_rounds.decide_consequence(r2, b_card, "struck", "经复核，本轮样本仅一票")
    publish(r2)
    assert ledger() == [("person", c["P"], -10)] * 2

    # Round 3: department A fails again → escalation to its leader-in-charge L.
    r3 = new_round(c, 3)
    cast(r3, c["X"], everyone(c, "dissatisfied"))
    close_and_tally(r3)
    [escalation] = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == r3, ConsequenceRecord.kind == "escalation",
        ConsequenceRecord.subject_kind == "department")).all()
    assert escalation.people == [c["L"]] and escalation.actions == ["诫勉谈话", "通报批评", "岗位调整"]
    # A rise: B from 一般 (round 2; round 3 had no ballots for B) to 优秀: 一般→合格→良好→优秀 = +3.
    r4 = new_round(c, 4)
    cast(r4, c["Z"], {c["P"]: "satisfied"})
    close_and_tally(r4)
    b4 = results(r4)[("department", c["B"])]
    assert (b4.previous_grade, b4.steps) == ("average", 3)
    assert db.session.scalar(select(ConsequenceRecord.id).where(
        ConsequenceRecord.round_id == r4, ConsequenceRecord.kind == "priority_excellent",
        ConsequenceRecord.subject_kind == "department", ConsequenceRecord.subject_id == c["B"])) is not None


def test_no_scored_rating_means_no_grade_and_no_rank(city):
    c = city
    r = new_round(c, 1)
    cast(r, c["Z"], {c["P"]: "unknown"})
    close_and_tally(r)
    p = results(r)[("person", c["P"])]
    assert (p.score, p.grade, p.rank, p.scored, p.unknown) == (None, None, None, 0, 1)


def test_a_tally_killed_half_way_leaves_the_round_closed_and_a_retry_matches_a_clean_run(city):
    c = city
    r = first_round(c)
    rounds.close_round(r)

    def die_while_writing(step):
        if step == "consequences":
            raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        tally_round(r, die_while_writing)
    db.session.rollback()
    assert db.session.get(Round, r).status == "closed"
    assert db.session.scalar(select(Result.id).where(Result.round_id == r)) is None
    retried = tally_round(r)
    assert tally_round(r) == retried


def test_a_tally_empties_its_own_round_from_the_box_and_no_other(city):
    """Round 2 takes ballots while round 1 is tallied: round 1's box, seal keys and dedup records
    go; round 2's stay, and its own tally then counts its ballot."""
    from sqlalchemy import func

    from ballot_service.models import DedupRecord, SealedBallot, SealKey

    c = city
    r1 = first_round(c)
    rounds.close_round(r1)
    r2 = new_round(c, 2)
    cast(r2, c["Z"], {c["P"]: "dissatisfied"})
    db.session.add_all([DedupRecord(round_id=r1, key="v1"), DedupRecord(round_id=r2, key="v2")])
    db.session.commit()
    tally_round(r1)

    def rows(model):
        return dict(db.session.execute(select(model.round_id, func.count()).group_by(model.round_id)).all())

    assert rows(SealedBallot) == {r2: 1} and rows(SealKey) == {r2: 1} and rows(DedupRecord) == {r2: 1}
    assert results(r1)[("person", c["P"])].score == D("100.00")
    close_and_tally(r2)
    assert results(r2)[("person", c["P"])].score == D("30.00")
    assert rows(SealedBallot) == {} and rows(DedupRecord) == {}


def test_only_closed_rounds_are_tallied(city):
    from ballot_service.services.rounds import RoundError

    r = new_round(city, 1)
    with pytest.raises(RoundError, match="评价仍在进行，请先结束本轮"):
        tally_round(r)
    draft = rounds.create_round("草稿", city["region"], T0, T0 + dt.timedelta(days=1)).id
    with pytest.raises(RoundError, match="只有已结束、尚未发布的评价轮次可以统计"):
        tally_round(draft)


def test_a_round_closed_early_is_the_previous_graded_round_of_the_next(city):
    """牡丹区's case: round 1 scheduled for 60 days, closed by the coordinator after one; round 2
    opens the day after. B went from 优秀 (100.00) to 一般 (60.00): down 3, a review reference."""
    c = city
    opens = T0 + dt.timedelta(days=400)
    r1 = rounds.create_round("提前结束的一轮", c["region"], opens, opens + dt.timedelta(days=60)).id
    rounds.open_round(r1, now=opens)
    cast(r1, c["Z"], {c["P"]: "satisfied"})
    round_, job = rounds.close_round(r1, now=opens + dt.timedelta(days=1))
    assert round_.closes_at == opens + dt.timedelta(days=1) and job is not None  # it ended when it was closed
    tally_round(r1)
    r2 = rounds.create_round("下一轮", c["region"], opens + dt.timedelta(days=2), opens + dt.timedelta(days=30)).id
    rounds.open_round(r2, now=opens + dt.timedelta(days=2))
    cast(r2, c["Z"], {c["P"]: "basically_satisfied"})
    close_and_tally(r2)
    b = results(r2)[("department", c["B"])]
    assert (b.score, b.grade, b.previous_grade, b.steps) == (D("60.00"), "average", "excellent", -3)
    assert db.session.scalar(select(ConsequenceRecord.id).where(
        ConsequenceRecord.round_id == r2, ConsequenceRecord.kind == "review_reference",
        ConsequenceRecord.subject_kind == "department", ConsequenceRecord.subject_id == c["B"])) is not None


def test_a_reader_holding_the_box_makes_the_tally_delete_instead_of_truncate(app, city):
    """PostgreSQL: TRUNCATE would wait for a long reader (a pg_dump) and stall every reader
    queued behind it; after lock_timeout the box is emptied by DELETE, and the tally completes."""
    from sqlalchemy import func, text

    from ballot_service.models import SealedBallot

    if db.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    r = first_round(city)
    rounds.close_round(r)
    with db.engine.connect() as reader:
        reader.execute(text("BEGIN"))
        reader.execute(text("SELECT count(*) FROM sealed_ballot"))  # holds ACCESS SHARE until it ends
        digest = tally_round(r)
        reader.execute(text("ROLLBACK"))
    assert db.session.scalar(select(func.count()).select_from(SealedBallot)) == 0
    assert digest == db.session.get(Round, r).digest and results(r)[("person", city["P"])].score == D("100.00")
