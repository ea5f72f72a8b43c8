"""Paper ballots (附件3): typed twice by two different users, counted once when both agree.

The office of tests/ballot_helpers.open_office has four people: 王建国 (main leader), 李海燕
(leader-in-charge), 张丽娜 (office head), 刘文博 (staff). Worked by hand, one online ballot
(everyone 满意, 100) plus the paper form below (王 满意 100, 李 比较满意 80, 张 基本满意 60 with
服务意识差 and a note, 刘 不了解情况):
  王 (100+100)/2 = 100.00; 李 (100+80)/2 = 90.00; 张 (100+60)/2 = 80.00; 刘 100/1 = 100.00 (1 unknown)
  office (400+240)/7 = 640/7 = 91.428… → 91.43; department (100+90+80+100)/4 = 92.50.
"""

import json
import threading
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ballot_service.domain.ballots import Rating, check_ballot
from ballot_service.extensions import db
from ballot_service.models import (
    AuditEntry,
    Ballot,
    PaperEntry,
    PaperForm,
    Person,
    Result,
    Round,
    SealedBallot,
    User,
)
from ballot_service.models import Rating as RatingRow
from ballot_service.services import paper_ballots, rounds
from ballot_service.services.paper_ballots import PaperError
from ballot_service.services.tally import tally_round
from tests import factories as f
from tests.admin_helpers import api_token, form_token, make_user, sign_in
from tests.ballot_helpers import cast, open_office, opened

NOTE = "窗口排队时间过长"


@pytest.fixture
def paper(database):
    office, round_ = open_office()
    region = office.department.region
    people = {p.name: p.id for p in db.session.scalars(select(Person))}
    coordinators = [make_user("coordinator", region=region, username=f"typist{n}") for n in range(3)]
    return {"office": office, "round": round_, "people": people, "users": coordinators, "region": region}


