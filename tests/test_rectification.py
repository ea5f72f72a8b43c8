"""Rectification tasks (整改) after a round is published, on a real database and Redis: opening,
findings, deadline, the department's submission, the coordinator's return and acceptance,
scope, the dashboard's overdue list and the public card's 整改情况. Worked by hand:

City 菏泽市; department 市审批局 (spj): office X — main leader M, leader-in-charge L (oversees X),
staff S; office Y — M, office head P. Department 市公安局 (sgaj): office Z — staff Q. k = 5.
Ballots:
  X ×6: M 满意, L 满意 on all six; S 不满意 ×4 (服务意识差 each, x1's note “态度生硬”),
        基本满意 (工作效率低), 基本满意 (吃拿索要, note “要好处”)
  Y ×5: M 不了解 on all five; P 比较满意 ×1, 基本满意 ×4 (y1's note “材料说不清”)
  Z ×5: Q 满意
People: M 600/6 = 100.00, L 100.00, S (4·30 + 2·60)/6 = 240/6 = 40.00 不合格, P (80 + 4·60)/5 = 64.00 一般.
Offices: X (600 + 600 + 240)/18 = 80.00 良好, non-serious tags 4 + 1 = 5 ≥ threshold 5;
  Y 320/5 = 64.00 一般 (M's 不了解 not scored).
Department spj: (100 + 100 + 40 + 64)/4 = 76.00 合格 (no task).
Ballots behind each figure: X 6, Y 5, M 6 (不了解 on Y not counted), L 6, S 6, P 5; spj 11: none below k.
Tasks: S 不合格, P 一般, Y 一般 (grade), X (tags) — four, all 市审批局's; none for 市公安局.
"""

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from ballot_service.domain.ballots import Rating
from ballot_service.domain.rectification import china_day
from ballot_service.extensions import db
from ballot_service.models import AuditEntry, Rectification, Round
from ballot_service.services import rectification, rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import cast, publish, window
from tests.test_admin_rounds import city, form_token, make_user, sign_in, text  # noqa: F401


def _ballots(c, r: int) -> None:
    M, L, S, P = (c[k] for k in "MLSP")
    s_ratings = [("dissatisfied", ("poor_attitude",), "态度生硬")] + [("dissatisfied", ("poor_attitude",), None)] * 3 \
        + [("basically_satisfied", ("low_efficiency",), None), ("basically_satisfied", ("bribery",), "要好处")]
    for level, tags, note in s_ratings:
        cast(r, c["X"].id, [Rating(M, "satisfied", (), None), Rating(L, "satisfied", (), None),
                            Rating(S, level, tags, note)])
    for n, level in enumerate(["fairly_satisfied"] + ["basically_satisfied"] * 4):
        cast(r, c["Y"].id, [Rating(M, "unknown", (), None), Rating(P, level, (), "材料说不清" if n == 1 else None)])
    for _ in range(5):
        cast(r, c["other_office"].id, [Rating(c["Q"], "satisfied", (), None)])


@pytest.fixture
def published(city):  # noqa: F811
    from ballot_service.models import Person

    city["Q"] = db.session.scalar(select(Person.id).where(Person.name == "孙强"))
    r = rounds.create_round("2026年上半年", "heze", *window()).id
    rounds.open_round(r)
    db.session.commit()
    _ballots(city, r)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    return city, r


def tasks_of(round_id: int) -> dict[tuple[str, int, str], Rectification]:
    return {(t.subject_kind, t.subject_id, t.trigger): t for t in db.session.scalars(
        select(Rectification).where(Rectification.round_id == round_id))}


def test_publishing_opens_the_tasks_with_their_findings_and_deadline(published):
    c, r = published
    round_ = db.session.get(Round, r)
    assert round_.config["rectify_days"] == 15 and round_.config["rectify_tag_threshold"] == 5  # snapshotted
    tasks = tasks_of(r)
    assert set(tasks) == {("person", c["S"], "grade"), ("person", c["P"], "grade"),
                          ("office", c["Y"].id, "grade"), ("office", c["X"].id, "tags")}
    assert {t.department_id for t in tasks.values()} == {c["spj"].id}
    due = china_day(round_.published_at) + dt.timedelta(days=15)
    assert all(t.deadline == due and t.status == "open" for t in tasks.values())

    s = tasks[("person", c["S"], "grade")].findings
    assert (s["subject"], s["grade"], s["score"], s["ballots"], s["scored"]) == ("刘文博（科员）", "fail", "40.00", 6, 6)
    assert s["levels"] == [["满意", 0], ["比较满意", 0], ["基本满意", 2], ["不满意", 4], ["不了解情况", 0]]
    assert s["tags"] == [["服务意识差", 4], ["工作效率低", 1]]  # 吃拿索要 not in the findings
    p = tasks[("person", c["P"], "grade")].findings
    assert (p["grade"], p["score"], p["levels"][1:3]) == ("average", "64.00", [["比较满意", 1], ["基本满意", 4]])
    y = tasks[("office", c["Y"].id, "grade")].findings
    assert (y["subject"], y["grade"], y["score"], y["ballots"], y["levels"][4]) == (
        "社保窗口", "average", "64.00", 5, ["不了解情况", 5])
    x = tasks[("office", c["X"].id, "tags")].findings
    assert (x["grade"], x["score"], x["tag_total"], x["threshold"]) == ("good", "80.00", 5, 5)
    assert x["levels"] == [["满意", 12], ["比较满意", 0], ["基本满意", 2], ["不满意", 4], ["不了解情况", 0]]

    # Idempotent: opening again (or publishing again) adds nothing.
    assert rectification.open_for_round(r) == []
    rounds.publish_round(r)
    db.session.commit()
    assert len(tasks_of(r)) == 4
    opened = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "rectification.open")).all()
    assert len(opened) <= 1  # the tests publish without an actor; the admin's publish writes one


