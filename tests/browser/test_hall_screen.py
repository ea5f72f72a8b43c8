"""The hall screen on a 1920×1080 TV: every office in turn, large type, the office's QR code,
the latest results, nothing overflowing, and no serious accessibility findings (axe-core)."""

import datetime as dt
import io
import os
from itertools import cycle

import pytest
import zxingcpp
from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageDraw

from ballot_service.domain.ballots import Rating
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.services import results, rounds
from ballot_service.services.photos import store_photo
from ballot_service.services.tally import tally_round
from tests import factories as f
from tests.ballot_helpers import cast, publish, window

from .conftest import ARTIFACTS, guarded_page

WIDTH, HEIGHT = 1920, 1080
SIZES = {"社会事务窗口": 1, "企业登记窗口": 4, "工程建设项目审批窗口": 12, "综合受理服务大厅": 30}
BALLOTS = {"社会事务窗口": 1, "企业登记窗口": 6, "工程建设项目审批窗口": 6, "综合受理服务大厅": 8}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = ["建国", "海燕", "丽娜", "文博", "晓东", "静", "志强", "秀英", "子涵", "国庆", "婷", "明辉"]
COMPOUND = ["欧阳晓明", "司马文静", "诸葛雨婷", "上官志远"]
POSTS = ["窗口负责人", "综合受理岗", "审批专员", "帮办代办员", "咨询导办岗"]
BUSINESS = [None, "企业设立、变更、注销登记", "工程建设项目施工许可、竣工验收备案及相关咨询、帮办代办服务",
            "社会保障卡申领"]

# Text in the visible panel (and the pager): its font size, and whether it is a name.
TEXT_JS = """
() => {
  const roots = [...document.querySelectorAll('.panel:not([hidden]), .pager')];
  const out = [];
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const text = node.textContent.trim();
      const el = node.parentElement;
      if (!text || !el.getClientRects().length) continue;
      out.push({text: text.slice(0, 30), size: parseFloat(getComputedStyle(el).fontSize),
                name: !!el.closest('.name, h1, h2, .res-name') && !el.closest('small')});
    }
  }
  return out;
}
"""

# Boxes of the visible panel outside the frame, and cards (overflow: hidden) whose content is cut off.
OVERFLOW_JS = """
([w, h]) => {
  const panel = document.querySelector('.panel:not([hidden])');
  const outside = [], clipped = [];
  for (const el of [panel, ...panel.querySelectorAll('*')]) {
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.left < -1 || r.top < -1 || r.right > w + 1 || r.bottom > h + 1)
      outside.push(el.tagName + ' ' + (typeof el.className === 'string' ? el.className : ''));
  }
  for (const el of panel.querySelectorAll('.person, .res, .side')) {
    if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)
      clipped.push(el.className + ': ' + el.innerText.slice(0, 40));
  }
  const blocks = [...panel.querySelectorAll('.person, .res, .empty, .none, .side')];
  const bottom = Math.max(...blocks.map(el => el.getBoundingClientRect().bottom));
  return {outside, clipped, bottom, docHeight: document.documentElement.scrollHeight,
          docWidth: document.documentElement.scrollWidth};
}
"""


def _photo(color: str) -> bytes:
    image = Image.new("RGB", (600, 840), color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((180, 160, 420, 420), fill="#f3d9c4")
    draw.rectangle((120, 480, 480, 840), fill="#1f3a5f")
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def hall(app, database):
    """市行政审批服务局 with offices of 1, 4, 12 and 30 people, two leaders, and a published round
    in which the one-person office (one ballot) is 样本不足."""
    media, max_pixels = app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"]
    photos = [store_photo(_photo(c), media, max_pixels) for c in ("#8fa9c8", "#c8a98f", "#a9c88f")]
    region = f.region(code="heze", name="菏泽市", kind="city")
    dept = f.department(region=region, code="spj", name="市行政审批服务局")
    offices = {name: f.office(dept, name=name, sort_order=n) for n, name in enumerate(SIZES)}
    f.person(dept, Role.MAIN_LEADER, name="王建国", post="局长", photo=photos[0])
    f.person(dept, Role.LEADER_IN_CHARGE, name="李海燕", post="副局长", oversees_field="行政审批、政务服务",
             overseen_offices=list(offices.values()), photo=photos[1])
    names = (s + g for g in GIVEN for s in SURNAMES)
    compound, posts, business, faces = iter(COMPOUND), cycle(POSTS), cycle(BUSINESS), cycle(photos + [None])
    people = {}
    for office_name, size in SIZES.items():
        office = offices[office_name]
        people[office_name] = []
        for i in range(size):
            name = next(compound) if i in (1, 7) and size > 4 else next(names)
            role = Role.OFFICE_HEAD if i == 0 else Role.STAFF
            people[office_name].append(f.person(
                dept, role, office=office, name=name, post="窗口负责人" if i == 0 else next(posts),
                business=next(business), photo=next(faces), sort_order=i))
    db.session.commit()
    r = rounds.create_round("2026年上半年", region.code, *window()).id
    rounds.open_round(r)
    db.session.commit()
    levels = cycle(["satisfied", "fairly_satisfied", "satisfied", "basically_satisfied"])
    for office_name, n in BALLOTS.items():
        for _ in range(n):
            cast(r, offices[office_name].id, [Rating(p.id, next(levels), (), None) for p in people[office_name]])
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    return {"code": dept.code, "offices": {name: o.code for name, o in offices.items()},
            "people": {name: [p.name for p in ps] for name, ps in people.items()}}


@pytest.fixture
def tv(browser, live_server):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN")
    yield guarded_page(context, live_server)
    context.close()


def _shot(page, name: str) -> None:
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name))


