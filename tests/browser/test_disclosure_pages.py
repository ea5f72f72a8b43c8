"""The office page as a business sees it in WeChat on a phone."""

import os

from sqlalchemy import select

from ballot_service.models import Office
from ballot_service.services.demo import seed_demo

from .conftest import ARTIFACTS

# Draws each character on a canvas in the page's font; a character the fonts lack is drawn
# as the same "tofu" box as a private-use code point, so its pixels match that one's.
MISSING_GLYPHS_JS = """
() => {
  const font = getComputedStyle(document.body).fontSize + ' ' + getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 40; c.height = 40;
    const g = c.getContext('2d'); g.font = font; g.fillText(ch, 4, 30);
    return c.toDataURL();
  };
  const tofu = draw('\\uE000');
  const chars = [...new Set(document.body.innerText)].filter(ch => /[\\u3000-\\u9fff\\uff00-\\uffef]/.test(ch));
  return {checked: chars.length, missing: chars.filter(ch => draw(ch) === tofu), detects: draw('\\uE001') === tofu};
}
"""

WIRE_BYTES_JS = """
() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
  .filter(e => e.initiatorType !== 'img')
  .reduce((sum, e) => sum + e.transferSize, 0)
"""


def _demo_office(app, database) -> Office:
    seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
    return database.session.scalar(select(Office).where(Office.name == "企业登记窗口"))


def test_office_page_renders_chinese_within_budget_without_leaving_the_host(app, database, live_server, phone):
    office = _demo_office(app, database)
    response = phone.goto(f"{live_server}/o/{office.code}", wait_until="load")
    assert response.status == 200
    assert phone.title() == "企业登记窗口 · 市行政审批服务局"
    assert phone.locator("h1").inner_text().startswith("企业登记窗口")
    assert phone.locator(".card").count() >= 3
    assert phone.locator("a.tel").first.get_attribute("href").startswith("tel:")

    glyphs = phone.evaluate(MISSING_GLYPHS_JS)
    assert glyphs["detects"], "the tofu check must recognise a character no font has"
    assert glyphs["checked"] > 50 and glyphs["missing"] == []

    # Phone-first layout: nothing wider than the 390 px viewport.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    phone.wait_for_load_state("networkidle")
    assert phone.evaluate(WIRE_BYTES_JS) <= 30 * 1024
    assert phone.outside_requests == []

    os.makedirs(ARTIFACTS, exist_ok=True)
    phone.screenshot(path=os.path.join(ARTIFACTS, "office-page.png"), full_page=True)


def test_photos_are_lazy_sized_thumbnails(app, database, live_server, phone):
    office = _demo_office(app, database)
    phone.goto(f"{live_server}/o/{office.code}", wait_until="networkidle")
    images = phone.locator("img.ph")
    assert images.count() >= 1
    assert images.first.get_attribute("loading") == "lazy"
    sizes = phone.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.initiatorType === 'img').map(e => e.transferSize)"
    )
    assert sizes and max(sizes) <= 15 * 1024


def test_department_page_and_404_in_the_browser(app, database, live_server, phone):
    _demo_office(app, database)
    response = phone.goto(f"{live_server}/d/spj")
    assert response.status == 200 and "市行政审批服务局" in phone.locator("h1").inner_text()
    phone.locator("h2 a", has_text="企业登记窗口").click()
    assert phone.url.startswith(f"{live_server}/o/")
    response = phone.goto(f"{live_server}/o/ZZZZZZ")
    assert response.status == 404 and "没有找到这个科室" in phone.content()
    assert phone.outside_requests == []
