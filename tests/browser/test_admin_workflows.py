"""A coordinator runs a round from the browser: sign in, import a roster with a bad row and
read the row list, create a round for next month, edit it and open it early, print posters while
the progress bar follows the real RQ worker to 100 %, close (the tally starts, its progress
shown), review with one consequence struck, publish and download the circular — in headless
Chromium, against the live app and a real worker process."""

import datetime as dt
import io
import os
import subprocess
import sys
import time

import pytest
from openpyxl import load_workbook
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.services import roster_export, roster_io, rounds
from tests import factories
from tests.admin_helpers import PASSWORD, make_user
from tests.ballot_helpers import all_satisfied, token_and_people

from .conftest import ARTIFACTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


@pytest.fixture
def worker(app, live_server):
    """`python -m worker`, as production runs it, on the test database and Redis."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               MEDIA_ROOT=app.config["MEDIA_ROOT"], KEY_DIR=app.config["KEY_DIR"],
               PUBLIC_BASE_URL=app.config["PUBLIC_BASE_URL"], SECRET_KEY=app.secret_key)
    process = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.terminate()
    process.wait(timeout=30)


def _workbook_with_a_bad_row() -> bytes:
    """The roster template with one new person (row 2) and one whose department code does not
    exist (row 3)."""
    buffer = io.BytesIO()
    roster_export.export_workbook(buffer)
    workbook = load_workbook(io.BytesIO(buffer.getvalue()))
    sheet = workbook[roster_io.SHEETS[0].title]
    good = [c.value for c in sheet[2]]
    sheet.delete_rows(2, sheet.max_row)
    sheet.append([*good[:3], "赵新", good[4], "13900000099", *good[6:-1], ""])  # new: no 编号
    sheet.append(["nope", *good[1:3], "钱多", good[4], "13900000098", *good[6:-1], ""])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def shows(page, text: str) -> bool:
    """Whether the page, once the navigation a click started has loaded, shows `text` (read while
    the page is still navigating, its content is empty)."""
    page.wait_for_load_state()
    try:
        page.get_by_text(text).first.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return False
    return True


def _wait_for_text(page, text: str, seconds: float = 60):
    """Reload until `text` shows (the round page reports the worker's tally)."""
    deadline = time.monotonic() + seconds
    while text not in page.content():
        assert time.monotonic() < deadline, f"“{text}” did not appear"
        time.sleep(0.5)
        page.reload()


def test_a_coordinator_runs_a_round_from_the_browser(app, database, live_server, phone, worker, tmp_path):
    city = factories.region(code="heze", name="菏泽市", kind="city")
    dept = factories.department(region=city, code="spj", name="市行政审批服务局")
    office = factories.office(dept, name="企业登记窗口")
    factories.person(dept, Role.MAIN_LEADER, name="王建国", post="局长")
    factories.person(dept, Role.OFFICE_HEAD, office=office, name="张丽娜", post="窗口负责人")
    factories.person(dept, Role.STAFF, office=office, name="刘文博", post="工作人员")
    db.session.commit()
    make_user("coordinator", region=city, username="chief")
    page = phone
    page.on("dialog", lambda dialog: dialog.accept())  # the "确定开启？" confirmations

    # Sign in: an admin page sends to the login form, then back.
    page.goto(f"{live_server}/admin/rounds")
    assert "/admin/login" in page.url
    page.fill("input[name=username]", "chief")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    assert page.url.endswith("/admin/rounds")
    shot(page, "admin-rounds.png")

    # A roster with one bad row: the row list, and nothing imported.
    upload = tmp_path / "roster.xlsx"
    upload.write_bytes(_workbook_with_a_bad_row())
    page.goto(f"{live_server}/admin/roster/import")
    page.set_input_files("input[name=workbook]", str(upload))
    page.get_by_role("button", name="上传并预览", exact=True).click()
    errors = page.locator("table.import-errors tr")
    assert errors.count() == 2  # the header and the one bad row
    assert "系统中没有编码为“nope”的部门" in errors.nth(1).inner_text()
    assert "3" in errors.nth(1).locator("td").nth(1).inner_text()
    shot(page, "admin-import-errors.png")

    # Create a round for next month, correct its name, then open it early: it takes ballots at once.
    now = rounds.to_china(rounds.utcnow())
    page.goto(f"{live_server}/admin/rounds/new")
    page.fill("input[name=name]", "2026年下半年（草稿）")
    page.select_option("select[name=region_id]", str(city.id))
    page.fill("input[name=opens_at]", (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=closes_at]", (now + dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="创建").click()
    page.get_by_role("link", name="修改").click()
    page.fill("input[name=name]", "2026年下半年")
    page.get_by_role("button", name="保存修改").click()
    assert shows(page, "已保存修改") and "2026年下半年（草稿）" not in page.content()
    page.get_by_role("button", name="立即开启评价").click()
    assert shows(page, "进行中") and shows(page, "即刻起接受评价")
    round_url = page.url

    # A business rates the office (through the public page, as a phone would).
    voter = app.test_client()
    token, people = token_and_people(voter.get(f"/o/{office.code}").get_data(as_text=True))
    assert voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200

    # Posters for the office: the bar follows the worker to 100 %, then the download appears.
    page.goto(f"{live_server}/admin/posters")
    page.check("input[name=scope][value=office]")
    page.select_option("select[name=office]", office.code)
    page.check("input[name=fmt][value=pdf]")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_function("document.getElementById('poster-progress').value == 100", timeout=90_000)
    assert page.locator("#poster-download").is_visible()
    shot(page, "admin-posters-done.png")
    with page.expect_download() as download:
        page.locator("#poster-download").click()
    assert download.value.suggested_filename.endswith(".pdf")

    # Close: the tally starts by itself, its progress on the page in Chinese.
    page.goto(round_url)
    page.get_by_role("button", name="结束评价并统计").click()
    assert page.locator("#tally-progress").is_visible() or "已统计" in page.content()
    _wait_for_text(page, "已统计")
    page.set_viewport_size({"width": 1366, "height": 900})  # the review, at a desk
    shot(page, "admin-round-review.png")

    # The review: strike the department's consequence with a reason, confirm the office's one
    # (both rest on one ballot: a low sample, so the confirmation is explicit).
    assert page.get_by_role("button", name="发布结果").is_visible()
    page.get_by_role("button", name="发布结果").click()
    assert shows(page, "项结果运用未审核")
    rows = page.locator("table.consequences tr[id^=consequence-]")
    assert rows.count() == 2
    department_row = rows.filter(has_text="市行政审批服务局").filter(has_not_text="企业登记窗口")
    department_row.locator("input[name=reason]").fill("仅一张评价票，不作为优秀依据")
    department_row.get_by_role("button", name="撤销").click()
    assert shows(page, "已撤销该项结果运用")
    office_row = page.locator("table.consequences tr[id^=consequence-]").filter(has_text="企业登记窗口")
    office_row.get_by_role("button", name="确认").click()
    assert shows(page, "已知样本不足，仍予确认")  # refused without the acknowledgement
    office_row = page.locator("table.consequences tr[id^=consequence-]").filter(has_text="企业登记窗口")
    office_row.locator("input[name=sample_acknowledged]").check()
    office_row.get_by_role("button", name="确认").click()
    assert shows(page, "已全部审核，可以发布")
    shot(page, "admin-round-reviewed.png")

    # Publish, then the circular: named in Chinese, carrying the confirmed consequence only.
    page.get_by_role("button", name="发布结果").click()
    assert shows(page, "已发布")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载通报（Excel）").click()
    assert download.value.suggested_filename == "通报-2026年下半年.xlsx"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    kept = [r for r in load_workbook(saved)["结果运用"].iter_rows(min_row=3, values_only=True)]
    assert len(kept) == 1 and "企业登记窗口" in kept[0][1]
    page.goto(f"{live_server}/admin/")
    assert shows(page, "各科室参评情况：2026年下半年")
    shot(page, "admin-dashboard.png")
    page.goto(f"{live_server}/results")
    assert shows(page, "2026年下半年")