def _pause(page) -> None:
    page.clock.pause_at(dt.datetime.fromtimestamp(page.evaluate("Date.now()") / 1000 + 0.1))


def _serious(page) -> list[str]:
    page.clock.resume()  # axe-core waits on timers of its own
    violations = Axe().run(page).response["violations"]
    _pause(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in violations if v["impact"] in ("serious", "critical")]


def test_every_office_in_turn_large_readable_scannable_and_within_the_frame(hall, live_server, tv):
    tv.clock.install()  # the page's own timer steps the panels, on a clock the test moves
    tv.goto(f"{live_server}/screen/{hall['code']}", wait_until="networkidle")
    _pause(tv)
    assert tv.locator('meta[http-equiv="refresh"]').count() == 0
    panels = tv.locator(".panel")
    total = panels.count()
    # Leaders, then 1 + 1 + 1 + 3 office panels (30 people over three), then the results.
    assert total == 1 + 6 + 1

    headings, seen_people, shots = [], set(), {}
    for i in range(total):
        if i:
            seconds = int(tv.locator(".panel:not([hidden])").get_attribute("data-seconds"))
            tv.clock.run_for(seconds * 1000)
        visible = tv.locator(".panel:not([hidden])")
        assert visible.count() == 1
        assert tv.locator("#pager-num").inner_text() == f"{i + 1} / {total}"
        assert tv.locator(".dots i").nth(i).get_attribute("class") == "on"
        assert tv.locator(".dots i.on").count() == 1
        tv.wait_for_function("[...document.images].every(i => i.complete)")
        heading = visible.locator("h2").first.inner_text()
        headings.append(heading)
        seen_people |= set(visible.locator(".person .name").all_inner_texts())

        texts = tv.evaluate(TEXT_JS)
        small = [t for t in texts if t["size"] < 24]
        assert small == [], f"panel {i + 1}: text under 24 px: {small}"
        small_names = [t for t in texts if t["name"] and t["size"] < 40]
        assert small_names == [], f"panel {i + 1}: names under 40 px: {small_names}"
        assert any(t["name"] for t in texts)

        box = tv.evaluate(OVERFLOW_JS, [WIDTH, HEIGHT])
        assert box["outside"] == [] and box["clipped"] == [], f"panel {i + 1}: {box}"
        assert box["docHeight"] <= HEIGHT and box["docWidth"] <= WIDTH
        assert box["bottom"] >= HEIGHT * 0.85, f"panel {i + 1} leaves the bottom of the frame empty: {box}"

        office = next((name for name in SIZES if heading.startswith(name)), None)
        if office:
            qr = visible.locator(".qr")
            assert visible.get_by_text("微信扫码 评价服务").is_visible()
            decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
            assert [d.text for d in decoded] == [f"http://testserver/o/{hall['offices'][office]}"]
            assert qr.bounding_box()["width"] >= 300
            photo = visible.locator(".person .ph").first.bounding_box()
            assert photo["width"] >= 110  # the tester's 45 px photos, no more
            if office not in shots:
                shots[office] = f"hall-screen-office-{SIZES[office]}.png"
                _shot(tv, shots[office])
        elif heading == "部门领导":
            _shot(tv, "hall-screen-leaders.png")
        else:
            _shot(tv, "hall-screen-results.png")

        assert _serious(tv) == [], f"panel {i + 1} ({heading})"
        assert tv.locator("#pager-num").inner_text() == f"{i + 1} / {total}"  # still the same panel

    for office in SIZES:
        assert any(h.startswith(office) for h in headings), f"{office} never appears"
    assert seen_people == {name for names in hall["people"].values() for name in names} | {"王建国", "李海燕"}
    assert len(shots) == 4

    tv.clock.run_for(20_000)  # after the results, round again to the first panel
    assert tv.locator("#pager-num").inner_text() == f"1 / {total}"
    assert tv.locator(".panel:not([hidden]) h2").first.inner_text() == "部门领导"
    assert tv.outside_requests == []


