"""Published report cards, hall screen, and who sees what (A3): small cells, comments, and
reports of misconduct. The small-cell expectations are worked by hand from the ballots in
tests/test_tally.py: offices X 3 ballots, Y 2, Z 2; people's scored ratings M 4, L 4, H1 3,
S1 2, H2 2, P 2."""

import random
import re

from ballot_service.domain.ballots import Rating
from ballot_service.domain.visibility import Audience
from ballot_service.extensions import db
from ballot_service.models import Person, Round
from ballot_service.services import results, rounds
from ballot_service.services.results import department_comments, serious_reports
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import cast, publish, window
from tests.test_tally import city, first_round  # noqa: F401  (fixture and round builder)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def set_k(round_id: int, k: int) -> None:
    round_ = db.session.get(Round, round_id)
    round_.config = {**round_.config, "comment_threshold": k}
    db.session.commit()


def test_report_cards_appear_only_once_published(client, city):  # noqa: F811
    r = first_round(city)
    set_k(r, 1)  # every figure of these few ballots shown: the numbers are the point here
    rounds.close_round(r)
    tally_round(r)
    assert client.get(f"/results/{r}").status_code == 404  # tallied, under review, not public
    assert "暂无已发布的评价结果" in text(client.get("/results"))
    publish(r)

    index = text(client.get("/results"))
    assert "第1轮" in index
    card = text(client.get(f"/results/{r}"))
    # 市甲局 76.83 合格 ranks first; 市乙局 100.00 优秀, with 2 scored ratings (below min_sample 10),
    # is listed after it, unranked; the city 88.42 良好.
    assert re.search(r"1 市甲局 76\.83 合格.*样本较少，不参与排名 — 市乙局 100\.00 优秀", card)
    assert "样本较少：有效评价不足10人次，单独列出，不参与排名。" in card
    assert "88.42 良好" in card
    assert "评价票5张 · 有效评价15人次 · 不了解3人次" in card  # X 3 + Y 2 ballots: ballots and ratings apart

    dept = client.get(f"/results/{r}/d/{_code(city['A'])}")
    body = text(dept)
    assert dept.status_code == 200
    # X has 10 scored ratings and ranks first; Y, with 5, is listed after it, unranked.
    assert re.search(r"1 X科 81\.00 良好 .* 样本较少，不参与排名 — Y科 74\.00 合格", body)
    assert "45.00 不合格" in body and "90.00 优秀" in body
    assert "故意刁难" not in body  # tags and comments never appear on public cards


def _code(department_id: int) -> str:
    from ballot_service.extensions import db
    from ballot_service.models import Department

    return db.session.get(Department, department_id).code


def test_unknown_rounds_and_departments_are_404(client, city):  # noqa: F811
    assert client.get("/results/999").status_code == 404
    assert client.get("/results/999/d/nope").status_code == 404
    assert client.get("/screen/nope").status_code == 404


def test_hall_screen_shows_disclosure_and_latest_results(client, city):  # noqa: F811
    code = _code(city["A"])
    before = client.get(f"/screen/{code}")
    assert before.status_code == 200 and "本部门暂无已发布的评价结果" in text(before)
    html = before.get_data(as_text=True)
    assert "http-equiv=\"refresh\"" not in html and "location.reload()" in html  # reloaded by its script
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    after = text(client.get(f"/screen/{code}"))
    assert "76.83 合格" in after and "人员身份公示" in after


def three_more_in_x(c, r) -> None:
    for _ in range(3):
        cast(r, c["X"], [Rating(c[p], "satisfied", (), None) for p in ("M", "L", "H1", "S1")])


