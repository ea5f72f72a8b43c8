"""A round run from the admin pages: create, open, ballots through the public path, turnout,
close, tally (in a real RQ worker, burst mode), review, publish; results by scope; comments
under the k rule; posters with a progress bar. Expected numbers worked by hand below.

City 菏泽市, department 市审批局 (spj): office X 企业登记窗口 — main leader M, leader-in-charge L
(oversees X), head H, staff S; office Y 社保窗口 — head P (M is on Y's ballot too).
Ballots (— = 不了解情况):
  X v1: all 满意 · v2: all 满意 · v3: all 比较满意 ·
    v4: M 100, L 100, H 100, S 不满意 30 (故意刁难, “办事拖拉”) · v5: M —, L 80, H 基本满意 60 (工作效率低, “等待时间长”), S 100
  Y w1: M 100, P 不满意 30 (服务意识差, “态度一般”) · w2: M 80, P 60
People: M (100+100+80+100+100+80)/6 = 93.33 优秀; L 460/5 = 92.00 优秀; H 440/5 = 88.00 良好;
  S 410/5 = 82.00 良好; P 90/2 = 45.00 不合格.
Offices: X (380+460+440+410)/19 = 1690/19 = 88.947 → 88.95 良好; Y 270/4 = 67.50 一般 (a yellow card).
Department (mean of people): (93.33+92.00+88.00+82.00+45.00)/5 = 400.33/5 = 80.066 → 80.07 良好.
k = 5: X has 5 ballots (comments shown), Y has 2 (not shown).
"""

import datetime as dt
import io
import itertools
import re
import urllib.parse
from decimal import Decimal as D
from urllib.parse import quote

import pytest
from flask import g
from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.domain.roles import Role
from ballot_service.extensions import db, redis_ext
from ballot_service.models import AuditEntry, ConsequenceRecord, Result, Round
from ballot_service.services import jobs, rounds

from . import admin_helpers
from . import factories as f
from .ballot_helpers import publish, token_and_people

_names = itertools.count(1)


def make_user(role: str, username: str | None = None, **scope):
    """admin_helpers.make_user with a name that cannot repeat within a test."""
    return admin_helpers.make_user(role, username=username or f"{role}{next(_names)}", **scope)


def _forget_csrf() -> None:
    """The test's app context is shared by the requests (so is `g`), and Flask-WTF caches the
    CSRF token in `g`: with several signed-in clients in one test, drop it between them."""
    g.pop("csrf_token", None)


def sign_in(client, user):
    _forget_csrf()
    response = admin_helpers.sign_in(client, user)
    assert response.status_code == 302, "sign-in failed"
    return response


def form_token(client, path: str) -> str:
    _forget_csrf()
    return admin_helpers.form_token(client, path)


def run_worker() -> None:
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


@pytest.fixture
def city(database):
    heze = f.region(code="heze", name="菏泽市", kind="city")
    county = f.region(code="caoxian", name="曹县", kind="county")
    spj = f.department(region=heze, code="spj", name="市审批局")
    other = f.department(region=heze, code="sgaj", name="市公安局")
    county_dept = f.department(region=county, code="cxspj", name="曹县审批局")
    x, y = f.office(spj, name="企业登记窗口"), f.office(spj, name="社保窗口")
    other_office = f.office(other, name="户政窗口")
    county_office = f.office(county_dept, name="曹县窗口")
    people = {
        "M": f.person(spj, Role.MAIN_LEADER, name="王建国"),
        "L": f.person(spj, Role.LEADER_IN_CHARGE, name="李海燕", overseen_offices=[x]),
        "H": f.person(spj, Role.OFFICE_HEAD, office=x, name="张丽娜"),
        "S": f.person(spj, Role.STAFF, office=x, name="刘文博"),
        "P": f.person(spj, Role.OFFICE_HEAD, office=y, name="赵敏"),
    }
    f.person(other, Role.STAFF, office=other_office, name="孙强")
    f.person(county_dept, Role.STAFF, office=county_office, name="周立")
    db.session.commit()
    return {"heze": heze, "county": county, "spj": spj, "other": other, "county_dept": county_dept, "X": x, "Y": y,
            "other_office": other_office, "county_office": county_office,
            **{k: p.id for k, p in people.items()}}