def test_results_panel_shows_the_published_lines_and_keeps_small_samples_hidden(hall, live_server, tv):
    report = results.latest_department_report(hall["code"])
    hidden = [line.name for line in report.offices if line.hidden]
    shown = [line for line in report.offices if not line.hidden]
    assert "社会事务窗口" in hidden and shown  # the case is worth checking

    tv.goto(f"{live_server}/screen/{hall['code']}")
    last = tv.evaluate("() => screenShow(document.querySelectorAll('.panel').length - 1)")
    panel = tv.locator(".panel:not([hidden])")
    assert panel.locator(".res-title").inner_text().startswith("2026年上半年")
    lines = panel.locator(".office-lines .res")
    assert lines.count() == len(report.offices)
    for n, line in enumerate(report.offices):
        row = lines.nth(n).inner_text()
        assert line.name in row
        if line.hidden:
            assert "样本不足" in row and lines.nth(n).locator(".dist").count() == 0
        else:
            assert str(line.result.score) in row
    dept = panel.locator(".dept-line .res").inner_text()
    assert report.line.name in dept and (report.line.hidden or str(report.line.result.score) in dept)
    assert tv.locator("#pager-num").inner_text() == f"{last + 1} / {last + 1}"

    # The office panel's side shows its own line: 样本不足 for the one-person office.
    tv.evaluate("() => screenShow(1)")
    side = tv.locator(".panel:not([hidden]) .side").inner_text()
    assert "样本不足" in side and "2026年上半年" in side


def test_without_javascript_the_first_panel_shows_and_nothing_breaks(hall, browser, live_server):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, java_script_enabled=False,
                                  locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{live_server}/screen/{hall['code']}")
        assert page.locator(".panel:not([hidden])").count() == 1
        assert page.locator(".panel").first.is_visible()
        assert page.locator(".panel:not([hidden]) h2").inner_text() == "部门领导"
        assert page.locator("#pager-num").inner_text() == f"1 / {page.locator('.panel').count()}"
        assert page.evaluate("document.documentElement.scrollHeight") <= HEIGHT
    finally:
        context.close()


def test_the_page_reloads_itself_after_a_few_minutes_at_the_end_of_a_cycle(hall, live_server, tv):
    tv.clock.install()
    tv.goto(f"{live_server}/screen/{hall['code']}")
    tv.evaluate("() => { window.stillHere = true; }")
    with tv.expect_event("load"):
        tv.clock.run_for(8 * 60 * 1000)  # 5 minutes, then the end of the cycle
    assert tv.evaluate("() => window.stillHere") is None
    assert tv.locator("#pager-num").inner_text().startswith("1 / ")


def test_many_offices_long_names_and_empty_offices_stay_within_the_frame(app, database, live_server, tv):
    """Eleven offices, one with a long name and one with nobody in it: every panel fits, and the
    results run over two panels."""
    region = f.region(code="heze", name="菏泽市", kind="city")
    dept = f.department(region=region, code="zwfw", name="市政务服务管理办公室")
    f.person(dept, Role.MAIN_LEADER, name="欧阳建国", post="主任")
    names = ["不动产登记与交易税费一窗受理综合服务窗口"] + [f"第{n}综合窗口" for n in range(2, 11)] + ["暂未配备人员窗口"]
    offices = [f.office(dept, name=name, sort_order=n) for n, name in enumerate(names)]
    staff = {o.id: [f.person(dept, Role.STAFF, office=o, post="工作人员", business=BUSINESS[2]) for _ in range(3)]
             for o in offices[:-1]}
    db.session.commit()
    r = rounds.create_round("2026年上半年", region.code, *window()).id
    rounds.open_round(r)
    db.session.commit()
    for office_id, people in staff.items():
        for _ in range(6):
            cast(r, office_id, [Rating(p.id, "satisfied", (), None) for p in people])
    rounds.close_round(r)
    tally_round(r)
    publish(r)

    tv.goto(f"{live_server}/screen/{dept.code}", wait_until="networkidle")
    total = tv.locator(".panel").count()
    assert total == 1 + len(names) + 2
    for i in range(total):
        tv.evaluate(f"() => screenShow({i})")
        texts = tv.evaluate(TEXT_JS)
        assert [t for t in texts if t["size"] < 24] == [], f"panel {i + 1}"
        box = tv.evaluate(OVERFLOW_JS, [WIDTH, HEIGHT])
        assert box["outside"] == [] and box["clipped"] == [], f"panel {i + 1}: {box}"
        assert box["bottom"] >= HEIGHT * 0.85, f"panel {i + 1}: {box}"
    tv.evaluate("() => screenShow(1)")
    _shot(tv, "hall-screen-long-name.png")
    tv.evaluate(f"() => screenShow({total - 2})")
    assert tv.locator(".panel:not([hidden]) .office-lines .res").count() == 6
    _shot(tv, "hall-screen-results-page-1.png")
    tv.evaluate(f"() => screenShow({total - 3})")
    assert tv.locator(".panel:not([hidden]) .empty").inner_text() == "暂无公示人员"
    _shot(tv, "hall-screen-empty-office.png")
