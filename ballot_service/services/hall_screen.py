"""The hall screen (/screen/<department>): a 1920×1080 TV read from 3–5 m away, cycling through
panels — the department's leaders, each office's people (a large office over several panels),
and the latest published results. Each office panel carries the office's QR code, the same URL
its posters carry."""

import functools
import math
import re
from dataclasses import dataclass, field

import qrcode
import qrcode.image.svg
from markupsafe import Markup

from .disclosure import DepartmentPage, RosterSection
from .posters import office_url
from .results import DepartmentReport, Line

PEOPLE_PER_PANEL = 12
RESULTS_PER_PANEL = 8  # office lines, two columns of four, under the department's line
PEOPLE_SECONDS = 15
RESULTS_SECONDS = 20

# (most people on a panel, columns, rows): the photo grid shrinks as the office grows.
GRIDS = ((1, 1, 1), (2, 2, 1), (4, 2, 2), (6, 3, 2), (9, 3, 3), (12, 3, 4))


@functools.lru_cache(maxsize=512)
def qr_svg(url: str, label: str) -> Markup:
    """The office QR as inline SVG (error correction Q, a 4-module quiet zone on white), sized by CSS."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=4,
                         image_factory=qrcode.image.svg.SvgPathFillImage)
    code.add_data(url)
    code.make(fit=True)
    svg = code.make_image().to_string(encoding="unicode")
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg class="qr-svg" shape-rendering="crispEdges"', svg, count=1)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1)
    return Markup(svg)


def grid_for(count: int) -> tuple[int, int]:
    for most, cols, rows in GRIDS:
        if count <= most:
            return cols, rows
    return GRIDS[-1][1:]


def chunks(items: list, most: int) -> list[list]:
    """`items` in as few pages of at most `most` as can be, as evenly filled as can be."""
    if not items:
        return [[]]
    pages = math.ceil(len(items) / most)
    size = math.ceil(len(items) / pages)
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class Panel:
    kind: str  # "people" or "results"
    title: str
    seconds: int
    heading: str = ""  # the panel's own heading (an office, 部门领导, the round)
    part: str = ""  # "第1/3页" when one office spans panels
    people: list = field(default_factory=list)
    cols: int = 1
    rows: int = 1
    office: object = None
    qr: Markup | None = None
    url: str = ""
    line: Line | None = None  # the office's (or, on the leaders' panel, the department's) result
    lines: list[Line] = field(default_factory=list)  # results panels: office lines


def _people_panels(title: str, heading: str, sections: list[RosterSection], **extra) -> list[Panel]:
    people = [p for section in sections for p in section.people]
    pages = chunks(people, PEOPLE_PER_PANEL)
    cols, rows = grid_for(max(len(page) for page in pages))
    return [Panel("people", title, PEOPLE_SECONDS, heading, f"第{n}/{len(pages)}页" if len(pages) > 1 else "",
                  page, cols, rows, **extra) for n, page in enumerate(pages, start=1)]


def panels(page: DepartmentPage, report: DepartmentReport | None, public_base_url: str) -> list[Panel]:
    name = page.department.name
    shown = f"{name} · 人员身份公示"
    office_lines = {line.code: line for line in report.offices} if report else {}
    out: list[Panel] = []
    if any(section.people for section in page.leaders):
        out += _people_panels(shown, "部门领导", page.leaders, line=report.line if report else None)
    for office, sections in page.offices:
        url = office_url(public_base_url, office.code)
        out += _people_panels(shown, office.name, sections, office=office, url=url,
                              qr=qr_svg(url, f"{office.name}评价二维码"), line=office_lines.get(office.code))
    title = f"{name} · 评价结果"
    if report is None:
        out.append(Panel("results", title, RESULTS_SECONDS))
    else:
        pages = chunks(report.offices, RESULTS_PER_PANEL)
        out += [Panel("results", title, RESULTS_SECONDS, report.round.name,
                      f"第{n}/{len(pages)}页" if len(pages) > 1 else "", line=report.line, lines=lines)
                for n, lines in enumerate(pages, start=1)]
    return out
