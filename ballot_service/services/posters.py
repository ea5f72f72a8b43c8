"""Print-ready posters: identity and duty boards, counter cards and paper ballots, each with
the office's QR code, drawn with Pillow at 300 dpi from the layouts in qr_templates/.

Rendering is deterministic (the same data and layout give the same bytes), so a batch is
stored under the hash of its inputs and never rendered twice.
"""

import functools
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import qrcode
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain.ballots import DEFAULT_BALLOT_CONFIG, BallotConfig
from ..domain.poster_layout import Card, board, fit_text, grid, mm, pt, spread, wrap
from ..domain.roles import Role
from ..extensions import db
from ..models import Department, Office, Region
from . import ballot_box, disclosure
from .photos import photo_dir

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "qr_templates")
KINDS = ("identity", "duties", "counter_card", "paper_ballot")
FORMATS = ("pdf", "zip")
RENDERER_VERSION = "2"  # bump when drawing code changes, so cached batches are redrawn
MIN_QR_MM = 35
FONT_NAME = "Noto Sans CJK SC"


class PosterError(ValueError):
    """A poster request that cannot be served; the message is for people."""


# ---------------------------------------------------------------- templates and fonts


def template_names() -> list[str]:
    return sorted(name[:-5] for name in os.listdir(TEMPLATE_DIR) if name.endswith(".json"))


def load_template(name: str) -> dict:
    path = os.path.join(TEMPLATE_DIR, f"{name}.json")
    if name not in template_names():
        raise PosterError(f"没有名为“{name}”的版式，可选：{'、'.join(template_names())}")
    with open(path, encoding="utf-8") as fh:
        template = json.load(fh)
    if template.get("kind") not in KINDS:
        raise PosterError(f"版式“{name}”的 kind 应为：{'、'.join(KINDS)}")
    if template["qr"]["size_mm"] < MIN_QR_MM:
        raise PosterError(f"版式“{name}”的二维码不能小于{MIN_QR_MM}毫米")
    return template


def find_font(configured: str | None = None) -> tuple[str, int]:
    """The CJK font file and face index: POSTER_FONT if set, else the Noto Sans CJK SC face of
    the noto-cjk-sans-otc package installed with the project."""
    if configured:
        if not os.path.exists(configured):
            raise PosterError(f"找不到 POSTER_FONT 指定的字体文件：{configured}")
        return configured, 0
    try:
        import noto_cjk_sans_otc
    except ImportError:
        raise PosterError("未找到中文字体：请安装 noto-cjk-sans-otc，或用 POSTER_FONT 指定字体文件") from None
    path = str(noto_cjk_sans_otc.FONT_PATH)
    for index in range(10):
        if ImageFont.truetype(path, 10, index=index).getname()[0] == FONT_NAME:
            return path, index
    raise PosterError(f"字体文件中没有 {FONT_NAME}")


class Fonts:
    def __init__(self, path: str, index: int):
        self.path, self.index = path, index

    @functools.lru_cache(maxsize=64)  # noqa: B019  (one Fonts per batch; sizes repeat)
    def get(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.path, size, index=self.index)

    def measure(self, text: str, size: int) -> int:
        return math.ceil(self.get(size).getlength(text))


# ---------------------------------------------------------------- data


@dataclass
class PosterPerson:
    id: int
    name: str
    post: str
    phone: str
    role: str
    business: str | None = None
    oversees_field: str | None = None
    photo: str | None = None


@dataclass
class PosterOffice:
    code: str
    name: str
    department: str
    url: str
    people: list[PosterPerson]  # 附件1 order: leaders first
    ballot: list[PosterPerson]  # who the office's ballot lists (the frozen roster while a round is open)
    tags: dict[str, dict[str, str]]  # complaint tags by role group
    duties: list[tuple[str, str]] = field(default_factory=list)
    items: list[tuple[str, str, str, str]] = field(default_factory=list)
    rules: list[tuple[str, str]] = field(default_factory=list)
    round_name: str = ""  # the round a paper form is for: the open one, else the next; empty if none


