"""The ballot as a business fills it in: WeChat user agent, phone viewport, real Chromium."""

import os

from tests.ballot_helpers import open_office, opened, sealed_ballots

from .conftest import ARTIFACTS
from .test_disclosure_pages import WIRE_BYTES_JS


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


def test_rate_everyone_complain_about_one_submit_and_come_back(database, live_server, phone):
    office, round_ = open_office()
    phone.goto(f"{live_server}/o/{office.code}")
    cards = phone.locator("fieldset.rate")
    assert cards.count() == 4
    assert phone.evaluate(WIRE_BYTES_JS) <= 30 * 1024

    # Tags stay hidden until 基本满意 or 不满意 is chosen.
    last = cards.nth(3)
    assert not last.locator(".more").is_visible()
    last.get_by_text("不满意", exact=True).click()
    assert last.locator(".more").is_visible()
    last.get_by_text("故意刁难").click()
    last.locator("textarea").fill("材料被退回三次，没有一次性告知")
    cards.nth(0).get_by_text("满意", exact=True).click()
    shot(phone, "ballot-filled.png")

    # Submitting with two people unrated asks about them first, storing nothing; going back
    # lands on the first of them.
    phone.get_by_role("button", name="提交评价").click()
    assert "其余2人将记为“不了解情况”" in phone.locator("#confirm").inner_text()
    shot(phone, "ballot-confirm-rest.png")
    phone.get_by_text("返回继续评价").click()
    assert not phone.locator("#confirm").is_visible() and sealed_ballots() == 0
    cards.nth(1).get_by_text("比较满意", exact=True).click()
    assert phone.locator(".count").inner_text() == "已评 3 / 共 4 人"

    # "其余人员均选不了解情况" asks the same, for the one left; confirmed, the ballot is stored.
    phone.get_by_role("button", name="其余人员均选“不了解情况”").click()
    assert "其余1人将记为“不了解情况”" in phone.locator("#confirm").inner_text()
    phone.get_by_role("button", name="确认提交").click()
    assert "感谢您的评价" in phone.locator("h1").inner_text()
    assert "不满意（故意刁难）" in phone.content()
    shot(phone, "ballot-thanks.png")

    phone.goto(f"{live_server}/o/{office.code}")
    assert phone.locator(".done").inner_text() == "您已评价过企业登记窗口，感谢您的参与！"
    assert phone.locator("form#ballot-form").count() == 0
    assert phone.outside_requests == []

    [(_office, _channel, ratings)] = opened(round_.id)  # the sealed ballot, opened as the tally would
    [bad] = [r for r in ratings if r.level == "dissatisfied"]
    assert bad.note == "材料被退回三次，没有一次性告知" and bad.tags == ("obstruction",)


def test_ballot_works_without_javascript(database, live_server, browser):
    from .conftest import WECHAT_UA

    office, _ = open_office()
    context = browser.new_context(viewport={"width": 360, "height": 740}, user_agent=WECHAT_UA,
                                  java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/o/{office.code}")

    page.locator("fieldset.rate").nth(0).get_by_text("比较满意", exact=True).click()
    page.get_by_role("button", name="其余人员均选“不了解情况”").click()  # a real submit without JS
    assert "其余3人将记为“不了解情况”" in page.locator("#confirm").inner_text() and sealed_ballots() == 0
    page.get_by_role("button", name="确认提交").click()
    assert "感谢您的评价" in page.locator("h1").inner_text()
    context.close()
    assert sealed_ballots() == 1