def test_below_k_the_public_sees_no_score_and_no_cell_that_a_total_would_rebuild(client, city):  # noqa: F811
    """k = 5. With three more ballots in X: X 6, Y 2; A 8, B 2; people M 7, L 7, H1 6, S1 5, H2 2.
    B (2) is hidden, and the round's line with it (round − A = B). Y (2) is hidden, and X with it
    (A − X = Y), though X has 6. H2 (2) is hidden, and S1 (5, the smallest shown) with it."""
    c = city
    r = first_round(c)
    three_more_in_x(c, r)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    round_ = db.session.get(Round, r)
    report = results.round_report(r)
    assert report.region.hidden and {line.name: line.hidden for line in report.departments} == {
        "市甲局": False, "市乙局": True}
    department = results.department_report(r, _code(c["A"]))
    assert not department.line.hidden
    assert {line.name: line.hidden for line in department.offices} == {"X科": True, "Y科": True}
    hidden_people = {line.result.subject_id for line in department.people if line.hidden}
    assert hidden_people == {c["S1"], c["H2"]}
    assert results.hidden_results(round_, Audience.COORDINATOR, c["A"]) == set()

    page = client.get(f"/results/{r}/d/{_code(c['A'])}").get_data(as_text=True)
    assert page.count('<b class="score g-none">样本不足</b>') == 4  # X, Y, S1, H2
    assert page.count("<li>样本不足：评价票太少") == 2  # explained once under the offices, once under the people
    assert page.count('class="dist"') == 1 + 3  # the department, M, L, H1
    card = text(client.get(f"/results/{r}"))
    assert "88.42" not in card and "100.00" not in card  # neither the round's line nor 市乙局's score


def test_one_ballot_publishes_nothing_of_itself(client, city):  # noqa: F811
    c = city
    r = rounds.create_round("单票", "heze", *window()).id
    rounds.open_round(r)
    cast(r, c["Z"], [Rating(c["P"], "dissatisfied", (), None)])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    body = text(client.get(f"/results/{r}/d/{_code(c['B'])}"))
    assert "30.00" not in body and "样本不足" in body
    assert "30.00" not in text(client.get(f"/results/{r}"))


def test_comments_by_audience_and_misconduct_reports_only_for_coordinators_and_discipline(city):  # noqa: F811
    c = city
    r = first_round(c)  # X 3 ballots, Y 2: b1 tags S1 故意刁难
    for note in ("窗口排队太久", "材料要求没有一次说清"):
        cast(r, c["X"], [Rating(c["S1"], "dissatisfied", ("low_efficiency",), note)])
    cast(r, c["Y"], [Rating(c["H2"], "dissatisfied", ("bribery",), "办事要好处费")])
    rounds.close_round(r)
    tally_round(r)  # comments exist once the ballots are unsealed: A has 5 + 3 = 8 ballots
    round_ = db.session.get(Round, r)
    assert department_comments(round_, c["A"], Audience.DEPARTMENT) == []  # not published yet

    by_office = {g.label: g for g in department_comments(round_, c["A"], Audience.COORDINATOR, random.Random(1))}
    assert sorted(by_office["X科"].notes) == ["材料要求没有一次说清", "窗口排队太久"]
    assert by_office["X科"].tags == {"obstruction": 1, "low_efficiency": 2}
    assert by_office["Y科"].notes == ["办事要好处费"] and by_office["Y科"].tags == {"bribery": 1}

    publish(r)
    [pooled] = department_comments(round_, c["A"], Audience.DEPARTMENT, random.Random(1))
    assert (pooled.label, pooled.office_id, pooled.ballots, pooled.shown) == ("市甲局", None, 8, True)
    assert sorted(pooled.notes) == ["材料要求没有一次说清", "窗口排队太久"]  # not the bribery report
    assert pooled.tags == {"low_efficiency": 2}  # neither 故意刁难 nor 吃拿索要
    assert department_comments(round_, c["A"], Audience.AUDITOR) == []

    serious = serious_reports(round_, c["A"], Audience.DISCIPLINE)
    # Counted per office and person: S1's 故意刁难 at X (first_round's b1), H2's 吃拿索要 at Y; the one
    # note pooled over the department's 8 ballots (k = 5).
    names = {db.session.get(Person, c[k]).name: k for k in ("S1", "H2")}
    assert [(x.office, names[x.person], x.tags) for x in serious.counts] == [
        ("X科", "S1", {"obstruction": 1}), ("Y科", "H2", {"bribery": 1})]
    assert (serious.ballots, serious.shown, serious.notes) == (8, True, ["办事要好处费"])
    assert serious_reports(round_, c["A"], Audience.COORDINATOR) == serious
    assert serious_reports(round_, c["A"], Audience.DEPARTMENT) is None