class Browser:
    """A test client whose every request runs in an app context of its own: inside the test's
    app context, requests would share `g` (Flask-WTF's CSRF token, Flask-Login's user)."""

    def __init__(self, app):
        self.app, self.client = app, app.test_client()

    def get(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.post(*args, **kwargs)


def form(people: dict, **changes) -> dict[str, list[str]]:
    """The paper form of the module docstring, as the ballot form's fields."""
    w, li, z, liu = (people[n] for n in ("王建国", "李海燕", "张丽娜", "刘文博"))
    fields = {f"r{w}": ["satisfied"], f"r{li}": ["fairly_satisfied"], f"r{z}": ["basically_satisfied"],
              f"t{z}": ["poor_attitude"], f"n{z}": [NOTE], f"r{liu}": ["unknown"]}
    fields.update(changes)
    return fields


def ballots(channel: str | None = None) -> int:
    """Ballots in the sealed boxes (opened here as the tally would), of one channel or all."""
    return sum(1 for round_id in db.session.scalars(select(Round.id)) for _office, ch, _ratings in opened(round_id)
               if channel in (None, ch))


def test_two_users_typing_the_same_form_count_it_once_in_the_tally(paper, redis_client):
    p, (a, b, _) = paper, paper["users"]
    cast(p["round"].id, p["office"].id, [Rating(pid, "satisfied") for pid in p["people"].values()])
    first = paper_ballots.enter(p["round"].id, p["office"].id, "A-001", form(p["people"]), a)
    assert first.result == "pending" and ballots("paper") == 0
    second = paper_ballots.enter(p["round"].id, p["office"].code.lower(), " A-001 ", form(p["people"]), b)
    assert second.result == "counted"
    assert ballots("paper") == 1 and ballots() == 2
    [paper_ratings] = [ratings for _office, channel, ratings in opened(p["round"].id) if channel == "paper"]
    assert [r.note for r in paper_ratings if r.person_id == p["people"]["张丽娜"]] == [NOTE]
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0
    assert db.session.get(PaperForm, (p["round"].id, p["office"].id, "A-001")) is not None

    rounds.close_round(p["round"].id)
    tally_round(p["round"].id)
    paper_ballot = db.session.scalar(select(Ballot).where(Ballot.channel == "paper"))
    assert len(paper_ballot.id) == 32
    note = db.session.scalar(select(RatingRow.note).where(RatingRow.ballot_id == paper_ballot.id,
                                                          RatingRow.person_id == p["people"]["张丽娜"]))
    assert note == NOTE
    res = {(r.subject_kind, r.subject_id): r for r in db.session.scalars(select(Result))}
    people = {n: res[("person", pid)] for n, pid in p["people"].items()}
    assert {n: r.score for n, r in people.items()} == {
        "王建国": D("100.00"), "李海燕": D("90.00"), "张丽娜": D("80.00"), "刘文博": D("100.00")}
    assert people["刘文博"].unknown == 1 and people["张丽娜"].tags == {"poor_attitude": 1}
    assert res[("office", p["office"].id)].score == D("91.43")
    assert res[("department", p["office"].department_id)].score == D("92.50")


def test_the_same_user_typing_twice_never_counts(paper):
    p, a = paper, paper["users"][0]
    assert paper_ballots.enter(p["round"].id, p["office"].id, "7", form(p["people"]), a).result == "pending"
    assert paper_ballots.enter(p["round"].id, p["office"].id, "7", form(p["people"]), a).result == "pending"
    assert ballots() == 0
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 1  # replaced, not added


def test_a_mismatch_shows_the_differences_then_a_correction_counts_once(paper):
    p, (a, b, _) = paper, paper["users"]
    z, liu = p["people"]["张丽娜"], p["people"]["刘文博"]
    paper_ballots.enter(p["round"].id, p["office"].id, "B-2", form(p["people"]), a)
    typo = form(p["people"], **{f"r{liu}": ["satisfied"], f"t{z}": ["low_efficiency"]})
    outcome = paper_ballots.enter(p["round"].id, p["office"].id, "B-2", typo, b)
    assert outcome.result == "mismatch" and ballots() == 0
    found = {d.name: (d.first_text, d.second_text) for d in outcome.differences}
    assert found == {
        "张丽娜": (f"基本满意；问题：服务意识差；意见：{NOTE}", f"基本满意；问题：工作效率低；意见：{NOTE}"),
        "刘文博": ("不了解情况", "满意"),
    }
    # The first typist rechecks the paper and agrees with... their own typing was right; the
    # second typist corrects theirs: counted once.
    assert paper_ballots.enter(p["round"].id, p["office"].id, "B-2", form(p["people"]), b).result == "counted"
    assert ballots("paper") == 1
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0
    with pytest.raises(PaperError, match="已计入"):
        paper_ballots.enter(p["round"].id, p["office"].id, "B-2", form(p["people"]), a)
    assert ballots("paper") == 1
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0


@pytest.mark.parametrize("change, field", [
    ({"round_id": 999999}, "round_id"),
    ({"office": "ZZZZZZ"}, "office_code"),
    ({"serial": "编号1"}, "serial"),
    ({"serial": "x" * 33}, "serial"),
])
def test_bad_round_office_or_serial_is_refused_with_its_field(paper, change, field):
    p = paper
    args = {"round_id": p["round"].id, "office": p["office"].code, "serial": "S1", **change}
    with pytest.raises(PaperError) as error:
        paper_ballots.enter(args["round_id"], args["office"], args["serial"], form(p["people"]), p["users"][0])
    assert error.value.field == field
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0


def test_invalid_form_is_refused_per_person(paper):
    p = paper
    bad = form(p["people"], **{f"r{p['people']['王建国']}": []})
    bad.pop(f"r{p['people']['王建国']}")
    bad[f"t{p['people']['刘文博']}"] = ["bribery"]  # tags with 不了解情况
    with pytest.raises(PaperError) as error:
        paper_ballots.enter(p["round"].id, p["office"].id, "S1", bad, p["users"][0])
    assert error.value.errors == {p["people"]["王建国"]: ["请选择评价"],
                                  p["people"]["刘文博"]: ["只有选择“基本满意”或“不满意”时，才能勾选问题或填写意见"]}
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0


def test_rounds_out_of_scope_or_tallied_take_no_paper(paper):
    p = paper
    other_county = make_user("coordinator", region=f.region(), username="elsewhere")
    with pytest.raises(PaperError, match="不在您的管理范围内"):
        paper_ballots.enter(p["round"].id, p["office"].id, "S1", form(p["people"]), other_county)
    rounds.close_round(p["round"].id)
    tally_round(p["round"].id)
    with pytest.raises(PaperError, match="尚未统计"):
        paper_ballots.enter(p["round"].id, p["office"].id, "S1", form(p["people"]), p["users"][0])


def test_two_matching_second_typings_racing_count_once(app, paper):
    p, (a, b, c) = paper, paper["users"]
    paper_ballots.enter(p["round"].id, p["office"].id, "R-1", form(p["people"]), a)
    round_id, office_id, people = p["round"].id, p["office"].id, p["people"]
    barrier, outcomes = threading.Barrier(2), []

    def type_it(user_id):
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                outcomes.append(paper_ballots.enter(round_id, office_id, "R-1", form(people), user).result)
            except PaperError as error:
                outcomes.append(str(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=type_it, args=(u.id,)) for u in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["counted", paper_ballots.ALREADY_COUNTED])
    db.session.expire_all()
    assert ballots("paper") == 1
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0


def test_admin_pages_type_a_form_twice_and_audit_holds_no_ratings(app, paper):
    p, (a, b, _) = paper, paper["users"]
    ids = p["people"]
    clients = []
    for user in (a, b):
        client = Browser(app)
        assert sign_in(client, user).status_code == 302
        clients.append(client)
    query = f"/admin/paper?round_id={p['round'].id}&office_code={p['office'].code}&serial=C-9"
    page = clients[0].get(query)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "王建国" in html and f'name="r{ids["王建国"]}"' in html and "故意刁难" in html

    def post(client, fields):
        data = {"csrf_token": form_token(client, query), "round_id": p["round"].id,
                "office_code": p["office"].code, "serial": "C-9", **fields}
        return client.post("/admin/paper", data=data, follow_redirects=True)

    response = post(clients[0], form(ids))
    assert "已录入第一遍，等待另一位用户复核" in response.get_data(as_text=True)
    # The second typist sees the serial waiting and who typed it, not what was typed.
    waiting = clients[1].get(f"/admin/paper?round_id={p['round'].id}").get_data(as_text=True)
    assert "C-9" in waiting and a.display_name in waiting and NOTE not in waiting

    missing = form(ids)
    missing.pop(f"r{ids['李海燕']}")
    response = post(clients[1], missing)
    assert response.status_code == 400 and "请选择评价" in response.get_data(as_text=True)

    typo = form(ids, **{f"r{ids['王建国']}": ["fairly_satisfied"]})
    response = post(clients[1], typo)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "两遍不一致" in text
    assert "<td>王建国</td><td>满意</td><td>比较满意</td>" in text
    assert ballots() == 0

    response = post(clients[1], form(ids))
    assert "两遍一致，已计入" in response.get_data(as_text=True)
    assert ballots("paper") == 1
    response = post(clients[0], form(ids))
    assert response.status_code == 400 and "该编号的选票已计入" in response.get_data(as_text=True)
    assert ballots("paper") == 1

    ballot_id = db.session.scalar(select(SealedBallot.id))
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("paper%"))
                                 .order_by(AuditEntry.seq)).all()
    assert [(e.summary["result"], e.actor) for e in entries] == [
        ("pending", a.username), ("mismatch", b.username), ("counted", b.username)]
    assert all(set(e.summary) == {"result"} for e in entries)  # no office or serial: see paper_ballots
    everything = json.dumps([e.summary for e in db.session.scalars(select(AuditEntry))], ensure_ascii=False)
    assert ballot_id not in everything and NOTE not in everything and "fairly_satisfied" not in everything
    assert "paper_entry" not in everything and "ballot" not in everything


