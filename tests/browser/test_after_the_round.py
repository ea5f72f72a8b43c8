"""After the round, in headless Chromium against the live app: the coordinator publishes; the
rectification task the 不合格 opened is filed by the department, returned, filed again and
accepted; the department appeals the result of a person who was not on duty, the coordinator
upholds it, and the public report card — on a WeChat phone — shows both results and the 整改情况.

The numbers are tests/test_appeals.py's, worked by hand there: S1 45.00 不合格 is excluded, the
department goes from 76.83 合格 to 84.79 良好."""

import os
import re

import pytest
from sqlalchemy import select

from ballot_service import jobs
from ballot_service.extensions import db
from ballot_service.models import ConsequenceRecord, Department, Rectification, Round
from ballot_service.services import admin_rounds, rounds
from ballot_service.services.tally import tally_round
from tests.admin_helpers import PASSWORD, make_user
from tests.test_results import set_k
from tests.test_tally import city, first_round  # noqa: F401  (fixture and round builder)

from .conftest import ARTIFACTS

pytestmark = pytest.mark.usefixtures("live_server")


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


def sign_in(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    return page


def test_publish_rectify_appeal_and_retally_in_the_browser(browser, phone, live_server, city):  # noqa: F811
    c = city
    r = first_round(c)
    set_k(r, 1)
    rounds.close_round(r)
    jobs.tally.drop_queued(r)
    tally_round(r)
    for consequence_id in db.session.scalars(select(ConsequenceRecord.id).where(ConsequenceRecord.round_id == r)):
        admin_rounds.decide_consequence(r, consequence_id, "confirmed", "", sample_acknowledged=True)
    db.session.commit()
    region = db.session.get(Round, r).region
    department = db.session.get(Department, c["A"])
    make_user("coordinator", region=region, username="chief")
    make_user("department_admin", region=region, department=department, username="deptA")

    chief = sign_in(browser, live_server, "chief")
    chief.goto(f"{live_server}/admin/rounds/{r}")
    chief.get_by_role("button", name="发布结果").click()
    chief.wait_for_load_state()
    assert db.session.get(Round, r, populate_existing=True).status == "published"

    # S1's 45.00 不合格 opened a task for department A.
    task = db.session.scalar(select(Rectification).where(Rectification.round_id == r,
                                                         Rectification.subject_kind == "person"))
    assert task is not None and task.subject_id == c["S1"] and task.department_id == c["A"]
    dept = sign_in(browser, live_server, "deptA")
    dept.goto(f"{live_server}/admin/rectifications")
    dept.get_by_role("link", name="查看", exact=True).click()
    dept.fill("textarea[name=measures]", "组织窗口人员服务规范培训，实行首问负责制。")
    dept.fill("textarea[name=report]", "已完成培训两次，群众反映的问题已逐一回访。")
    dept.get_by_role("button", name="提交验收").click()
    dept.wait_for_load_state()
    shot(dept, "after-round-1-task-submitted.png")

    task_url = f"{live_server}/admin/rectifications/{task.id}"
    chief.goto(task_url)
    chief.fill("textarea[name=note]", "回访记录不全，请补充回访对象和结果。")
    chief.get_by_role("button", name="退回整改").click()
    chief.wait_for_load_state()
    assert "退回" in chief.content()

    dept.goto(task_url)
    assert "协调员已退回" in dept.content()
    dept.fill("textarea[name=measures]", "组织窗口人员服务规范培训，实行首问负责制。")
    dept.fill("textarea[name=report]", "已完成培训两次；回访企业12家，均表示问题已解决（回访记录附后）。")
    dept.get_by_role("button", name="提交验收").click()
    dept.wait_for_load_state()

    chief.goto(task_url)
    chief.get_by_role("button", name="验收通过").click()
    chief.wait_for_load_state()
    db.session.expire_all()
    assert db.session.get(Rectification, task.id).status == "accepted"
    shot(chief, "after-round-2-task-accepted.png")

    # The department appeals S1's result: not on duty this round.
    dept.goto(f"{live_server}/admin/appeals")
    dept.get_by_role("link", name="提出申诉").click()
    dept.check("input[name=kind][value=person]")
    dept.select_option("select[name=person_id]", str(c["S1"]))
    dept.fill("textarea[name=reasons]", "该同志本轮评价期间脱产参加省里的业务培训，未在X科窗口值守。")
    leave = os.path.join(ARTIFACTS, "培训通知.pdf")
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(leave, "wb") as fh:
        fh.write(b"%PDF-1.4\n% a leave slip\n")
    dept.set_input_files("input[name=attachments]", leave)
    dept.get_by_role("button", name="提交申诉").click()
    dept.wait_for_load_state()
    assert "申诉已提交" in dept.content()
    appeal_url = dept.url

    chief.goto(appeal_url)
    assert "培训通知.pdf" in chief.content()
    chief.check("input[name=decision][value=upheld]")
    chief.fill("textarea[name=reason]", "经核实培训通知和考勤记录，该同志本轮未在岗，申诉成立。")
    chief.get_by_role("button", name="提交复核结论").click()
    chief.wait_for_load_state()
    assert "已按申诉结果重新统计（第2版）" in chief.content()
    shot(chief, "after-round-3-appeal-upheld.png")

    phone.goto(f"{live_server}/results/{r}/d/{department.code}")
    body = re.sub(r"\s+", " ", phone.inner_text("body"))
    assert "申诉复核" in body and "共排除评价3条" in body
    assert re.search(r"本部门\s*76\.83分 · 合格\s*84\.79分 · 良好", body)
    assert re.search(r"已完成（验收通过）\s*1\s*项", body) and re.search(r"按期完成率\s*100", body), body
    assert phone.outside_requests == []
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the card scrolls sideways at 390 px ({width})"
    shot(phone, "after-round-4-card-390.png")