def test_a_department_below_k_sees_no_pooled_comments(city):  # noqa: F811
    c = city
    r = first_round(c)  # B has 2 ballots
    cast(r, c["Z"], [Rating(c["P"], "fairly_satisfied", ("low_efficiency",), "希望延长办公时间")])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    [pooled] = department_comments(db.session.get(Round, r), c["B"], Audience.DEPARTMENT)
    assert (pooled.ballots, pooled.shown, pooled.notes, pooled.tags) == (3, False, [], {})


def test_padding_to_k_shows_the_department_neither_a_bribery_report_nor_its_note(app, city):  # noqa: F811
    """The issue's case: office Z has 1 real ballot (吃拿索要, with a note) and 4 cast by its own
    staff. The department admin, in the admin pages and the API, sees neither the tag nor the note;
    the coordinator and 纪检监察 see both."""
    from ballot_service.models import Department
    from tests.admin_helpers import api_token, make_user, sign_in

    c = city
    r = rounds.create_round("补票", "heze", *window()).id
    rounds.open_round(r)
    cast(r, c["Z"], [Rating(c["P"], "dissatisfied", ("bribery",), "收了好处费才给办")])
    for _ in range(4):
        cast(r, c["Z"], [Rating(c["P"], "satisfied", (), None)])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    department = db.session.get(Department, c["B"])
    admin = make_user("department_admin", department=department)
    browser = app.test_client()
    sign_in(browser, admin)
    page = browser.get(f"/admin/rounds/{r}/departments/{c['B']}/results").get_data(as_text=True)
    api = {"Authorization": f"Bearer {api_token(admin)}"}
    answers = [browser.get(f"/api/v1/rounds/{r}/results", headers=api).get_data(as_text=True),
               browser.get(f"/api/v1/rounds/{r}/departments/{c['B']}/comments", headers=api).get_data(as_text=True)]
    for seen in (page, *answers):
        assert "收了好处费才给办" not in seen and "bribery" not in seen and "吃拿索要 1" not in seen
    assert "5张评价票" in page  # the department's pooled comments are shown: it has k ballots
    assert browser.get(f"/api/v1/rounds/{r}/departments/{c['B']}/serious", headers=api).status_code == 403

    for role in ("coordinator", "discipline"):
        user = make_user(role, region=db.session.get(Round, r).region)
        reports = browser.get(f"/api/v1/rounds/{r}/departments/{c['B']}/serious",
                              headers={"Authorization": f"Bearer {api_token(user)}"}).json
        assert [x["tags"] for x in reports["counts"]] == [{"bribery": 1}]
        assert (reports["ballots"], reports["shown"], reports["notes"]) == (5, True, ["收了好处费才给办"])


def test_hall_screen_panels_split_large_offices_evenly_and_page_the_results(client, city):  # noqa: F811
    from ballot_service.models import Department
    from ballot_service.services import disclosure, hall_screen
    from tests import factories as f

    assert hall_screen.chunks(list(range(30)), 12) == [list(range(0, 10)), list(range(10, 20)),
                                                       list(range(20, 30))]
    assert hall_screen.chunks([], 12) == [[]]
    assert [len(c) for c in hall_screen.chunks(list(range(10)), hall_screen.RESULTS_PER_PANEL)] == [5, 5]
    assert [hall_screen.grid_for(n) for n in (1, 2, 4, 5, 9, 12)] == [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (3, 4)]
    dept = db.session.get(Department, city["A"])
    for n in range(9):
        f.office(dept, name=f"第{n + 1}窗口")
    db.session.commit()
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    page = disclosure.get_department_page(dept.code)
    panels = hall_screen.panels(page, results.latest_department_report(dept.code), "http://testserver")
    people = [p for p in panels if p.kind == "people"]
    assert [p.heading for p in people] == ["部门领导", "X科", "Y科"] + [f"第{n + 1}窗口" for n in range(9)]
    assert people[1].url == f"http://testserver/o/{page.offices[0][0].code}" and 'role="img"' in people[1].qr
    assert people[0].qr is None and people[0].line.name == "市甲局"
    # Eleven office lines (the new offices' with no ballots), over two results panels.
    assert [(len(p.lines), p.part) for p in panels if p.kind == "results"] == [(6, "第1/2页"), (5, "第2/2页")]
    html = client.get(f"/screen/{dept.code}").get_data(as_text=True)
    assert html.count('class="panel ') == len(panels) and html.count(" hidden>") == len(panels) - 1


