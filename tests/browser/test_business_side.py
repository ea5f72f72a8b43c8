"""The business's side, in Debian's chromium with a WeChat user agent at 360×640 and 390×844: a
ballot that fits a 21-person office, results linked where people look, and axe-core (WCAG 2.1
AA) on every public page with and without JavaScript. Screenshots go to test-artifacts/."""

import os
import re

import pytest

from ballot_service.domain.ballots import Rating
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.services import rounds
from ballot_service.services.tally import tally_round
from tests import factories as f
from tests.ballot_helpers import cast, opened, publish, window

from .conftest import ARTIFACTS, WECHAT_UA

SIZES = [(360, 640), (390, 844)]
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何"  # 21 people, 赵 twice (the first and the last)


def big_office():
    """企业开办窗口 with 21 people: a main leader, a leader in charge, a head and 18 staff."""
    dept = f.department(region=f.region(code="heze", name="菏泽市", kind="city"), code="qykb", name="市行政审批服务局")
    office = f.office(dept, name="企业开办窗口")
    names = [s + "晓" + "明红华军丽强"[i % 6] for i, s in enumerate(SURNAMES[:20])] + ["赵子龙"]
    f.person(dept, Role.MAIN_LEADER, name=names[0], post="局长")
    f.person(dept, Role.LEADER_IN_CHARGE, name=names[1], post="副局长", overseen_offices=[office])
    f.person(dept, Role.OFFICE_HEAD, office=office, name=names[2], post="窗口负责人")
    for name in names[3:]:
        f.person(dept, Role.STAFF, office=office, name=name, post="综合受理岗")
    db.session.commit()
    return dept, office


def context(browser, size, javascript=True):
    width, height = size
    return browser.new_context(viewport={"width": width, "height": height}, user_agent=WECHAT_UA,
                               device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
                               java_script_enabled=javascript)


def shot(page, name, full=True):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=full)


def smallest_target(page, selector):
    return page.evaluate("""s => Math.min(...[...document.querySelectorAll(s)]
        .filter(e => e.offsetParent !== null).map(e => Math.min(e.getBoundingClientRect().height,
                                                                 e.getBoundingClientRect().width)))""", selector)


@pytest.mark.parametrize("size", SIZES, ids=["360x640", "390x844"])
def test_a_21_person_office_is_rated_for_the_one_who_served_and_the_rest_confirmed(database, live_server, browser,
                                                                                   size):
    _dept, office = big_office()
    round_ = rounds.open_round(rounds.create_round("2026年下半年", "heze", *window()).id)
    db.session.commit()
    ctx = context(browser, size)
    page = ctx.new_page()
    page.goto(f"{live_server}/o/{office.code}")
    width, height = size
    tag = f"{width}x{height}"
    shot(page, f"big-office-{tag}-landing.png", full=False)

    # The ballot starts on the first screen: its heading and the surname finder are in view.
    assert page.locator("#ballot h2").bounding_box()["y"] < height / 2
    assert page.locator("#finder").bounding_box()["y"] < height
    assert page.locator("fieldset.rate").count() == 21
    # Nothing marked hidden shows (the form's default button, the confirmation, 显示全部).
    assert page.evaluate("() => [...document.querySelectorAll('[hidden]')].filter(e => e.offsetParent).length") == 0
    assert page.locator(".count").inner_text() == "已评 0 / 共 21 人"
    # Every tap target is at least 44 px: levels, surnames, buttons (tags once opened, below).
    for selector in (".lv span", ".surnames a", ".send button"):
        assert smallest_target(page, selector) >= 44, selector

    # The voter was served by 赵子龙: 赵 narrows 21 cards to the two 赵.
    page.locator(".surnames a", has_text="赵").click()
    visible = page.locator("fieldset.rate:visible")
    assert visible.count() == 2
    card = page.locator("fieldset.rate", has_text="赵子龙")
    card.get_by_text("不满意", exact=True).click()
    assert smallest_target(page, ".tag") >= 44
    card.get_by_text("办事推拖绕").click()
    # Levels are told apart at a glance: 不满意 is not the colour of 满意.
    other = page.locator("fieldset.rate:visible").first
    other.get_by_text("满意", exact=True).click()
    colours = page.evaluate("""() => [...document.querySelectorAll('.lv input:checked + span')]
        .map(s => getComputedStyle(s).backgroundColor)""")
    assert len(set(colours)) == 2
    assert page.locator(".count").inner_text() == "已评 2 / 共 21 人"
    shot(page, f"big-office-{tag}-filtered.png", full=False)

    # Enter in a field sends as 提交评价 would: the server asks about the 19, stores nothing.
    card.locator("input[value=dissatisfied]").press("Enter")
    page.wait_for_load_state()
    assert page.locator("#confirm").is_visible() and "其余19人" in page.locator("#confirm").inner_text()
    assert opened(round_.id) == []
    page.locator(".surnames a", has_text="赵").click()

    # Sending asks once for the 19 others, and says how many.
    page.locator("#send").click()
    confirm = page.locator("#confirm")
    assert confirm.is_visible()
    assert "其余19人将记为“不了解情况”" in confirm.inner_text()
    shot(page, f"big-office-{tag}-confirm.png", full=False)
    # "返回继续评价" goes back; sending again asks again; confirming stores it.
    page.get_by_text("返回继续评价").click()
    assert not confirm.is_visible()
    page.locator("#send").click()
    page.get_by_role("button", name="确认提交").click()
    assert "感谢您的评价" in page.locator("h1").inner_text()
    assert page.locator("a", has_text="评价结果").count() >= 2  # the header and the thank-you text
    shot(page, f"big-office-{tag}-thanks.png")
    ctx.close()

    [(_office, _channel, ratings)] = opened(round_.id)
    levels = sorted(r.level for r in ratings)
    assert len(ratings) == 21 and levels.count("unknown") == 19
    assert {r.level for r in ratings if r.level != "unknown"} == {"satisfied", "dissatisfied"}