def test_the_threshold_and_days_come_from_the_round(city):  # noqa: F811
    from ballot_service.models import Person

    city["Q"] = db.session.scalar(select(Person.id).where(Person.name == "孙强"))
    r = rounds.create_round("阈值", "heze", *window()).id
    rounds.open_round(r)
    round_ = db.session.get(Round, r)
    round_.config = {**round_.config, "rectify_tag_threshold": 6, "rectify_days": 30}
    db.session.commit()
    _ballots(city, r)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    tasks = tasks_of(r)
    assert ("office", city["X"].id, "tags") not in tasks and len(tasks) == 3  # X's 5 tags < 6
    published_on = china_day(db.session.get(Round, r).published_at)
    assert {t.deadline for t in tasks.values()} == {published_on + dt.timedelta(days=30)}


def test_subjects_hidden_below_k_open_nothing(city):  # noqa: F811
    """One ballot at Y rating P 不满意: P and Y have 1 ballot (< k = 5), hidden: no task."""
    r = rounds.create_round("单票", "heze", *window()).id
    rounds.open_round(r)
    db.session.commit()
    cast(r, city["Y"].id, [Rating(city["M"], "unknown", (), None), Rating(city["P"], "dissatisfied", (), None)])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    assert tasks_of(r) == {}


def _post(client, path: str, data: dict, page: str | None = None):
    return client.post(path, data={"csrf_token": form_token(client, page or path), **data})