def china_input(moment: dt.datetime) -> str:
    """A UTC moment as typed into a datetime-local field in China time."""
    return rounds.to_china(moment).strftime("%Y-%m-%dT%H:%M")


def vote(app, office, levels: dict[int, str], tags: dict[int, list[str]] | None = None,
         notes: dict[int, str] | None = None) -> None:
    """One voter (a fresh browser) casts a ballot on the office page."""
    client = app.test_client()
    token, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
    assert sorted(levels) == people
    form = {"token": token, **{f"r{p}": level for p, level in levels.items()}}
    form.update({f"t{p}": values for p, values in (tags or {}).items()})
    form.update({f"n{p}": note for p, note in (notes or {}).items()})
    response = client.post(f"/o/{office.code}/ballot", data=form)
    assert "感谢您的评价" in response.get_data(as_text=True), text(response)[:500]


def cast_all(app, c) -> None:
    M, L, H, S, P = (c[k] for k in "MLHSP")
    x, y = c["X"], c["Y"]
    vote(app, x, {M: "satisfied", L: "satisfied", H: "satisfied", S: "satisfied"})
    vote(app, x, {M: "satisfied", L: "satisfied", H: "satisfied", S: "satisfied"})
    vote(app, x, {M: "fairly_satisfied", L: "fairly_satisfied", H: "fairly_satisfied", S: "fairly_satisfied"})
    vote(app, x, {M: "satisfied", L: "satisfied", H: "satisfied", S: "dissatisfied"},
         {S: ["obstruction"]}, {S: "办事拖拉"})
    vote(app, x, {M: "unknown", L: "fairly_satisfied", H: "basically_satisfied", S: "satisfied"},
         {H: ["low_efficiency"]}, {H: "等待时间长"})
    vote(app, y, {M: "satisfied", P: "dissatisfied"}, {P: ["poor_attitude"]}, {P: "态度一般"})
    vote(app, y, {M: "fairly_satisfied", P: "basically_satisfied"})


def post(client, path: str, data: dict | None = None, form_page: str | None = None):
    token = form_token(client, form_page or path)
    return client.post(path, data={**(data or {}), "csrf_token": token})


def create_round_form(client, c, **overrides):
    now = rounds.utcnow()
    data = {"name": "2026年上半年", "region_id": str(c["heze"].id), "opens_at": china_input(now - dt.timedelta(hours=1)),
            "closes_at": china_input(now + dt.timedelta(days=30)), **overrides}
    return post(client, "/admin/rounds/new", data)


