"""A ballot's receipt on a phone: shown and copied on the thank-you page, and after publication
checked from the report card in three taps (核验我的选票, the code, 核验) — never in a URL."""

import os

from ballot_service.extensions import db
from ballot_service.services import rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import open_office, publish

from .conftest import ARTIFACTS, WECHAT_UA, guarded_page


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


def test_the_receipt_is_shown_copied_and_verified_from_the_report_card(database, live_server, browser):
    office, round_ = open_office()
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=WECHAT_UA,
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
                                  permissions=["clipboard-read", "clipboard-write"])
    phone = guarded_page(context, live_server)
    urls = []
    phone.on("request", lambda request: urls.append(request.url))

    phone.goto(f"{live_server}/o/{office.code}")
    cards = phone.locator("fieldset.rate")
    for n in range(cards.count()):
        cards.nth(n).get_by_text("满意", exact=True).click()
    phone.get_by_role("button", name="提交评价").click()
    assert "感谢您的评价" in phone.locator("h1").inner_text()
    receipt = phone.locator(".receipt .code strong").inner_text()
    assert len(receipt) == 14 and receipt.count("-") == 2
    assert "回执码不显示您的评价内容" in phone.locator(".receipt").inner_text()
    copy = phone.get_by_role("button", name="复制回执码")
    assert copy.is_visible()
    shot(phone, "receipt-thanks.png")
    copy.click()
    phone.wait_for_function("document.querySelector('.copy').textContent !== '复制回执码'")
    assert phone.locator(".copy").inner_text() == "已复制"
    assert phone.evaluate("navigator.clipboard.readText()") == receipt

    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    publish(round_.id)

    # From the report card: 核验我的选票 (1), the code typed in (2), 核验 (3).
    phone.goto(f"{live_server}/results/{round_.id}")
    phone.get_by_role("link", name="核验我的选票").click()
    phone.get_by_label("请输入感谢页面上的选票回执码").fill(receipt.lower().replace("-", " "))
    phone.get_by_role("button", name="核验").click()
    assert phone.locator(".verdict h2").inner_text() == "已计入统计"
    assert receipt in phone.locator(".verdict").inner_text()
    shot(phone, "receipt-verified.png")

    phone.get_by_label("请输入感谢页面上的选票回执码").fill("K7Q4-2MXA-9PBC" if receipt != "K7Q4-2MXA-9PBC" else "K7Q4")
    phone.get_by_role("button", name="核验").click()
    assert phone.locator(".verdict h2").inner_text() in ("未找到该回执码", "回执码格式不对")
    shot(phone, "receipt-not-found.png")

    bare = receipt.replace("-", "")
    assert [u for u in urls if bare.lower() in u.lower().replace("-", "").replace("+", "").replace("%20", "")] == []
    assert phone.outside_requests == []
    context.close()


def test_without_javascript_the_code_is_shown_and_the_copy_button_is_not(database, live_server, browser):
    office, _ = open_office()
    context = browser.new_context(viewport={"width": 360, "height": 740}, user_agent=WECHAT_UA,
                                  java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/o/{office.code}")
    cards = page.locator("fieldset.rate")
    for n in range(cards.count()):
        cards.nth(n).get_by_text("满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    assert "感谢您的评价" in page.locator("h1").inner_text()
    assert len(page.locator(".receipt .code strong").inner_text()) == 14
    assert not page.locator(".copy").is_visible()
    context.close()