def _person(p) -> PosterPerson:
    return PosterPerson(p.id, p.name, p.post, p.phone, p.role, p.business, p.oversees_field, p.photo)


def office_url(public_base_url: str, code: str) -> str:
    """The office page a poster's QR code carries (and the hall screen's)."""
    return f"{public_base_url}/o/{code}"


def office_data(office: Office, public_base_url: str) -> PosterOffice:
    page = disclosure.get_office_page(office.code)
    people = [p for section in page.sections for p in section.people]
    ballot = ballot_box.office_ballot(office)
    for_round = ballot.round or ballot.next_round
    if ballot.round is not None:
        on_ballot = [_person(entry.person) for entry in ballot.roster]
        config = ballot.config
    else:
        on_ballot = [_person(p) for p in people]
        config = BallotConfig.from_snapshot(DEFAULT_BALLOT_CONFIG)
    return PosterOffice(
        code=office.code, name=office.name, department=office.department.name,
        url=office_url(public_base_url, office.code),
        people=[_person(p) for p in people], ballot=on_ballot,
        tags={"leader": config.leader_tags, "staff": config.staff_tags},
        duties=[(d.post_name, d.duties) for d in page.duties],
        items=[(i.name, i.statutory_limit or "", i.promised_limit or "", i.procedure or "")
               for i in office.service_items],
        rules=[(g.title, g.body or "") for g in page.guidelines],
        round_name=for_round.name if for_round else "",
    )


def offices_in_scope(scope: str, value: str | None) -> list[Office]:
    """Active offices of one office code, one department, one region, or everything."""
    query = (select(Office).join(Department).join(Region).where(Office.active, Department.active)
             .options(selectinload(Office.department), selectinload(Office.service_items))
             .order_by(Region.sort_order, Region.id, Department.sort_order, Department.id, Office.sort_order,
                       Office.id))
    if scope == "office":
        query = query.where(Office.code == (value or "").strip().upper())
    elif scope == "department":
        query = query.where(Department.code == value)
    elif scope == "region":
        query = query.where(Region.code == value)
    elif scope != "all":
        raise PosterError("范围应为 office、department、region 或 all")
    offices = db.session.scalars(query).all()
    if not offices:
        raise PosterError("该范围内没有可打印的科室，请核对编码")
    return offices


# ---------------------------------------------------------------- drawing