def test_a_coordinator_runs_a_whole_round_from_the_admin_pages(app, city):
    c = city
    coordinator = make_user("coordinator", region=c["heze"], username="shi")
    client = app.test_client()
    sign_in(client, coordinator)

    # Create: times typed in China time are stored in UTC.
    opens = (rounds.utcnow() - dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    response = create_round_form(client, c, opens_at=china_input(opens))
    assert response.status_code == 302
    round_ = db.session.scalar(select(Round))
    assert (round_.name, round_.status, round_.opens_at, round_.region_id) == ("2026年上半年", "draft", opens,
                                                                                  c["heze"].id)
    page = f"/admin/rounds/{round_.id}"
    assert response.location == page
    assert "2026年上半年" in text(client.get("/admin/rounds"))

    # Open, vote through the public pages, watch the turnout.
    assert post(client, f"{page}/open", form_page=page).status_code == 302
    assert db.session.get(Round, round_.id).status == "open"
    cast_all(app, c)
    detail = text(client.get(page))
    assert "进行中" in detail or "open" in detail
    # Sealed ballots show no office: the round's total only, per office after the tally.
    assert "已收评价票 7 张" in detail and "企业登记窗口 5" not in detail
    home = text(client.get("/admin/"))
    assert re.search(r"2026年上半年 菏泽市 7 ", home) and "各科室参评情况" not in home  # no count per office yet

    # Publishing before the tally is refused with a message.
    refused = post(client, f"{page}/publish", form_page=page)
    assert refused.status_code == 302
    assert "只有已统计的评价轮次可以发布" in text(client.get(page))

    # Close: the tally is queued at once, its progress shown in Chinese; the worker runs it.
    post(client, f"{page}/close", form_page=page)
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == "closed"
    assert jobs.queue().job_ids == [f"tally-{round_.id}"]
    waiting = text(client.get(page))
    assert "统计进度：排队等待统计" in waiting and 'value="0"' in client.get(page).get_data(as_text=True)
    post(client, f"{page}/tally", form_page=page)  # a second click: the same job
    assert jobs.queue().job_ids == [f"tally-{round_.id}"]
    run_worker()
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == "tallied"

    review = text(client.get(page))
    for expected in ("93.33", "92.00", "88.00", "82.00", "45.00", "88.95", "67.50", "80.07"):
        assert expected in review, expected
    assert re.search(r"市审批局 80\.07 良好", review)
    assert re.search(r"赵敏 .*45\.00 不合格", review)
    assert "样本较少" in review  # fewer than 10 scored ratings
    assert "亮黄牌提醒" in review and "社保窗口" in review  # Y graded 一般
    assert "赵敏（个人）" in review  # 45.00 不合格: her own review reference
    result = db.session.scalar(select(Result).where(Result.subject_kind == "office", Result.subject_id == c["Y"].id))
    assert (result.score, result.grade) == (D("67.50"), "average")

    # The review: nothing publishes while a consequence is undecided.
    records = {(r.kind, r.subject_kind, r.subject_id): r for r in db.session.scalars(select(ConsequenceRecord))}
    pending = len(records)
    post(client, f"{page}/publish", form_page=page)
    assert f"还有{pending}项结果运用未审核" in text(client.get(page))
    card = records[("yellow_card", "office", c["Y"].id)]
    decide = f"{page}/consequences/{card.id}"
    post(client, decide, {"decision": "struck", "reason": "不"}, form_page=page)
    assert "撤销须填写审核意见" in text(client.get(page))
    post(client, decide, {"decision": "struck", "reason": "该窗口本轮人员调整，经核实不予亮牌"}, form_page=page)
    own = records[("review_reference", "person", c["P"])]  # 赵敏 45.00
    assert own.low_sample  # 4 scored ratings
    post(client, f"{page}/consequences/{own.id}", {"decision": "confirmed"}, form_page=page)
    assert "已知样本不足，仍予确认" in text(client.get(page))
    post(client, f"{page}/consequences/confirm", form_page=page)  # the rest, low-sample ones left
    db.session.expire_all()
    left = db.session.scalars(select(ConsequenceRecord).where(ConsequenceRecord.decision == "pending")).all()
    assert left and all(r.low_sample for r in left)
    for r in left:
        post(client, f"{page}/consequences/{r.id}", {"decision": "confirmed", "sample_acknowledged": "1"},
             form_page=page)
    db.session.expire_all()
    assert db.session.get(ConsequenceRecord, card.id).decision == "struck"
    assert db.session.get(ConsequenceRecord, card.id).decided_by == "shi"

    # The dashboard: ballots per office now, 0 and low samples marked, department subtotals, sortable.
    home = text(client.get("/admin/"))
    assert "各科室参评情况：2026年上半年" in home and "共 7 张评价票" in home
    assert re.search(r"市公安局 0 1个科室0票 户政窗口 0 0票 市审批局 7 1个科室样本不足 社保窗口 2 样本不足 "
                     r"另有1个科室票数正常（ 显示全部 ） 合计 7", home)  # fewest first; the offices to act on
    everything = text(client.get("/admin/?all=1"))
    assert re.search(r"社保窗口 2 样本不足 企业登记窗口 5 合计 7", everything)
    assert re.search(r"企业登记窗口 5 +社保窗口 2 样本不足", text(client.get("/admin/?sort=name&all=1")))
    sheet = load_workbook(io.BytesIO(client.get(f"/admin/rounds/{round_.id}/turnout.xlsx").data))["参评情况"]
    rows = [list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert ["市审批局", "（小计）", 7, None] in rows and ["市公安局", "户政窗口", 0, "0票"] in rows
    assert rows[-1] == ["合计", None, 7, None]
    export = client.get(f"/admin/rounds/{round_.id}/consequences.xlsx")
    assert f"filename*=UTF-8''{quote('结果运用-2026年上半年.xlsx')}" in export.headers["Content-Disposition"]
    review_rows = [list(r) for r in load_workbook(io.BytesIO(export.data))["结果运用"].iter_rows(min_row=3, values_only=True)]
    assert any(r[6] == "已撤销" and r[7] == "该窗口本轮人员调整，经核实不予亮牌" and r[8] == "shi" for r in review_rows)

    # The circular carries the confirmed consequences only (and the download is in the audit trail).
    xlsx = client.get(f"/admin/rounds/{round_.id}/circular.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(xlsx.data))["结果运用"]
    rows = [[cell for cell in row] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert len(rows) == pending - 1 and not any("社保窗口" in (row[1] or "") and "黄牌" in row[0] for row in rows)

    post(client, f"{page}/publish", form_page=page)
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == "published"
    public = text(app.test_client().get(f"/results/{round_.id}"))
    assert "市审批局" in public

    log = load_workbook(io.BytesIO(client.get("/admin/audit.xlsx?action=consequence.review").data))["审计日志"]
    said = [r[3] for r in log.iter_rows(min_row=3, values_only=True)]
    assert any("撤销，理由：该窗口本轮人员调整" in line for line in said) and len(said) == pending
    reviews = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "consequence.review")).all()
    assert len(reviews) == pending and all(e.actor == "shi" for e in reviews)
    assert {e.summary["reason"] for e in reviews if e.summary["decision"] == "struck"} == {"该窗口本轮人员调整，经核实不予亮牌"}
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target == f"round:{round_.id}")
                                 .order_by(AuditEntry.seq)).all()
    assert all(e.actor == "shi" for e in entries)
    statuses = [e.summary["after"].get("status") for e in entries if e.action == "round.update"]
    assert [s for s in statuses if s] == ["open", "closed", "published"]
    actions = [e.action for e in entries]
    assert actions.count("round.tally") == 1 and "results.export" in actions  # the second click
    assert actions.index("round.tally") < len(actions) - 1  # before the publish