def test_low_sample_lines_are_listed_apart_after_the_ranked_and_before_the_hidden(city):  # noqa: F811
    """With k = 1 nothing is hidden: round 1's departments are 市甲局 (15 scored ratings, rank 1)
    and 市乙局 (2 scored ratings < 10, unranked, listed after it, flagged low sample)."""
    r = first_round(city)
    set_k(r, 1)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    report = results.round_report(r)
    assert [(line.name, line.rank, line.low_sample, line.hidden) for line in report.departments] == [
        ("市甲局", 1, False, False), ("市乙局", None, True, False)]
    department = results.department_report(r, _code(city["A"]))
    # Offices: X (10 scored) ranked 1; Y (5) apart. People: all below 10, all apart, by name.
    assert [(line.name, line.rank, line.low_sample) for line in department.offices] == [
        ("X科", 1, False), ("Y科", None, True)]
    assert all(line.rank is None and line.low_sample for line in department.people)
    assert [line.name for line in department.people] == sorted(line.name for line in department.people)


def test_ordered_ranks_the_shown_lines_then_the_low_sample_then_the_hidden():
    from decimal import Decimal as D

    from ballot_service.models import Result

    def line(name, subject_id, score, rank, low):
        return results.Line(name, Result(subject_kind="office", subject_id=subject_id, score=D(score), rank=rank,
                                         low_sample=low))

    lines = [line("丁", 4, "70", None, True), line("甲", 1, "95", 1, False), line("乙", 2, "90", 2, False),
             line("丙", 3, "85", 3, False), line("戊", 5, "99", None, True)]
    # 乙 hidden: 甲 and 丙 re-ranked among themselves 1, 2; 丁, 戊 apart (by name); 乙 last.
    shown = results.ordered(lines, {("office", 2)})
    assert [(x.name, x.rank, x.low_sample, x.hidden) for x in shown] == [
        ("甲", 1, False, False), ("丙", 2, False, False), ("丁", None, True, False), ("戊", None, True, False),
        ("乙", None, False, True)]
    # A hidden low-sample line shows nothing of itself, not even that it is low sample.
    [hidden] = results.ordered([line("己", 6, "50", None, True)], {("office", 6)})
    assert hidden.hidden and not hidden.low_sample