def qr_image(url: str, min_px: int) -> Image.Image:
    """The office QR: error correction Q, a 4-module quiet zone, whole pixels per module, at
    least `min_px` wide."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=4, box_size=1)
    code.add_data(url)
    code.make(fit=True)
    modules = code.modules_count + 2 * code.border
    code.box_size = math.ceil(min_px / modules)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


class Page:
    """One poster page and the drawing helpers the layouts share."""

    def __init__(self, template: dict, fonts: Fonts, office: PosterOffice, supervision: str, media_root: str):
        self.t, self.fonts, self.office, self.media_root = template, fonts, office, media_root
        p = template["page"]
        self.dpi = p["dpi"]
        self.width, self.height, self.margin = mm(p["width_mm"], self.dpi), mm(p["height_mm"], self.dpi), \
            mm(p["margin_mm"], self.dpi)
        self.colors = template["colors"]
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.words = {"department": office.department, "office": office.name, "supervision": supervision}

    def px(self, value_mm: float) -> int:
        return mm(value_mm, self.dpi)

    def size(self, value_pt: float) -> int:
        return pt(value_pt, self.dpi)

    def fill(self, text: str) -> str:
        return text.format(**self.words)

    def text(self, xy, text: str, size: int, color: str = "text", anchor: str = "la") -> None:
        self.draw.text(xy, text, font=self.fonts.get(size), fill=self.colors.get(color, color), anchor=anchor)

    def fitted(self, x: int, y: int, width: int, text: str, size: int, min_size: int, max_lines: int = 1,
               color: str = "text") -> int:
        """Draw text shrunk or wrapped to fit; return the y below it."""
        fitted = fit_text(text, width, max_lines, size, min_size, self.fonts.measure)
        line_height = round(fitted.size * 1.35)
        for line in fitted.lines:
            self.text((x, y), line, fitted.size, color)
            y += line_height
        return y

    def header(self) -> int:
        h = self.t["header"]
        bottom = self.margin + self.px(h["height_mm"])
        self.draw.rectangle((0, 0, self.width, bottom), fill=self.colors["band"])
        self.draw.rectangle((0, bottom - self.px(1.2), self.width, bottom), fill=self.colors["primary"])
        inner = self.width - 2 * self.margin
        y = self.fitted(self.margin, self.margin, inner, self.fill(h["title"]), self.size(h["title_pt"]),
                        self.size(h["title_pt"] * 0.55), color="primary")
        self.fitted(self.margin, y, inner, self.fill(h["subtitle"]), self.size(h["subtitle_pt"]),
                    self.size(h["subtitle_pt"] * 0.6), color="muted")
        return bottom + self.px(4)

    def footer(self) -> int:
        """Draw the supervision line; return the y where the footer starts."""
        f = self.t["footer"]
        top = self.height - self.margin - self.px(f["height_mm"])
        self.draw.line((self.margin, top, self.width - self.margin, top), fill=self.colors["line"], width=3)
        self.fitted(self.margin, top + self.px(2), self.width - 2 * self.margin, self.fill(f["text"]),
                    self.size(f["pt"]), self.size(f["pt"] * 0.6))
        return top

    def qr_block(self, right: int, bottom: int) -> int:
        """The office QR with its caption, bottom-right aligned; return its top y."""
        q = self.t["qr"]
        code = qr_image(self.office.url, self.px(q["size_mm"]))
        caption_size = self.size(q["caption_pt"])
        top = bottom - code.height - round(caption_size * 1.6)
        left = right - code.width
        self.image.paste(code, (left, top))
        self.text((left + code.width // 2, top + code.height + round(caption_size * 0.2)), q["caption"],
                  caption_size, "primary", anchor="ma")
        return top

    def qr_band(self, bottom: int) -> int:
        """The invitation to rate beside the office QR, across the page above `bottom`; return
        its top y. The QR is never narrower than the layout's qr.size_mm (at least MIN_QR_MM)."""
        q = self.t["qr"]
        code = qr_image(self.office.url, self.px(q["size_mm"]))
        pad = self.px(3)
        top = bottom - code.height - 2 * pad
        self.draw.rounded_rectangle((self.margin, top, self.width - self.margin, bottom), radius=self.px(3),
                                    fill=self.colors["band"])
        left = self.width - self.margin - pad - code.width
        self.image.paste(code, (left, top + pad))
        x, width = self.margin + self.px(6), left - self.margin - self.px(12)
        caption, note = self.size(q["caption_pt"]), self.size(q["note_pt"])
        block = round(caption * 1.4) + 2 * round(note * 1.5)
        y = top + (bottom - top - block) // 2
        y = self.fitted(x, y, width, q["caption"], caption, round(caption * 0.6), color="primary")
        y = self.fitted(x, y, width, "请用微信扫描右侧二维码，对本科室工作人员的服务作出评价", note, round(note * 0.7))
        self.fitted(x, y, width, f"科室编码：{self.office.code}（填写纸质测评表时使用）", note, round(note * 0.7),
                    color="muted")
        return top

    def photo(self, person: PosterPerson, box: tuple[int, int, int, int]) -> None:
        x, y, w, h = box
        path = os.path.join(photo_dir(self.media_root), f"{person.photo}.jpg") if person.photo else None
        if path and os.path.exists(path):
            with Image.open(path) as img:
                self.image.paste(img.convert("RGB").resize((w, h), Image.Resampling.LANCZOS), (x, y))
        else:
            self.image.paste(silhouette(w, h), (x, y))
        self.draw.rectangle((x, y, x + w, y + h), outline=self.colors["line"], width=2)

    def person_card(self, person: PosterPerson, box: tuple[int, int, int, int], card: Card) -> None:
        """One person of 附件1: photo, name, post, what they do or oversee, phone."""
        x, y, w, h = box
        pad = self.px(self.t["card"]["padding_mm"])
        self.draw.rounded_rectangle((x, y, x + w, y + h), radius=self.px(2), outline=self.colors["line"], width=3)
        line, small = card.line_size, max(self.size(6.5), round(card.line_size * 0.75))
        if card.tall:
            px_ = x + (w - card.photo[0]) // 2
            self.photo(person, (px_, y + pad, *card.photo))
            ty = y + 2 * pad + card.photo[1]
            inner = w - 2 * pad
            ty = self.centred(x + w // 2, ty, inner, person.name, card.name_size, small)
            ty = self.centred(x + w // 2, ty, inner, person.post, line, small, "muted")
            ty = self.centred(x + w // 2, ty, inner, _what_they_do(person) or "", line, small, "muted")
            self.centred(x + w // 2, ty, inner, person.phone, line, small)
            return
        self.photo(person, (x + pad, y + pad, *card.photo))
        tx = x + 2 * pad + card.photo[0]
        tw = x + w - pad - tx
        ty = self.fitted(tx, y + pad, tw, person.name, card.name_size, small)
        ty = self.fitted(tx, ty, tw, person.post, line, small, color="muted")
        if what := _what_they_do(person):
            ty = self.fitted(tx, ty, tw, what, line, small, 3)
        self.fitted(tx, ty, tw, f"联系电话：{person.phone}", line, small)

    def centred(self, cx: int, y: int, width: int, text: str, size: int, min_size: int, color: str = "text") -> int:
        """One line centred on `cx`, shrunk to fit; return the y below it."""
        fitted = fit_text(text, width, 1, size, min_size, self.fonts.measure)
        self.text((cx, y), fitted.lines[0], fitted.size, color, anchor="ma")
        return y + round(fitted.size * 1.35)


def _what_they_do(person: PosterPerson) -> str | None:
    if person.role == Role.LEADER_IN_CHARGE and person.oversees_field:
        return f"分管领域：{person.oversees_field}"
    return f"从事业务：{person.business}" if person.business else None


@functools.lru_cache(maxsize=16)
def silhouette(width: int, height: int) -> Image.Image:
    """The stand-in for a missing photo: a neutral grey head and shoulders, no name or letters."""
    image = Image.new("RGB", (width, height), "#eef1f0")
    draw = ImageDraw.Draw(image)
    grey = "#c3cbc7"
    head = width * 0.22
    cx, cy = width / 2, height * 0.38
    draw.ellipse((cx - head, cy - head * 1.15, cx + head, cy + head * 1.15), fill=grey)
    draw.ellipse((width * 0.1, height * 0.66, width * 0.9, height * 1.25), fill=grey)
    return image


def _identity(template, make_page) -> list[Image.Image]:
    """附件1: 主要领导, 分管领导 and 业务人员 as cards sized to fill the page (domain.poster_layout.board),
    over as few pages as hold them with photos of at least card.min_photo_mm; the QR band below."""
    probe = make_page()
    people = probe.office.people
    groups = [[p for p in people if p.role == Role.MAIN_LEADER], [p for p in people if p.role == Role.LEADER_IN_CHARGE],
              [p for p in people if not Role(p.role).is_department_leader]]
    c, section = template["card"], probe.size(template["section_pt"])
    heading, gap = round(section * 1.7), probe.px(c["gap_mm"])

    def frame(page: Page) -> tuple[int, int]:
        top = page.header()
        return top, page.qr_band(page.footer() - page.px(3)) - page.px(4)

    top, bottom = frame(probe)
    inner = probe.width - 2 * probe.margin
    layout = board([len(g) for g in groups], inner, bottom - top, heading, gap, probe.px(c["padding_mm"]),
                   probe.px(c["min_photo_mm"][1]), probe.px(c["max_photo_mm"][1]))
    card, shown = layout.card, [0, 0, 0]  # how many of each group earlier pages showed
    pages = []
    for number, bands_on_page in enumerate(layout.pages):
        page = probe if number == 0 else make_page()
        if number:
            frame(page)
        y = top + layout.offset
        if not bands_on_page:
            page.text((page.width // 2, (top + bottom) // 2), "（暂无公示人员）", section, "muted", anchor="mm")
        for band in bands_on_page:
            column = 0
            for group, count in band.groups:
                title = template["groups"][group] + ("（续）" if shown[group] else "")
                x = page.margin + column * (card.width + gap)
                page.text((x, y), title, section, "primary")
                boxes = grid(count, card.columns - column if len(band.groups) > 1 else card.columns, x,
                             y + heading, inner - column * (card.width + gap), card.height, gap)
                for person, (bx, by, _, _) in zip(groups[group][shown[group]:shown[group] + count], boxes,
                                                  strict=True):
                    page.person_card(person, (bx, by, card.width, card.height), card)
                shown[group] += count
                column += count
            y += heading + band.rows(card.columns) * (card.height + gap) + layout.spacing
        pages.append(page.image)
    return pages


def _duties(template, make_page) -> list[Image.Image]:
    office = make_page().office
    blocks: list[tuple[str, str, str]] = []  # (kind, heading, body)
    blocks += [("duty", post, text) for post, text in office.duties]
    blocks += [("item", name, "　".join(filter(None, [f"法定时限：{law}" if law else "",
                                                       f"承诺时限：{promise}" if promise else "",
                                                       f"办理流程：{procedure}" if procedure else ""])))
               for name, law, promise, procedure in office.items]
    blocks += [("rule", title, body) for title, body in office.rules]
    titles = {"duty": "岗位职责", "item": "服务事项", "rule": "工作制度与服务用语"}
    body_size = pt(template["body_pt"], template["page"]["dpi"])
    section_size = pt(template["section_pt"], template["page"]["dpi"])
    pages: list[Image.Image] = []

    def new_page() -> tuple[Page, int, int]:
        page = make_page()
        top = page.header()
        limit = page.qr_band(page.footer() - page.px(3)) - page.px(3)
        return page, top, limit

    page, page_top, limit = new_page()
    y, current = page_top, None
    for kind, heading, body in blocks or [("duty", "（暂无公示内容）", "")]:
        inner = page.width - 2 * page.margin
        lines = wrap(body, inner, body_size, page.fonts.measure) if body else []
        need = round(body_size * 1.45) * (len(lines) + 1) + (section_size * 2 if kind != current else 0)
        if y + need > limit and y > page_top:  # does not fit: continue on a new page
            pages.append(page.image)
            page, page_top, limit = new_page()
            y, current = page_top, None
        if kind != current:
            page.text((page.margin, y), titles[kind], section_size, "primary")
            y += round(section_size * 1.7)
            current = kind
        y = page.fitted(page.margin, y, inner, heading, round(body_size * 1.1), body_size)
        for line in lines:
            page.text((page.margin, y), line, body_size, "muted")
            y += round(body_size * 1.45)
        y += page.px(2)
    pages.append(page.image)
    return pages


def _counter_card(template, make_page) -> list[Image.Image]:
    """The A6 counter card, four to a sheet (template "sheet"): two cuts along the marks give four
    cards of the full A6 size."""
    page = make_page()
    top = page.header()
    bottom = page.footer() - page.px(3)
    q = template["qr"]
    code = qr_image(page.office.url, page.px(q["size_mm"]))
    caption = page.size(q["caption_pt"])
    y = top + max(0, (bottom - top - code.height - caption * 2) // 2)
    page.image.paste(code, ((page.width - code.width) // 2, y))
    page.text((page.width // 2, y + code.height + caption // 3), q["caption"], caption, "primary", anchor="ma")
    sheet_mm = template["sheet"]
    sheet = Image.new("RGB", (page.px(sheet_mm["width_mm"]), page.px(sheet_mm["height_mm"])), "white")
    w, h = page.width, page.height
    for x, y in ((0, 0), (w, 0), (0, h), (w, h)):
        sheet.paste(page.image, (x, y))
    draw, mark, grey = ImageDraw.Draw(sheet), page.px(sheet_mm["cut_mark_mm"]), "#8a8a8a"
    marks = [(w, 0, w, mark), (w, sheet.height - mark, w, sheet.height), (0, h, mark, h),  # at the edges
             (sheet.width - mark, h, sheet.width, h), (w - mark, h, w + mark, h), (w, h - mark, w, h + mark)]
    for line in marks:
        draw.line(line, fill=grey, width=3)
    return [sheet]


def _paper_ballot(template, make_page) -> list[Image.Image]:
    """附件3 for one office: what the paper-entry screen asks for (the round, the office's name and
    code, a box for the serial written on each form when it is collected), the instructions,
    then a row per person on the office's ballot with the levels and the complaint tags."""
    probe = make_page()
    office = probe.office
    row_h = probe.px(template["row_height_mm"])
    name_size, option_size = probe.size(template["name_pt"]), probe.size(template["option_pt"])
    levels = [label for _code, label, _points in DEFAULT_BALLOT_CONFIG["levels"]]
    levels = [("较满意" if label == "比较满意" else label) for label in levels]  # as printed on 附件3

    def frame(page: Page) -> tuple[int, int]:
        y = page.header()
        box_w, box_h = page.px(56), page.px(17)
        box_x = page.width - page.margin - box_w
        page.draw.rectangle((box_x, y, box_x + box_w, y + box_h), outline=page.colors["text"], width=3)
        page.text((box_x + page.px(2), y + page.px(1.5)), "选票编号", option_size)
        page.text((box_x + page.px(2), y + box_h - page.px(1.5)), "（收集时由工作人员填写）", round(option_size * 0.8),
                  "muted", anchor="lb")
        info_w = box_x - page.margin - page.px(4)
        round_name = office.round_name or "＿＿＿＿＿＿＿＿＿＿"
        line = page.fitted(page.margin, y, info_w, f"评价轮次：{round_name}", name_size, option_size)
        line = page.fitted(page.margin, line, info_w, f"科室：{office.name}", name_size, option_size)
        page.fitted(page.margin, line, info_w, f"科室编码：{office.code}", name_size, option_size)
        y += max(box_h, round(name_size * 1.35) * 3) + page.px(3)
        for text in template["instructions"]:
            y = page.fitted(page.margin, y, page.width - 2 * page.margin, text, option_size, round(option_size * 0.8),
                            2, "muted")
        bottom = page.footer() - page.px(2)
        qr_top = page.qr_block(page.width - page.margin, bottom)
        page.fitted(page.margin, qr_top, page.width - 3 * page.margin - page.px(template["qr"]["size_mm"]),
                    template["confidentiality"], name_size, option_size, 2)
        return y + page.px(2), qr_top - page.px(3)

    top, limit = frame(probe)
    # As few pages as the rows need, the people spread evenly over them, and the rows as tall as
    # the page then allows: the room left is ruled for writing 意见建议.
    fit = max(1, (limit - top) // row_h)
    people = office.ballot
    sizes = [sum(n for _, n in page) for page in spread([len(people)], max(1, math.ceil(len(people) / fit)))]
    chunks = [people[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(len(sizes))]
    pages = []
    for number, chunk in enumerate(chunks):
        page = probe if number == 0 else make_page()
        y = top if number == 0 else frame(page)[0]
        inner = page.width - 2 * page.margin
        row_h = (limit - top) // max(1, len(chunk))
        for person in chunk:
            role = Role(person.role)
            page.draw.rectangle((page.margin, y, page.margin + inner, y + row_h - page.px(1.5)),
                                outline=page.colors["line"], width=2)
            pad = page.px(2)
            label_w = page.px(42)
            ty = page.fitted(page.margin + pad, y + pad, label_w, person.name, name_size, option_size)
            ty = page.fitted(page.margin + pad, ty, label_w, person.post, option_size, round(option_size * 0.7), 2,
                             "muted")
            page.fitted(page.margin + pad, ty, label_w, role.label, option_size, round(option_size * 0.7), 1, "muted")
            ox = page.margin + 2 * pad + label_w
            options = "  ".join(f"□{label}" for label in levels)
            oy = page.fitted(ox, y + pad, inner - label_w - 3 * pad, options, option_size, round(option_size * 0.7))
            tags = office.tags["leader" if role.is_department_leader else "staff"]
            tag_line = "  ".join(f"□{label}" + ("（请注明）" if code == "other" else "")
                                 for code, label in tags.items())
            oy = page.fitted(ox, oy, inner - label_w - 3 * pad, tag_line, option_size, round(option_size * 0.7), 2,
                             "muted")
            page.text((ox, oy), "意见建议：", option_size, "muted")
            rule, ruled = page.px(8), oy + round(option_size * 1.4) + page.px(6)
            while ruled < y + row_h - page.px(4):
                page.draw.line((ox, ruled, page.margin + inner - pad, ruled), fill=page.colors["line"], width=2)
                ruled += rule
            y += row_h
        pages.append(page.image)
    return pages


DRAW: dict[str, Callable] = {"identity": _identity, "duties": _duties, "counter_card": _counter_card,
                             "paper_ballot": _paper_ballot}


def render_office(template: dict, office: PosterOffice, fonts: Fonts, supervision: str,
                  media_root: str) -> list[Image.Image]:
    """The pages of one office's poster."""
    return DRAW[template["kind"]](template, lambda: Page(template, fonts, office, supervision, media_root))


# ---------------------------------------------------------------- batches


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(300, 300))
    return out.getvalue()


def pack(pages: list[tuple[str, Image.Image]], fmt: str, title: str) -> bytes:
    """One PDF of all pages, or a zip of PNGs; no timestamps, so the bytes are reproducible."""
    out = io.BytesIO()
    if fmt == "pdf":
        first, *rest = [image for _, image in pages]
        first.save(out, "PDF", save_all=True, append_images=rest, resolution=300.0, title=title,
                   creationDate=None, modDate=None)
    else:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for name, image in pages:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, png_bytes(image))
    return out.getvalue()


@dataclass
class Batch:
    key: str
    path: str
    pages: int
    cached: bool


def render_batch(scope: str, value: str | None, template_name: str, fmt: str, config: dict,
                 progress: Callable[[int, int], None] = lambda done, total: None) -> Batch:
    """Render (or reuse) a batch for a scope; stored under MEDIA_ROOT/posters/<hash>.<fmt>."""
    if fmt not in FORMATS:
        raise PosterError(f"格式应为：{'、'.join(FORMATS)}")
    template = load_template(template_name)
    offices = [office_data(o, config["PUBLIC_BASE_URL"]) for o in offices_in_scope(scope, value)]
    supervision = config["POSTER_SUPERVISION_LINE"]
    payload = json.dumps([RENDERER_VERSION, template, fmt, supervision, [asdict(o) for o in offices]],
                         ensure_ascii=False, sort_keys=True)
    key = hashlib.sha256(payload.encode()).hexdigest()[:40]
    folder = os.path.join(config["MEDIA_ROOT"], "posters")
    path = os.path.join(folder, f"{key}.{fmt}")
    if os.path.exists(path):
        progress(len(offices), len(offices))
        return Batch(key, path, 0, True)
    fonts = Fonts(*find_font(config.get("POSTER_FONT")))
    pages = []
    for done, office in enumerate(offices, start=1):
        images = render_office(template, office, fonts, supervision, config["MEDIA_ROOT"])
        pages += [(f"{office.code}-{template_name}-{n}.png", image) for n, image in enumerate(images, start=1)]
        progress(done, len(offices))
    data = pack(pages, fmt, template["label"])
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)  # a retried or parallel job never sees half a file
    return Batch(key, path, len(pages), False)


def missing_glyphs(text: str, fonts: Fonts, size: int = 48) -> list[str]:
    """Characters of `text` the font cannot draw (they would print as empty boxes)."""
    font = fonts.get(size)

    def bitmap(ch: str) -> bytes:
        return bytes(font.getmask(ch)) + repr(font.getbbox(ch)).encode()

    tofu = bitmap("\uffff")
    return sorted({ch for ch in text if not ch.isspace() and bitmap(ch) == tofu})