def test_api_typing_and_pending_list(client, paper):
    p, (a, b, _) = paper, paper["users"]
    ids = p["people"]
    ratings = {str(ids["王建国"]): {"level": "satisfied"}, str(ids["李海燕"]): {"level": "fairly_satisfied"},
               str(ids["张丽娜"]): {"level": "basically_satisfied", "tags": ["poor_attitude"], "note": NOTE},
               str(ids["刘文博"]): {"level": "unknown"}}
    body = {"round_id": p["round"].id, "office_code": p["office"].code, "serial": "API-1", "ratings": ratings}
    headers = [{"Authorization": f"Bearer {api_token(u)}"} for u in (a, b)]
    first = client.post("/api/v1/paper/entries", json=body, headers=headers[0])
    assert first.status_code == 200 and first.json == {"result": "pending", "differences": []}

    pending = client.get(f"/api/v1/paper/pending?round_id={p['round'].id}", headers=headers[1])
    assert pending.status_code == 200
    assert pending.json == [{"round_id": p["round"].id, "office_code": p["office"].code,
                             "office_name": p["office"].name, "serial": "API-1", "typed_by": [a.username]}]
    assert json.loads(pending.headers["X-Pagination"])["total"] == 1

    typo = {**ratings, str(ids["刘文博"]): {"level": "dissatisfied"}}
    second = client.post("/api/v1/paper/entries", json={**body, "ratings": typo}, headers=headers[1])
    assert second.json["result"] == "mismatch"
    assert second.json["differences"] == [{"person_id": ids["刘文博"], "name": "刘文博",
                                           "first": {"level": "unknown", "tags": [], "note": None},
                                           "second": {"level": "dissatisfied", "tags": [], "note": None}}]
    bad = client.post("/api/v1/paper/entries", json={**body, "ratings": {str(ids["王建国"]): {"level": "x"}}},
                      headers=headers[1])
    assert bad.status_code == 422
    assert bad.json["errors"]["json"]["ratings"][str(ids["王建国"])] == ["评价选项无效，请重新选择"]
    third = client.post("/api/v1/paper/entries", json=body, headers=headers[1])
    assert third.json == {"result": "counted", "differences": []}
    assert ballots("paper") == 1
    assert client.get("/api/v1/paper/pending", headers=headers[0]).json == []
    again = client.post("/api/v1/paper/entries", json=body, headers=headers[0])
    assert again.status_code == 422 and again.json["errors"]["json"]["serial"] == ["该编号的选票已计入，不能重复录入"]