def test_yellow_cards_count_the_department_and_its_offices_the_same_on_both_cards(database):
    """Two departments, one office and one staff member each, 5 ballots (k) each, all 基本满意:
    person 60.00, office 60.00, department 60.00, every one 一般 → a yellow card each for the
    department, its office and the person. 黄牌 counts the department's own and its office's
    confirmed cards, not the person's: 1 + 1 = 2. In 市二局 the office's card is struck: 1 + 0 = 1."""
    from sqlalchemy import select

    from ballot_service.domain.roles import Role
    from ballot_service.models import ConsequenceRecord
    from ballot_service.services import admin_rounds
    from tests import factories as f

    region = f.region(code="heze", name="菏泽市", kind="city")
    depts = [f.department(region=region, name=name) for name in ("市一局", "市二局")]
    offices = [f.office(d, name="窗口") for d in depts]
    staff = [f.person(d, Role.STAFF, office=o) for d, o in zip(depts, offices, strict=True)]
    db.session.commit()
    r = rounds.create_round("第1轮", "heze", *window()).id
    rounds.open_round(r)
    for office, person in zip(offices, staff, strict=True):
        for _ in range(5):
            cast(r, office.id, [Rating(person.id, "basically_satisfied", (), None)])
    rounds.close_round(r)
    tally_round(r)
    cards = {(c.subject_kind, c.subject_id): c.id for c in db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == r, ConsequenceRecord.kind == "yellow_card"))}
    assert set(cards) == {(kind, x.id) for kind, group in (("department", depts), ("office", offices),
                                                            ("person", staff)) for x in group}
    admin_rounds.decide_consequence(r, cards[("office", offices[1].id)], "struck", "经复核撤销")
    publish(r)
    round_ = db.session.get(Round, r)
    assert results.yellow_cards(round_) == {depts[0].id: 2, depts[1].id: 1}
    report = results.round_report(r)
    assert {line.name: line.yellow_cards for line in report.departments} == {"市一局": 2, "市二局": 1}
    for dept, n in zip(depts, (2, 1), strict=True):
        card = results.department_report(r, dept.code)
        assert card.line.yellow_cards == n
        # The department page's own count of its cards agrees (what its template counts today).
        assert len([c for c in card.consequences if c.kind == "yellow_card" and c.subject_kind != "person"]) == n


def test_a_hidden_offices_yellow_card_is_not_counted_on_the_public_cards(database):
    """k = 5. 市一局: office 甲窗口 5 ballots 基本满意 (60.00 一般, a card), 乙窗口 1 ballot 基本满意
    (60.00 一般, a card), 丙窗口 6 ballots 满意. Department = (60 + 60 + 100)/3 = 73.33 合格, no card
    of its own. 乙 (1 ballot) is hidden, and 甲 (5, the smallest shown) with it, so that 1 + 5 ≥ k:
    the public sees 0 cards; the coordinator 2."""
    from ballot_service.domain.roles import Role
    from tests import factories as f

    region = f.region(code="heze", name="菏泽市", kind="city")
    dept = f.department(region=region, name="市一局")
    offices = [f.office(dept, name=name) for name in ("甲窗口", "乙窗口", "丙窗口")]
    staff = [f.person(dept, Role.STAFF, office=o) for o in offices]
    db.session.commit()
    r = rounds.create_round("第1轮", "heze", *window()).id
    rounds.open_round(r)
    for office, person, n, level in zip(offices, staff, (5, 1, 6), ("basically_satisfied",) * 2 + ("satisfied",),
                                        strict=True):
        for _ in range(n):
            cast(r, office.id, [Rating(person.id, level, (), None)])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    round_ = db.session.get(Round, r)
    assert results.yellow_cards(round_, Audience.COORDINATOR) == {dept.id: 2}
    assert results.yellow_cards(round_) == {dept.id: 0}
    card = results.department_report(r, dept.code)
    assert {line.name for line in card.offices if line.hidden} == {"甲窗口", "乙窗口"}
    assert card.line.yellow_cards == 0 and results.round_report(r).departments[0].yellow_cards == 0


def test_misconduct_notes_wait_for_k_ballots_but_are_counted(city):  # noqa: F811
    """One 吃拿索要 report in a department of one ballot: 纪检监察 see that P was so rated at Z, not
    its note, which would be one voter's words (k = 5)."""
    c = city
    r = rounds.create_round("单票反映", "heze", *window()).id
    rounds.open_round(r)
    cast(r, c["Z"], [Rating(c["P"], "dissatisfied", ("bribery",), "收了好处费才给办")])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    serious = serious_reports(db.session.get(Round, r), c["B"], Audience.DISCIPLINE)
    assert [(x.office, x.tags) for x in serious.counts] == [("Z科", {"bribery": 1})]
    assert (serious.ballots, serious.shown, serious.notes) == (1, False, [])
