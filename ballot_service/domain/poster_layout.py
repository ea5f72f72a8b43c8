"""Poster layout rules, free of Pillow: units, text fitting, grids and the identity board.

Text is measured through a function passed in (`measure(text, size_px) -> width_px`), so the
rules are tested without fonts and the renderer supplies the real font metrics.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Measure = Callable[[str, int], int]
ELLIPSIS = "…"


def mm(value: float, dpi: int) -> int:
    return round(value * dpi / 25.4)


def pt(value: float, dpi: int) -> int:
    return round(value * dpi / 72)


@dataclass(frozen=True)
class Fitted:
    lines: list[str]
    size: int  # font size in pixels


def wrap(text: str, width: int, size: int, measure: Measure) -> list[str]:
    """Break text into lines no wider than `width`, at any character (Chinese has no spaces);
    explicit newlines are kept."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for ch in paragraph:
            if line and measure(line + ch, size) > width:
                lines.append(line)
                line = ch.lstrip() if ch.isspace() else ch
            else:
                line += ch
        lines.append(line)
    return lines


def fit_text(text: str, width: int, max_lines: int, size: int, min_size: int, measure: Measure) -> Fitted:
    """Shrink the text from `size` down to `min_size` until it fits in `max_lines` lines of
    `width`; if it still does not fit, keep `max_lines` lines at `min_size` and end with …"""
    for candidate in range(size, min_size - 1, -max(1, size // 20)):
        lines = wrap(text, width, candidate, measure)
        if len(lines) <= max_lines:
            return Fitted(lines, candidate)
    lines = wrap(text, width, min_size, measure)[:max_lines]
    last = lines[-1]
    while last and measure(last + ELLIPSIS, min_size) > width:
        last = last[:-1]
    lines[-1] = last + ELLIPSIS
    return Fitted(lines, min_size)


def grid(count: int, columns: int, left: int, top: int, width: int, cell_height: int, gap: int) -> list[tuple]:
    """Boxes (x, y, w, h) for `count` cards laid out in rows of `columns`."""
    cell_width = (width - gap * (columns - 1)) // columns
    return [(left + (i % columns) * (cell_width + gap), top + (i // columns) * (cell_height + gap),
             cell_width, cell_height) for i in range(count)]


# --- the identity board: cards that fill the page for any head count ----------------------------

PHOTO_RATIO = 5 / 7  # a 1寸 portrait: width to height
MAX_COLUMNS = 8


@dataclass(frozen=True)
class Card:
    """Every card of a board alike, in pixels: photo left and text right, or photo above text."""

    tall: bool
    columns: int
    width: int
    height: int
    photo: tuple[int, int]
    name_size: int
    line_size: int


@dataclass(frozen=True)
class Band:
    """Cards under one heading line: one group of 附件1 in its own rows, or both leader groups
    side by side in one row when they fit in it together."""

    groups: tuple[tuple[int, int], ...]  # (group index, how many of its people)

    def rows(self, columns: int) -> int:
        if len(self.groups) > 1:
            return 1
        return math.ceil(self.groups[0][1] / columns)


@dataclass(frozen=True)
class Board:
    card: Card
    pages: list[list[Band]]
    spacing: int  # extra height between bands, the page's leftover shared out (capped)
    offset: int  # half of what is left after that, above the first band: the block is centred


def card_for(tall: bool, columns: int, photo_height: int, width: int, pad: int) -> Card:
    """A card's size from its photo's height: the type grows with the photo."""
    name_size, line_size = round(photo_height * 0.12), round(photo_height * 0.08)
    photo = (round(photo_height * PHOTO_RATIO), photo_height)
    if tall:  # name, post, what they do or oversee, and phone under the photo
        height = 3 * pad + photo_height + round(name_size * 1.3) + 3 * round(line_size * 1.35)
    else:
        height = photo_height + 2 * pad
    return Card(tall, columns, width, height, photo, name_size, line_size)


def spread(groups: Sequence[int], pages: int) -> list[list[tuple[int, int]]]:
    """The people of the groups, in order, over `pages` pages as evenly as possible:
    (group index, how many) per page."""
    total = sum(groups)
    quotas = [total // pages + (1 if i < total % pages else 0) for i in range(pages)]
    queue = [[index, n] for index, n in enumerate(groups) if n]
    out = []
    for quota in quotas:
        page = []
        while quota and queue:
            take = min(quota, queue[0][1])
            page.append((queue[0][0], take))
            quota, queue[0][1] = quota - take, queue[0][1] - take
            if not queue[0][1]:
                queue.pop(0)
        out.append(page)
    return out


def bands(page: Sequence[tuple[int, int]], columns: int, side_by_side: frozenset[int]) -> list[Band]:
    """A page's groups as bands: consecutive groups in `side_by_side` share one row if they fit."""
    out: list[Band] = []
    for group in page:
        last = out[-1].groups if out else ()
        if (last and group[0] in side_by_side and all(g in side_by_side for g, _ in last)
                and sum(n for _, n in last) + group[1] <= columns):
            out[-1] = Band((*last, group))
        else:
            out.append(Band((group,)))
    return out


def _height(page_bands: list[Band], card: Card, heading: int, gap: int) -> int:
    return sum(heading + band.rows(card.columns) * (card.height + gap) for band in page_bands)


def board(groups: Sequence[int], width: int, height: int, heading: int, gap: int, pad: int,
          min_photo: int, max_photo: int, side_by_side: frozenset[int] = frozenset({0, 1})) -> Board:
    """The identity board's layout: the fewest pages that hold every group's people (`groups`:
    how many in each, in 附件1 order) with photos of at least `min_photo` px high, and on those
    pages the largest photo (up to `max_photo`) that fits every page, in 1 to MAX_COLUMNS
    columns, photo beside or above the text (see _score). Each band has a
    heading line `heading` px high; cards are `gap` apart. The people are spread evenly over
    the pages, so that no last page is left nearly empty, and the height left over is shared
    out between the bands (up to a quarter card each) and then above and below."""
    total = sum(groups)
    for count in range(1, max(total, 1) + 1):
        per_page = spread(groups, count) if total else [[]]
        best = None
        for tall in (False, True):
            for columns in range(1, MAX_COLUMNS + 1):
                card_width = (width - (columns - 1) * gap) // columns
                found = _largest(per_page, tall, columns, card_width, height, heading, gap, pad, min_photo, max_photo,
                                 side_by_side)
                if found and (best is None or _score(found[0]) > _score(best[0])):
                    best = found
        if best is not None:
            card, laid_out = best
            used = max(_height(b, card, heading, gap) for b in laid_out)
            between = max(len(b) for b in laid_out) - 1  # gaps between bands
            spacing = min((height - used) // between, card.height // 4) if between > 0 else 0
            return Board(card, laid_out, spacing, (height - used - spacing * max(between, 0)) // 2)
    raise ValueError("不能排版：一页放不下一张最小尺寸的卡片")


def _score(card: Card) -> float:
    """Larger photos first; a card with its text beside the photo has room for more of it, so it
    wins over a tall one unless that gives a photo 15 % larger."""
    return card.photo[1] * (1.0 if card.tall else 1.15)


def _largest(per_page, tall, columns, card_width, height, heading, gap, pad, min_photo, max_photo, side_by_side):
    """(card, bands per page) with the largest photo that fits every page, or None."""
    if tall:
        limit = (card_width - 2 * pad) / PHOTO_RATIO
    else:  # the text beside the photo at least 1.4 photos wide
        limit = (card_width - 3 * pad) / (PHOTO_RATIO * 2.4)
    laid_out = [bands(page, columns, side_by_side) for page in per_page]

    def fits(photo_height: int) -> bool:
        card = card_for(tall, columns, photo_height, card_width, pad)
        return all(_height(b, card, heading, gap) <= height for b in laid_out)

    low, high = min_photo, min(max_photo, int(limit))
    if high < low or not fits(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return card_for(tall, columns, low, card_width, pad), laid_out
