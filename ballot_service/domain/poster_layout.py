"""Poster layout rules, free of Pillow: units, text fitting and pagination.

Text is measured through a function passed in (`measure(text, size_px) -> width_px`), so the
rules are tested without fonts and the renderer supplies the real font metrics.
"""

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


def paginate(items: Sequence, first_page: int, per_page: int) -> list[list]:
    """Split items over pages: `first_page` fit on the first, `per_page` on each later one.
    There is always at least one page, even for no items."""
    pages = [list(items[:first_page])]
    rest = list(items[first_page:])
    while rest:
        pages.append(rest[:per_page])
        rest = rest[per_page:]
    return pages


def grid(count: int, columns: int, left: int, top: int, width: int, cell_height: int, gap: int) -> list[tuple]:
    """Boxes (x, y, w, h) for `count` cards laid out in rows of `columns`."""
    cell_width = (width - gap * (columns - 1)) // columns
    return [(left + (i % columns) * (cell_width + gap), top + (i // columns) * (cell_height + gap),
             cell_width, cell_height) for i in range(count)]