def test_a_big_office_ballot_without_javascript_asks_for_the_rest_the_same_way(database, live_server, browser):
    _dept, office = big_office()
    round_ = rounds.open_round(rounds.create_round("2026年下半年", "heze", *window()).id)
    db.session.commit()
    ctx = context(browser, SIZES[0], javascript=False)
    page = ctx.new_page()
    page.goto(f"{live_server}/o/{office.code}")
    page.locator("fieldset.rate", has_text="赵子龙").get_by_text("满意", exact=True).click()
    page.locator("#send").click()  # a real POST: the server asks
    assert "还有20人未评价" in page.locator("#confirm").inner_text()
    assert page.locator("#confirm").is_visible() and page.locator("fieldset.rate.bad").count() == 0
    assert page.locator("fieldset.rate.open").count() == 20
    shot(page, "big-office-nojs-confirm.png", full=False)
    page.get_by_role("button", name="确认提交").click()
    assert "感谢您的评价" in page.locator("h1").inner_text()
    ctx.close()
    [(_office, _channel, ratings)] = opened(round_.id)
    assert sorted(r.level for r in ratings).count("unknown") == 20


def published_city():
    """The big office's department with a published round (6 ballots), and no round open now."""
    dept, office = big_office()
    people = [p.id for p in office.people] + [p.id for p in dept.people if p.office_id is None]
    r = rounds.create_round("2026年上半年", "heze", *window()).id
    rounds.open_round(r)
    for n in range(6):
        cast(r, office.id, [Rating(p, "satisfied" if (p + n) % 3 else "fairly_satisfied", (), None) for p in people])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    return dept, office, r


def test_results_are_linked_where_people_look_and_the_office_page_shows_its_own(database, live_server, browser):
    dept, office, r = published_city()
    ctx = context(browser, SIZES[1])
    page = ctx.new_page()
    for path in ("/", f"/d/{dept.code}", f"/o/{office.code}"):
        page.goto(live_server + path)
        page.locator("header a", has_text="评价结果").click()
        assert page.url == f"{live_server}/results", path
    page.goto(f"{live_server}/")
    assert page.locator("main a[href='/results']").count() == 1
    page.goto(f"{live_server}/d/{dept.code}")
    assert page.locator(f"a[href='/results/{r}/d/{dept.code}']").count() == 1

    # Between rounds the office page says so, and where to complain; it shows its latest result.
    page.goto(f"{live_server}/o/{office.code}")
    idle = page.locator(".idle")
    assert "当前不在评价期" in idle.inner_text() and "12345" in idle.inner_text()
    latest = page.locator("section", has_text="最新评价结果")
    assert "2026年上半年" in latest.inner_text() and "企业开办窗口" in latest.inner_text()
    assert "评价票6张" in latest.inner_text()
    shot(page, "office-between-rounds-390x844.png")
    latest.get_by_text("完整成绩单").click()
    assert page.url == f"{live_server}/results/{r}/d/{dept.code}"
    shot(page, "department-card-390x844.png")
    ctx.close()


def axe_serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in found.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_every_public_page_passes_axe_at_both_phone_sizes(database, live_server, browser, javascript):
    """axe-core runs in the page, so without JavaScript the page as a no-script browser got it
    is checked in a second, scripted page of the same size (its own scripts removed)."""
    dept, office, r = published_city()
    between_rounds = ["/", f"/d/{dept.code}", f"/o/{office.code}", "/results", f"/results/{r}",
                      f"/results/{r}/d/{dept.code}", "/o/NOSUCH"]
    problems = {}

    for opened_round in (False, True):
        if opened_round:
            rounds.open_round(rounds.create_round("2026年下半年", "heze", *window()).id)
            db.session.commit()
        for size in SIZES:
            ctx, checker = context(browser, size, javascript), context(browser, size)
            page, axe_page = ctx.new_page(), checker.new_page()

            def check(label, page=page, axe_page=axe_page, size=size):
                if not javascript:
                    axe_page.set_content(re.sub(r"<script\b.*?</script>", "", page.content(), flags=re.S))
                found = axe_serious(page if javascript else axe_page)
                if found:
                    problems[f"{label} {size}"] = found

            for path in ([f"/o/{office.code}"] if opened_round else between_rounds):
                page.goto(live_server + path)
                check(f"{path} round open: {opened_round}")
            if opened_round:  # the ballot's other states: the confirmation, the thank-you page
                page.locator("#send").click()
                check("confirm")
                page.get_by_role("button", name="确认提交").click()
                assert "感谢您的评价" in page.locator("h1").inner_text()
                check("thanks")
                page.goto(f"{live_server}/o/{office.code}")  # 已评价
                assert page.locator(".done").count() == 1
                check("voted")
                stale = page.request.post(f"{live_server}/o/{office.code}/ballot", form={"token": "x"})
                assert stale.status == 400 and "页面已过期" in stale.text()
                page.set_content(stale.text())
                check("message page")
            ctx.close()
            checker.close()
    assert problems == {}