def test_round_form_errors_are_shown_on_the_form(app, city):
    c = city
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=c["heze"]))
    now = rounds.utcnow()
    response = create_round_form(client, c, closes_at=china_input(now - dt.timedelta(days=1)))
    assert response.status_code == 400 and "结束时间必须晚于开始时间" in text(response)
    response = create_round_form(client, c, opens_at="明天")
    assert response.status_code == 400 and "时间格式不正确" in text(response)
    assert db.session.scalar(select(Round)) is None

    # A county coordinator may only choose their county.
    county_client = app.test_client()
    sign_in(county_client, make_user("coordinator", region=c["county"]))
    response = create_round_form(county_client, c)
    assert response.status_code == 400 and db.session.scalar(select(Round)) is None


def test_county_coordinator_cannot_see_the_citys_rounds(app, city):
    c = city
    now = rounds.utcnow()
    city_round = rounds.create_round("市级轮次", "heze", now, now + dt.timedelta(days=1))
    county_round = rounds.create_round("曹县轮次", "caoxian", now, now + dt.timedelta(days=1))
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=c["county"]))
    listing = text(client.get("/admin/rounds"))
    assert "曹县轮次" in listing and "市级轮次" not in listing
    assert client.get(f"/admin/rounds/{city_round.id}").status_code == 404
    assert client.post(f"/admin/rounds/{city_round.id}/open",
                       data={"csrf_token": form_token(client, f"/admin/rounds/{county_round.id}")}).status_code == 404
    assert db.session.get(Round, city_round.id).status == "draft"
    assert client.get(f"/admin/rounds/{county_round.id}").status_code == 200
    assert client.get(f"/admin/rounds/{city_round.id}/circular.xlsx").status_code == 404


