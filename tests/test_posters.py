"""Posters: every layout renders in Chinese from the demo data, and every QR scans."""

import io
import json
import math
import os
import zipfile

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.domain.roles import Role
from ballot_service.extensions import db, redis_ext
from ballot_service.models import Office, RoundRoster
from ballot_service.services import jobs, posters
from ballot_service.services.demo import open_demo_round, seed_demo
from tests import factories as f

TEMPLATES = ["identity_board", "identity_board_a3", "duty_board", "counter_card", "paper_ballot"]


@pytest.fixture
def demo(app, database):
    seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
    return app


def pages_of(batch) -> dict[str, Image.Image]:
    with zipfile.ZipFile(batch.path) as archive:
        return {name: Image.open(io.BytesIO(archive.read(name))).convert("L") for name in archive.namelist()}


def decode(image: Image.Image) -> list:
    return [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def stained(image: Image.Image, result) -> Image.Image:
    """An opaque stain over 10% of the code's area, in the middle of the code."""
    p = result.position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    side = (max(xs) - min(xs)) * math.sqrt(0.10)
    cx, cy = sum(xs) / 4, sum(ys) / 4
    copy = image.copy()
    ImageDraw.Draw(copy).rectangle((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), fill=128)
    return copy


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_layout_renders_and_every_qr_scans_whole_small_and_stained(demo, template):
    batch = posters.render_batch("department", "spj", template, "zip", demo.config)
    offices = {o.code: o for o in db.session.scalars(select(Office).join(Office.department)
                                                      .where(Office.active))}
    pages = pages_of(batch)
    assert pages
    for name, page in pages.items():
        office = offices[name.split("-")[0]]
        url = f"{demo.config['PUBLIC_BASE_URL']}/o/{office.code}"
        codes = decode(page)  # a sheet of counter cards has four
        copies = 4 if template == "counter_card" else 1
        assert [r.text for r in codes] == [url] * copies, name
        whole = codes[0]
        small = page.resize((page.width // 4, page.height // 4), Image.Resampling.BOX)  # arm's length
        assert {r.text for r in decode(small)} == {url}, name
        assert [r.text for r in decode(stained(page, whole))] == [url] * copies, name


def test_qr_is_level_q_with_quiet_zone_and_at_least_35_mm():
    import qrcode

    assert posters.MIN_QR_MM == 35
    for name in posters.template_names():
        assert posters.load_template(name)["qr"]["size_mm"] >= 35, name
    url = "http://testserver/o/ABC234"
    image = posters.qr_image(url, 413)  # 35 mm at 300 dpi
    assert image.width >= 413
    [result] = decode(image.convert("L"))
    assert result.ec_level == "Q" and result.text == url
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    reference.add_data(url)
    reference.make(fit=True)
    modules = reference.modules_count + 8  # with a quiet zone of 4 modules on each side
    box, rest = divmod(image.width, modules)
    assert box >= 1 and rest == 0  # whole pixels per module
    gray = image.convert("L")
    quiet = 4 * box
    assert all(gray.getpixel((x, y)) == 255 for x in range(quiet) for y in range(0, image.height, box))
    assert gray.getpixel((quiet, quiet)) == 0  # the finder pattern starts right after the quiet zone


def test_every_character_on_the_posters_has_a_glyph(demo):
    fonts = posters.Fonts(*posters.find_font())
    texts = []
    for name in TEMPLATES:
        texts.append(json.dumps(posters.load_template(name), ensure_ascii=False))
    for office in db.session.scalars(select(Office)):
        data = posters.office_data(office, "http://testserver")
        texts.append(json.dumps([data.department, data.name, [vars(p) for p in data.people], data.duties,
                                 data.items, data.rules, data.tags], ensure_ascii=False))
    texts.append(demo.config["POSTER_SUPERVISION_LINE"] + "□√…（）：续")
    text = "".join(texts)
    assert len(set(text)) > 300
    assert posters.missing_glyphs(text, fonts) == []
    assert posters.missing_glyphs("\U0001f600", fonts) == ["\U0001f600"]  # the check can fail


def test_rendering_is_deterministic_and_batches_are_reused(demo):
    first = posters.render_batch("office", _office_code("企业登记窗口"), "identity_board", "pdf", demo.config)
    content = open(first.path, "rb").read()
    os.remove(first.path)
    again = posters.render_batch("office", _office_code("企业登记窗口"), "identity_board", "pdf", demo.config)
    assert not again.cached and open(again.path, "rb").read() == content
    cached = posters.render_batch("office", _office_code("企业登记窗口"), "identity_board", "pdf", demo.config)
    assert cached.cached and cached.path == again.path
    assert content.startswith(b"%PDF") and b"CreationDate" not in content


def _office_code(name: str) -> str:
    return db.session.scalar(select(Office.code).where(Office.name == name))


def test_paper_ballot_lists_exactly_the_people_on_the_office_ballot(demo):
    round_ = open_demo_round()
    office = db.session.scalar(select(Office).where(Office.name == "企业登记窗口"))
    roster = db.session.scalars(select(RoundRoster.person_id).where(
        RoundRoster.round_id == round_.id, RoundRoster.office_id == office.id).order_by(RoundRoster.position)).all()
    assert [p.id for p in posters.office_data(office, "http://testserver").ballot] == list(roster)


def test_long_rosters_continue_on_more_pages_and_long_names_fit(app, database):
    dept = f.department(code="big", name="市超长名称的行政审批服务局（市民之家综合服务中心）")
    office = f.office(dept, name="不动产登记、交易与税收一体化综合受理窗口")
    f.person(dept, Role.MAIN_LEADER, name="欧阳诸葛长名字")
    for _ in range(14):
        f.person(dept, Role.STAFF, office=office, post="综合受理岗位工作人员（负责登记、交易、税费一窗受理）",
                 business="不动产转移登记、抵押登记、预告登记、更正登记、异议登记" * 2)
    db.session.commit()
    batch = posters.render_batch("office", office.code, "identity_board", "zip", app.config)
    pages = pages_of(batch)
    assert len(pages) >= 2
    for page in pages.values():
        assert [r.text for r in decode(page)] == [f"{app.config['PUBLIC_BASE_URL']}/o/{office.code}"]


def test_batches_run_in_the_worker_with_progress_and_one_at_a_time_and_outlive_redis(demo):
    from ballot_service.models import PosterBatch
    from ballot_service.services import poster_batches

    first = poster_batches.request("department", "spj", "counter_card", "pdf", None)
    second = poster_batches.request("department", "spj", "counter_card", "pdf", None)
    db.session.commit()
    assert first.id == second.id and jobs.queue().job_ids == [f"posters-{first.id}"]
    redis_ext.client.flushdb()  # Redis lost while the batch waits: asking again queues its job again
    assert poster_batches.request("department", "spj", "counter_card", "pdf", None).id == first.id
    assert jobs.queue().job_ids == [f"posters-{first.id}"]
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)
    db.session.expire_all()
    batch = db.session.get(PosterBatch, first.id)
    assert (batch.status, batch.done, batch.total) == ("done", 4, 4)  # 市行政审批服务局 has four offices
    assert batch.file == f"{batch.inputs_hash}.pdf"
    redis_ext.client.flushdb()  # the job and its result are gone from Redis; the batch is not
    status = poster_batches.status(batch)
    assert status.finished and os.path.exists(status.path) and status.download_name == "市行政审批服务局-窗口台卡（A6，一张A4纸印四份）.pdf"
    # Once done, the same request is a new batch (the file is reused: same inputs, same hash).
    third = poster_batches.request("department", "spj", "counter_card", "pdf", None)
    assert third.id != first.id


def test_bad_requests_get_clear_messages(demo):
    with pytest.raises(posters.PosterError, match="没有名为“poster_x”的版式"):
        posters.render_batch("department", "spj", "poster_x", "pdf", demo.config)
    with pytest.raises(posters.PosterError, match="该范围内没有可打印的科室"):
        posters.render_batch("department", "nope", "identity_board", "pdf", demo.config)
    with pytest.raises(posters.PosterError, match="找不到 POSTER_FONT 指定的字体文件"):
        posters.find_font("/nonexistent/font.ttf")


def test_regenerating_an_office_code_needs_confirmation(demo):
    code = _office_code("企业登记窗口")
    cli = demo.test_cli_runner()
    refused = cli.invoke(args=["offices", "regenerate-code", code])
    assert refused.exit_code == 1 and "二维码将全部失效" in refused.output
    done = cli.invoke(args=["offices", "regenerate-code", code, "--yes"])
    assert done.exit_code == 0 and _office_code("企业登记窗口") != code
    assert demo.test_client().get(f"/o/{code}").status_code == 404


ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "test-artifacts", "posters")
HEAD_COUNTS = (1, 4, 12, 30)
# Pages an identity board takes, worked by hand from the templates: a card with a 25×35 mm photo
# and four lines under it is about 61 mm high, so A4 (about 185 mm between the header and the QR
# band) holds two rows of up to five, A3 (about 270 mm) four rows of up to seven, each group
# under its heading (the two leader groups share a row when they fit in it); people are spread
# evenly over the pages.
IDENTITY_PAGES = {"identity_board": {1: 1, 4: 1, 12: 2, 30: 4}, "identity_board_a3": {1: 1, 4: 1, 12: 1, 30: 2}}


def _office_of(n: int, media_root: str, max_pixels: int) -> Office:
    """An office with `n` people in 附件1's groups (one 主要领导, then 分管领导, then 业务人员),
    two in three with a photo, posts and business of realistic length."""
    from ballot_service.services.demo import placeholder_photo
    from ballot_service.services.photos import store_photo

    dept = f.department(code=f"n{n}", name="市发展和改革委员会")
    office = f.office(dept, name="投资科")
    in_charge = {1: 0, 4: 1, 12: 2, 30: 3}[n]
    for i in range(n):
        role = Role.MAIN_LEADER if i == 0 else Role.LEADER_IN_CHARGE if i <= in_charge else Role.STAFF
        person = f.person(dept, role, office=None if role.is_department_leader else office,
                          post=("主任" if i == 0 else "副主任" if role is Role.LEADER_IN_CHARGE else "四级主任科员"),
                          business=None if role.is_department_leader else "企业投资项目核准、备案及监管服务",
                          oversees_field="投资管理、重大项目" if role is Role.LEADER_IN_CHARGE else None)
        if role is Role.LEADER_IN_CHARGE:
            person.overseen_offices = [office]
        if i % 3 != 2:
            person.photo = store_photo(placeholder_photo("#7fa99b"), media_root, max_pixels)
    from ballot_service.models import PostDuty

    db.session.add_all([
        PostDuty(department=dept, category="main_leader", post_name="主任", duties="主持全面工作，负责投资审批的统筹协调。"),
        PostDuty(department=dept, category="leader_in_charge", post_name="副主任", duties="分管投资管理和重大项目。"),
        PostDuty(department=dept, office=office, category="office", post_name="投资科科员",
                 duties="负责企业投资项目核准、备案的受理、审查和办结，按时限办理并答复申请人。" * 2)])
    for item in ("企业投资项目核准", "企业投资项目备案", "政府投资项目可行性研究报告审批"):
        f.service_item(office, name=item, statutory_limit="20个工作日", promised_limit="5个工作日",
                       procedure="申请 → 受理 → 审查 → 决定 → 送达")
    db.session.commit()
    return office


def _filled(page: Image.Image, top: float, bottom: float) -> float:
    """How much of the height between `top` and `bottom` (fractions of the page) lies between
    the first and the last row with anything drawn on it."""
    strip = page.convert("L").crop((0, round(page.height * top), page.width, round(page.height * bottom)))
    box = strip.point(lambda v: 255 if v < 235 else 0).getbbox()
    return 0.0 if box is None else (box[3] - box[1]) / strip.height


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_for_1_4_12_and_30_people_filled_and_scannable(app, database, template):
    """Kept as PNGs under test-artifacts/posters/ to be looked at; each page's QR decodes, and
    an identity board's content fills its page (no half-empty page)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    fonts = posters.Fonts(*posters.find_font())
    layout = posters.load_template(template)
    for n in HEAD_COUNTS:
        office = _office_of(n, app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
        data = posters.office_data(office, app.config["PUBLIC_BASE_URL"])
        pages = posters.render_office(layout, data, fonts, "监督电话：0530-12345", app.config["MEDIA_ROOT"])
        copies = 4 if layout["kind"] == "counter_card" else 1  # four cards to a sheet
        for number, page in enumerate(pages, start=1):
            page.save(os.path.join(ARTIFACTS, f"{template}-{n}-{number}.png"))
            assert [r.text for r in decode(page.convert("L"))] == [data.url] * copies, (template, n, number)
        if layout["kind"] == "identity":
            assert len(pages) == IDENTITY_PAGES[template][n], (template, n)
        if layout["kind"] in ("identity", "paper_ballot"):  # the people fill the page, one alone more than half
            for number, page in enumerate(pages, start=1):
                assert _filled(page, 0.135, 0.74) > (0.55 if n == 1 else 0.75), (template, n, number)
