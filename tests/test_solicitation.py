"""Flags for solicited ratings (刷票) on the real ballot path, database and Redis.

Department 市行政审批服务局: office A 企业登记窗口 and office B 税务窗口, each with a head and a
staff member; the main leader and the leader-in-charge (who oversees both) are on both ballots,
so every ballot rates four people. The round opened four days ago (T).

  A: three mixed ballots on days 1 and 2, then on day 4 forty ballots with everyone 满意, one every
     30 seconds from 10:05 past a bucket's start: 10 in its first 10 minutes, 20 in the next, 10
     in the third.
  B: forty ballots, one every 110 minutes from T + 1 h (about three days, never two in a bucket);
     every tenth from the first, fifth and eighth gives everyone 满意 (12 uniform), every tenth
     from the tenth rates one person and 不了解情况 for the others (4 not eligible), the rest are
     mixed: 36 eligible, 12 uniform.

Burst: A's buckets are 1, 1, 1 (days 1–2) and 10, 20, 10. The bucket of 20 has no other bucket
within the hour but those of 10, which are left out: typical = median(1, 1, 1) = 1; 20 ≥ 12 and
≥ 5 × 1. The buckets of 10 are below 12. B never has more than 1 in a bucket.
Uniform: A 40 of 43 (0.9302) against B's 12 of 36 (0.3333): pooled 52/79 = 0.658228, variance
0.658228 × 0.341772 × (1/43 + 1/36) = 0.224963 × 0.051034 = 0.011481, se 0.107149,
z = 0.596899 / 0.107149 = 5.57 ≥ 3, gap 0.60 ≥ 0.20: flagged. B is below its norm (A): not.
"""

import datetime as dt
import json
import logging

import pytest
from flask import g
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import inspect, select

from ballot_service import jobs
from ballot_service.domain.roles import Role
from ballot_service.domain.solicitation import bucket_of, bucket_start
from ballot_service.extensions import db, redis_ext
from ballot_service.models import Ballot, Rating, Round, RoundFlag
from ballot_service.services import rounds, solicitation
from ballot_service.services.tally import tally_round
from tests import factories as f
from tests.admin_helpers import make_user, sign_in
from tests.ballot_helpers import token_and_people

ALL_SATISFIED = ["satisfied"] * 4
MIXED = [["satisfied", "fairly_satisfied", "satisfied", "satisfied"],
         ["fairly_satisfied", "satisfied", "basically_satisfied", "satisfied"],
         ["satisfied", "satisfied", "unknown", "fairly_satisfied"],
         ["dissatisfied", "satisfied", "satisfied", "fairly_satisfied"]]


@pytest.fixture
def hall(database):
    region = f.region(code="heze", name="菏泽市", kind="city")
    dept = f.department(region=region, name="市行政审批服务局")
    a, b = f.office(dept, name="企业登记窗口"), f.office(dept, name="税务窗口")
    f.person(dept, Role.MAIN_LEADER, name="王建国")
    f.person(dept, Role.LEADER_IN_CHARGE, name="李海燕", overseen_offices=[a, b])
    for office in (a, b):
        f.person(dept, Role.OFFICE_HEAD, office=office)
        f.person(dept, Role.STAFF, office=office)
    db.session.commit()
    t = rounds.utcnow() - dt.timedelta(days=4)
    round_ = rounds.create_round("2026年下半年", region.code, t, t + dt.timedelta(days=34))
    rounds.open_round(round_.id, now=t)
    db.session.commit()
    return {"region": region, "dept": dept, "A": a, "B": b, "round": round_.id, "T": t}


def vote(app, monkeypatch, office, levels, at: dt.datetime) -> str:
    """One voter's ballot through the public page, counted as if cast `at`; the page's text."""
    monkeypatch.setattr(solicitation, "clock", lambda: at)
    voter = app.test_client()
    token, people = token_and_people(voter.get(f"/o/{office.code}").get_data(as_text=True))
    assert len(people) == 4
    form = {"token": token, **{f"r{p}": level for p, level in zip(people, levels, strict=True)}}
    response = voter.post(f"/o/{office.code}/ballot", data=form)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def b_levels(i: int) -> list[str]:
    if i % 10 in (0, 4, 7):
        return ALL_SATISFIED
    if i % 10 == 9:
        return ["satisfied", "unknown", "unknown", "unknown"]
    return MIXED[i % 4]


def burst_start(hall) -> dt.datetime:
    """Day 4 of the round, 5 minutes past the start of a bucket."""
    return bucket_start(bucket_of(hall["T"] + dt.timedelta(days=3, hours=2))) + dt.timedelta(minutes=5)