def test_the_counted_form_row_refuses_a_second_count_whatever_the_timing(paper):
    """The last line of defence behind the per-serial lock: PaperForm's primary key rolls back a
    second counting of the same serial together with its ballot."""
    p = paper
    ballot = paper_ballots.paper_ballot(p["round"].id, p["office"].code, p["users"][0])
    checked = check_ballot(ballot.config, ballot.people, form(p["people"]))
    ratings = paper_ballots._normalised(checked.ratings)
    paper_ballots._count(ballot, "PK-1", ratings)
    db.session.commit()
    with pytest.raises(IntegrityError):
        paper_ballots._count(ballot, "PK-1", ratings)
    db.session.rollback()
    assert ballots() == 1


def test_a_counted_form_is_sealed_into_the_box_like_an_online_ballot(paper):
    """A1: what the typist's transaction writes of the ballot is ciphertext of the round's one
    size; the tally opens it with the others, shuffled, under a fresh id."""
    p, (a, b, _) = paper, paper["users"]
    cast(p["round"].id, p["office"].id, [Rating(pid, "satisfied") for pid in p["people"].values()])
    paper_ballots.enter(p["round"].id, p["office"].id, "Q-1", form(p["people"]), a)
    assert paper_ballots.enter(p["round"].id, p["office"].id, "Q-1", form(p["people"]), b).result == "counted"
    boxes = db.session.scalars(select(SealedBallot.box)).all()
    assert len(boxes) == 2 and len({len(box) for box in boxes}) == 1
    assert all(NOTE.encode() not in box for box in boxes)
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0


def test_a_form_counted_after_the_tally_began_is_refused(paper):
    p, (a, b, _) = paper, paper["users"]
    paper_ballots.enter(p["round"].id, p["office"].id, "Z-1", form(p["people"]), a)
    rounds.close_round(p["round"].id)
    tally_round(p["round"].id)
    with pytest.raises(PaperError):
        paper_ballots.enter(p["round"].id, p["office"].id, "Z-1", form(p["people"]), b)
    assert db.session.scalar(select(func.count()).select_from(SealedBallot)) == 0


def test_typings_that_never_matched_are_forgotten_at_the_tally(paper):
    """An unmatched typing names its typist; once the round is tallied it has no use left."""
    p, (a, _, _) = paper, paper["users"]
    assert paper_ballots.enter(p["round"].id, p["office"].id, "L-1", form(p["people"]), a).result == "pending"
    rounds.close_round(p["round"].id)
    tally_round(p["round"].id)
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0


def test_a_waiting_typing_is_sealed_and_bound_to_its_row(paper):
    """What a typing leaves in the database is ciphertext of the round's one size, readable only
    with the round's secret from the key store, and only as the row it was written for."""
    from cryptography.exceptions import InvalidTag

    from ballot_service.domain import sealing
    from ballot_service.services import keys

    p, (a, b, _) = paper, paper["users"]
    paper_ballots.enter(p["round"].id, p["office"].id, "S-1", form(p["people"]), a)
    paper_ballots.enter(p["round"].id, p["office"].id, "S-2", form(p["people"], **{f"n{p['people']['张丽娜']}": ["短"]}), a)
    rows = db.session.execute(select(PaperEntry.serial, PaperEntry.entered_by, PaperEntry.box)
                              .order_by(PaperEntry.serial)).all()
    assert [len(box) for _, _, box in rows] == [12 + p["round"].sealed_size + 16] * 2
    assert all(NOTE.encode() not in box and "短".encode() not in box for _, _, box in rows)
    secret = keys.round_secret(p["round"].key_id)
    opened_note = sealing.decode(sealing.open_typing(secret, p["round"].id, p["office"].id, "S-1", a.id, rows[0].box))
    assert NOTE in [r.note for r in opened_note[2]]
    with pytest.raises(InvalidTag):  # moved to another serial or typist by hand, it no longer opens
        sealing.open_typing(secret, p["round"].id, p["office"].id, "S-2", a.id, rows[0].box)
    with pytest.raises(InvalidTag):
        sealing.open_typing(secret, p["round"].id, p["office"].id, "S-1", b.id, rows[0].box)


def test_typing_without_the_rounds_key_is_refused_with_a_message(paper):
    import os

    from ballot_service.services import keys

    p, (a, _, _) = paper, paper["users"]
    os.unlink(os.path.join(keys.key_dir(), f"{p['round'].key_id}.secret"))
    with pytest.raises(PaperError, match="密钥缺失"):
        paper_ballots.enter(p["round"].id, p["office"].id, "K-1", form(p["people"]), a)
    assert db.session.scalar(select(func.count()).select_from(PaperEntry)) == 0