def test_submit_return_resubmit_accept_by_scope(app, published):
    c, r = published
    task = tasks_of(r)[("person", c["S"], "grade")]
    page = f"/admin/rectifications/{task.id}"
    coordinator = make_user("coordinator", region=c["heze"])
    own_admin = make_user("department_admin", department=c["spj"])
    other_admin = make_user("department_admin", department=c["other"])
    coordinator_client, own, other = app.test_client(), app.test_client(), app.test_client()
    sign_in(coordinator_client, coordinator)
    sign_in(own, own_admin)
    sign_in(other, other_admin)

    listing = text(own.get("/admin/rectifications"))
    assert "刘文博" in listing and "社保窗口" in listing and "企业登记窗口" in listing and "待整改" in listing
    assert "整改" in text(own.get("/admin/"))  # the navigation links the list
    # Another department's admin sees none of it and cannot act on it.
    assert "没有符合条件的整改任务" in text(other.get("/admin/rectifications"))
    assert other.get(page).status_code == 404
    assert _post(other, f"{page}/submit", {"measures": "x", "report": "y"}, "/admin/rectifications").status_code == 404

    # The department sees grade, distribution and comments pooled, never the serious reports.
    body = text(own.get(page))
    assert "不合格" in body and "40.00" in body and "基本满意 不满意 不了解情况 0 0 2 4 0" in body
    assert "服务意识差 4；工作效率低 1" in body and "态度生硬" in body and "材料说不清" in body
    assert "吃拿索要" not in body.replace("吃拿索要、故意刁难的反映", "") and "要好处" not in body
    coordinator_body = text(coordinator_client.get(page))
    assert "吃拿索要 1" in coordinator_body and "本对象的问题标签：服务意识差 4；工作效率低 1" in coordinator_body

    # Bad input: a clear message, nothing written.
    empty = _post(own, f"{page}/submit", {"measures": "  ", "report": "已完成"}, page)
    assert empty.status_code == 400 and "请填写整改措施" in text(empty)
    db.session.refresh(task)
    assert task.status == "open" and task.measures is None
    # The department may not accept its own task; nothing to accept before a submission.
    assert _post(own, f"{page}/accept", {"note": ""}, page).status_code == 403
    early = _post(coordinator_client, f"{page}/accept", {"note": ""}, page)
    assert early.status_code == 409 and "部门尚未提交整改情况，不能验收" in text(early)

    done = _post(own, f"{page}/submit", {"measures": "开展服务礼仪培训", "report": "已培训两次"}, page)
    assert done.status_code == 302
    db.session.refresh(task)
    assert (task.status, task.measures, task.report, task.submitted_by) == (
        "submitted", "开展服务礼仪培训", "已培训两次", own_admin.username)
    again = _post(own, f"{page}/submit", {"measures": "再交一次", "report": "再交"}, page)
    assert again.status_code == 409 and "不能重复提交" in text(again)

    short = _post(coordinator_client, f"{page}/return", {"note": " 不行 "}, page)
    assert short.status_code == 409 and "退回整改须写明理由（至少4个字）" in text(short)
    db.session.refresh(task)
    assert task.status == "submitted"
    assert _post(coordinator_client, f"{page}/return", {"note": "措施不够具体"}, page).status_code == 302
    db.session.refresh(task)
    assert (task.status, task.review_note, task.reviewed_by) == ("returned", "措施不够具体", coordinator.username)
    assert "措施不够具体" in text(own.get(page)) and "已退回" in text(own.get(page))

    assert _post(own, f"{page}/submit", {"measures": "培训并调整窗口岗位", "report": "已完成，群众反映好转"},
                 page).status_code == 302
    assert _post(coordinator_client, f"{page}/accept", {"note": ""}, page).status_code == 302
    db.session.refresh(task)
    assert task.status == "accepted" and task.accepted_at is not None
    assert "已验收" in text(own.get(page)) and "按期完成" in text(own.get(page))

    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"rectification:{task.id}")
                                 .order_by(AuditEntry.seq)).all()
    assert actions == ["rectification.submit", "rectification.return", "rectification.submit",
                       "rectification.accept"]
    assert not db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.like("rectification.%"), AuditEntry.summary.cast(db.String).like("%要好处%")))

    # Filters: by status, by round; a bad one is said so.
    accepted = text(coordinator_client.get(f"/admin/rectifications?status=accepted&round={r}"))
    assert "刘文博" in accepted and "社保窗口" not in accepted
    bad = coordinator_client.get("/admin/rectifications?status=nope&round=x")
    assert bad.status_code == 400 and "没有这种状态" in text(bad) and "轮次编号应为数字" in text(bad)


def test_overdue_on_the_dashboard_and_the_public_summary(app, client, published):
    c, r = published
    tasks = tasks_of(r)
    today = rectification.china_today()
    late = tasks[("office", c["Y"].id, "grade")]
    late.deadline = today - dt.timedelta(days=3)
    accepted = tasks[("person", c["S"], "grade")]
    accepted.status, accepted.accepted_at = "accepted", rounds.utcnow()
    db.session.commit()

    coordinator, outsider = make_user("coordinator", region=c["heze"]), make_user("coordinator", region=c["county"])
    own_admin = make_user("department_admin", department=c["spj"])
    ours, theirs, dept = app.test_client(), app.test_client(), app.test_client()
    sign_in(ours, coordinator)
    sign_in(theirs, outsider)
    sign_in(dept, own_admin)
    home = text(ours.get("/admin/"))
    assert "逾期未完成的整改任务： 1 项" in home
    assert re.search(r"市审批局 社保窗口 科室 2026年上半年 \d+年\d+月\d+日 3 待整改", home)
    assert "逾期未完成的整改任务" not in text(theirs.get("/admin/"))  # another county's coordinator
    assert "逾期未完成的整改任务： 1 项" in text(dept.get("/admin/"))  # the department's own
    page = text(ours.get(f"/admin/rectifications/{late.id}"))
    assert "已逾期3天" in page
    assert "社保窗口" in text(ours.get("/admin/rectifications?status=overdue"))

    # 4 tasks: 1 accepted on time, 1 overdue, 2 open within their deadline.
    # Open 3 (1 overdue), done 1; on time 1 of (1 done + 1 overdue) = 50.00%.
    summary = rectification.public_summary(r, c["spj"].id)
    assert (summary.total, summary.open, summary.done, summary.overdue, summary.on_time, summary.decided) == (
        4, 3, 1, 1, 1, 2)
    card = text(client.get(f"/results/{r}/d/spj"))
    assert "整改情况" in card and "共 4 项须整改" in card
    assert "整改中 3 项，其中已逾期 1 项" in card and "已完成（验收通过） 1 项" in card
    assert "按期完成率 50.00%" in card and "（按期完成1项 / 已完成或已逾期2项）" in card
    other = text(client.get(f"/results/{r}/d/sgaj"))
    assert "本轮没有须整改的问题" in other