def cast_normal(app, monkeypatch, hall) -> None:
    for i in range(40):
        assert "感谢您的评价" in vote(app, monkeypatch, hall["B"], b_levels(i),
                                       hall["T"] + dt.timedelta(hours=1, minutes=110 * i))
    for levels, after in ((MIXED[0], dt.timedelta(hours=5)), (MIXED[1], dt.timedelta(days=1, hours=3)),
                          (MIXED[3], dt.timedelta(days=1, hours=7))):
        assert "感谢您的评价" in vote(app, monkeypatch, hall["A"], levels, hall["T"] + after)


def turnout_keys(round_id: int) -> list[str]:
    return [k.decode() for k in redis_ext.client.scan_iter(f"turnout:{round_id}:*")]


def coordinator_page(app, hall, path: str) -> str:
    g.pop("csrf_token", None)  # Flask-WTF caches it in the test's shared `g`
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=hall["region"]))
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_solicited_office_is_flagged_live_at_the_close_and_at_the_tally_and_a_normal_one_not(
        app, hall, monkeypatch):
    round_id, a, b = hall["round"], hall["A"], hall["B"]
    cast_normal(app, monkeypatch, hall)
    assert solicitation.live_flags(db.session.get(Round, round_id)) == []

    start = burst_start(hall)
    for i in range(40):
        # Every ballot is taken, also those cast once the office is flagged (from the 22nd: 12 in
        # the second bucket).
        assert "感谢您的评价" in vote(app, monkeypatch, a, ALL_SATISFIED, start + dt.timedelta(seconds=30 * i))
        if i == 21:
            [early] = solicitation.live_flags(db.session.get(Round, round_id))
            assert (early.office, early.figures["peak"]) == ("企业登记窗口", 12)

    # Live: A's burst, with its numbers; the counts are kept per office under a keyed tag only.
    peak_bucket = bucket_of(start) + 1
    [live] = solicitation.live_flags(db.session.get(Round, round_id))
    assert (live.kind, live.office, live.department) == ("burst", "企业登记窗口", "市行政审批服务局")
    china = rounds.to_china(bucket_start(peak_bucket))
    assert live.figures == {"peak": 20, "bucket": peak_bucket, "day": china.date().isoformat(),
                            "typical": 1, "burst_buckets": 1, "ballots": 43, "buckets": 6,
                            "rule_min_ballots": 12, "rule_ratio": 5}
    keys_ = turnout_keys(round_id)
    assert len(keys_) == 2 and all(len(k.rsplit(":", 1)[1]) == 16 for k in keys_)
    assert not {str(a.id), str(b.id)} & {k.rsplit(":", 1)[1] for k in keys_}
    assert all(redis_ext.client.ttl(k) > 30 * 86400 for k in keys_)  # expires after the round's close
    html = coordinator_page(app, hall, "/admin/")
    assert "疑似刷票提示" in html and "企业登记窗口" in html and "税务窗口" not in html.split("疑似刷票提示")[1]
    assert f"最高 20 票/10分钟（{china.month}月{china.day}日 {china:%H:%M}起），平时约 1 票" in html

    # The close keeps the burst (its day, not its time) and deletes every live count.
    rounds.close_round(round_id)
    db.session.commit()
    assert turnout_keys(round_id) == []
    [kept] = db.session.scalars(select(RoundFlag).where(RoundFlag.round_id == round_id)).all()
    assert (kept.office_id, kept.kind) == (a.id, "burst")
    assert kept.figures == {k: v for k, v in live.figures.items() if k != "bucket"}
    solicitation.keep_bursts(round_id)  # again: nothing changes
    db.session.commit()
    assert [(r.office_id, r.kind, r.figures) for r in db.session.scalars(select(RoundFlag))] == [
        (a.id, "burst", kept.figures)]

    # The tally unseals, then runs the uniform rule over the plaintext ratings (its hook,
    # solicitation.flag_uniform, in the tally's transaction).
    jobs.tally.drop_queued(round_id)
    tally_round(round_id)
    flags = {(r.office_id, r.kind): r.figures for r in db.session.scalars(select(RoundFlag))}
    assert set(flags) == {(a.id, "burst"), (a.id, "uniform")}  # nothing for B
    uniform = flags[(a.id, "uniform")]
    assert {k: uniform[k] for k in ("eligible", "uniform", "share", "norm", "norm_eligible", "norm_uniform",
                                    "norm_of")} == {"eligible": 43, "uniform": 40, "share": 0.9302, "norm": 0.3333,
                                                    "norm_eligible": 36, "norm_uniform": 12,
                                                    "norm_of": "department"}
    assert uniform["z"] == 5.57
    solicitation.flag_uniform(round_id)  # idempotent
    db.session.commit()
    assert {(r.office_id, r.kind): r.figures for r in db.session.scalars(select(RoundFlag))} == flags

    # Nothing in a flag names a ballot or a voter: its columns, and figures of numbers and a day.
    assert {c.key for c in inspect(RoundFlag).columns} == {"id", "round_id", "office_id", "kind", "figures"}
    stored = json.dumps([r.figures for r in db.session.scalars(select(RoundFlag))])
    assert not [ballot_id for ballot_id in db.session.scalars(select(Ballot.id)) if ballot_id in stored]
    assert all(isinstance(v, int | float | str) for r in db.session.scalars(select(RoundFlag))
               for v in r.figures.values())
    assert db.session.scalar(select(db.func.count()).select_from(Ballot)) == 83  # every ballot counted

    # The dashboard and the review show both flags with their numbers.
    day = china
    for path in ("/admin/", f"/admin/rounds/{round_id}"):
        html = coordinator_page(app, hall, path)
        assert "疑似刷票提示" in html and "集中投票" in html and "一致选票偏多" in html
        assert f"最高 20 票/10分钟（{day.month}月{day.day}日），平时约 1 票" in html
        assert "一致选票占 93%（40/43），本部门其他科室 33%（12/36）" in html