def tallied_round(app, c) -> int:
    now = rounds.utcnow()
    round_ = rounds.create_round("2026年上半年", "heze", now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    rounds.open_round(round_.id)
    cast_all(app, c)
    rounds.close_round(round_.id)
    from ballot_service.services.tally import tally_round

    tally_round(round_.id)
    return round_.id


def test_department_admin_sees_only_their_department_and_comments_under_k(app, city):
    c = city
    round_id = tallied_round(app, c)
    admin = make_user("department_admin", department=c["spj"], username="spjadmin")
    client = app.test_client()
    sign_in(client, admin)
    mine = f"/admin/rounds/{round_id}/departments/{c['spj'].id}/results"

    # Before publication: nothing of the results, nor the comments.
    assert "尚未发布" in text(client.get(mine)) and "80.07" not in text(client.get(mine))
    assert "2026年上半年" not in text(client.get("/admin/results"))
    publish(round_id)

    assert "2026年上半年" in text(client.get("/admin/results"))
    page = text(client.get(mine))
    assert re.search(r"部门得分： 80\.07 等次： 良好", page)
    # k = 5: Y (2 ballots) shows no score, nor X (88.95) whose score would rebuild Y's; 赵敏 (45.00,
    # 2 ratings) neither.
    assert "88.95" not in page and "45.00" not in page and page.count("样本不足") == 4 and "张丽娜" in page
    # Comments pooled over the department's 7 ballots, without the 故意刁难 rating's note (办事拖拉).
    assert re.search(r"市审批局 7张评价票 问题标签：工作效率低 1；服务意识差 1", page)
    assert "等待时间长" in page and "态度一般" in page
    assert "办事拖拉" not in page and "故意刁难" not in page.split("不在此显示。")[1]
    assert "仅协调员和纪检监察可见" not in page
    assert "结果运用" not in page  # consequences are for coordinators and auditors

    # Another department's view, and the round pages, are not theirs.
    assert client.get(f"/admin/rounds/{round_id}/departments/{c['other'].id}/results").status_code == 404
    assert client.get(f"/admin/rounds/{round_id}/departments/{c['county_dept'].id}/results").status_code == 404
    assert client.get(f"/admin/rounds/{round_id}").status_code == 403
    assert client.get(f"/admin/rounds/{round_id}/circular.xlsx").status_code == 403
    # Ballots per office are not a department's (below k they would tell a hidden cell).
    assert "各科室参评情况" not in text(client.get("/admin/"))
    assert client.get(f"/admin/rounds/{round_id}/turnout.xlsx").status_code == 403


def test_comments_of_an_office_appear_once_it_reaches_k_ballots(app, city):
    c = city
    round_id = tallied_round(app, c)
    publish(round_id)
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=c["heze"]))
    # With k = 2 (the round's snapshot), Y's two ballots are enough.
    round_ = db.session.get(Round, round_id)
    round_.config = {**round_.config, "comment_threshold": 2}
    db.session.commit()
    page = text(client.get(f"/admin/rounds/{round_id}/departments/{c['spj'].id}/results"))
    assert "态度一般" in page and "服务意识差 1" in page
    assert "亮黄牌提醒" in page  # coordinators see the consequences
    # and the misconduct reports, which the department never sees
    assert re.search(r"吃拿索要、故意刁难反映 .* 企业登记窗口 刘文博 科员 1 反映的具体情况（全部门合并）： 办事拖拉", page)


def test_discipline_inspectors_see_misconduct_reports_and_no_other_comments(app, city):
    c = city
    round_id = tallied_round(app, c)
    client = app.test_client()
    sign_in(client, make_user("discipline", region=c["heze"]))
    page = text(client.get(f"/admin/rounds/{round_id}/departments/{c['spj'].id}/results"))
    assert re.search(r"企业登记窗口 刘文博 科员 1 反映的具体情况（全部门合并）： 办事拖拉", page) and "80.07" in page
    assert "意见建议与问题标签" not in page and "等待时间长" not in page


def test_auditor_reviews_but_cannot_act(app, city):
    c = city
    round_id = tallied_round(app, c)
    client = app.test_client()
    sign_in(client, make_user("auditor", region=c["heze"]))
    page = text(client.get(f"/admin/rounds/{round_id}"))
    assert "80.07" in page and "亮黄牌提醒" in page and "发布结果" not in page
    assert client.post(f"/admin/rounds/{round_id}/publish",
                       data={"csrf_token": form_token(client, f"/admin/rounds/{round_id}")}).status_code == 403
    assert client.get(f"/admin/rounds/{round_id}/circular.xlsx").status_code == 200


def test_poster_job_progress_reaches_100_and_downloads(app, city):
    c = city
    manager = make_user("hall_manager", offices=[c["X"]], username="hallx")
    client = app.test_client()
    sign_in(client, manager)
    form = text(client.get("/admin/posters"))
    assert "企业登记窗口" in form and "社保窗口" not in form

    # Another office than theirs is refused on the form.
    refused = post(client, "/admin/posters", {"template": "counter_card", "fmt": "pdf", "scope": "office",
                                              "office": c["Y"].code})
    assert refused.status_code == 400 and "不在您的管理范围内" in text(refused)
    assert jobs.queue().count == 0

    response = post(client, "/admin/posters", {"template": "counter_card", "fmt": "pdf", "scope": "office",
                                               "office": c["X"].code})
    assert response.status_code == 302
    job_page = response.location
    page = client.get(job_page).get_data(as_text=True)
    assert "<progress" in page and 'value="0"' in page and "/status" in page
    assert '<p id="poster-download-row" hidden>' in page  # no 下载 until the file is there
    assert '<meta http-equiv="refresh"' in page  # without JavaScript the page reloads itself
    status = client.get(f"{job_page}/status").json
    assert status["percent"] == 0 and status["download_url"] is None

    run_worker()
    status = client.get(f"{job_page}/status").json
    assert (status["state"], status["done"], status["total"], status["percent"]) == ("done", 1, 1, 100)
    finished = client.get(job_page).get_data(as_text=True)
    assert 'value="100"' in finished and "refresh" not in finished
    download = client.get(status["download_url"])
    assert download.status_code == 200 and download.data[:5] == b"%PDF-"
    assert download.mimetype == "application/pdf"
    office = c["X"]
    name = f"{office.department.name}-{office.name}-窗口台卡（A6，一张A4纸印四份）.pdf"
    assert download.headers["Content-Disposition"].endswith("filename*=UTF-8''" + urllib.parse.quote(name))

    # Someone whose scope does not cover the office cannot see the job.
    other = app.test_client()
    sign_in(other, make_user("hall_manager", offices=[c["Y"]], username="hally"))
    assert other.get(job_page).status_code == 404
    assert other.get(status["download_url"]).status_code == 404
    county = app.test_client()
    sign_in(county, make_user("department_admin", department=c["other"], username="gaj"))
    assert county.get(f"{job_page}/status").status_code == 404
    # ...while the department's admin can.
    dept = app.test_client()
    sign_in(dept, make_user("department_admin", department=c["spj"], username="spjadmin"))
    assert dept.get(job_page).status_code == 200
    assert dept.get("/admin/posters/999999").status_code == 404