def test_flags_are_for_coordinators_auditors_and_discipline_never_the_rated_department(app, hall, monkeypatch):
    round_id = hall["round"]
    start = burst_start(hall)
    for i in range(14):
        vote(app, monkeypatch, hall["A"], ALL_SATISFIED, start + dt.timedelta(minutes=5, seconds=30 * i))
    rounds.close_round(round_id)
    db.session.commit()
    assert [r.kind for r in db.session.scalars(select(RoundFlag))] == ["burst"]
    for role in ("auditor", "discipline"):
        client = app.test_client()
        g.pop("csrf_token", None)
        sign_in(client, make_user(role, region=hall["region"]))
        assert "最高 14 票/10分钟" in client.get(f"/admin/rounds/{round_id}").get_data(as_text=True)
    g.pop("csrf_token", None)
    client = app.test_client()
    sign_in(client, make_user("department_admin", department=hall["dept"]))
    assert "刷票" not in client.get("/admin/").get_data(as_text=True)
    assert client.get(f"/admin/rounds/{round_id}").status_code == 403


class _Down:
    """A Redis that is away, for the turnout count only."""

    class client:  # noqa: N801
        @staticmethod
        def pipeline(**_):
            raise RedisConnectionError("Redis away")

        @staticmethod
        def scan_iter(*_, **__):
            raise RedisConnectionError("Redis away")


def test_a_count_that_fails_never_fails_the_ballot_nor_the_close(app, hall, monkeypatch, caplog):
    monkeypatch.setattr(solicitation, "redis_ext", _Down)
    with caplog.at_level(logging.WARNING, logger="ballot_service.services.solicitation"):
        html = vote(app, monkeypatch, hall["A"], ALL_SATISFIED, hall["T"] + dt.timedelta(hours=2))
    assert "感谢您的评价" in html
    assert caplog.messages == [f"a ballot of round {hall['round']} was not counted in the live turnout (Redis)"]
    rounds.close_round(hall["round"])
    db.session.commit()
    assert db.session.get(Round, hall["round"]).status == "closed"
    assert db.session.scalars(select(RoundFlag)).all() == []


def test_a_normal_round_has_no_flag_and_one_person_ballots_are_never_uniform(app, database, monkeypatch):
    # Two offices of one person each (a department without leaders): every ballot rates one person,
    # 满意 — none is eligible, so none is uniform, however many there are.
    region = f.region()
    dept = f.department(region=region)
    offices = [f.office(dept), f.office(dept)]
    for office in offices:
        f.person(dept, Role.STAFF, office=office)
    db.session.commit()
    t = rounds.utcnow() - dt.timedelta(days=1)
    round_ = rounds.create_round("一人窗口", region.code, t, t + dt.timedelta(days=30))
    rounds.open_round(round_.id, now=t)
    db.session.commit()
    for office in offices:
        for i in range(25):
            monkeypatch.setattr(solicitation, "clock", lambda i=i: t + dt.timedelta(hours=i))
            voter = app.test_client()
            token, people = token_and_people(voter.get(f"/o/{office.code}").get_data(as_text=True))
            assert len(people) == 1
            assert voter.post(f"/o/{office.code}/ballot", data={"token": token, f"r{people[0]}": "satisfied"}
                              ).status_code == 200
    rounds.close_round(round_.id)
    db.session.commit()
    jobs.tally.drop_queued(round_.id)
    tally_round(round_.id)
    assert db.session.scalar(select(db.func.count()).select_from(Rating)) == 50
    assert db.session.scalars(select(RoundFlag)).all() == []
