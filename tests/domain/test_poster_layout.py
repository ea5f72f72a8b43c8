"""Layout rules with a fake font: every character is `size` pixels wide."""

from ballot_service.domain.poster_layout import fit_text, grid, mm, paginate, pt, wrap


def measure(text, size):
    return len(text) * size


def test_units_at_300_dpi():
    assert mm(25.4, 300) == 300 and mm(210, 300) == 2480 and mm(30, 300) == 354
    assert pt(12, 300) == 50


def test_wrap_breaks_anywhere_and_keeps_newlines():
    assert wrap("一二三四五六七", 30, 10, measure) == ["一二三", "四五六", "七"]
    assert wrap("甲乙\n丙", 100, 10, measure) == ["甲乙", "丙"]


def test_long_text_shrinks_then_wraps_then_ends_with_an_ellipsis():
    assert fit_text("行政审批服务局", 100, 1, 14, 10, measure).size == 14  # 7×14 = 98 fits
    shrunk = fit_text("行政审批服务局企业登记窗口", 130, 1, 14, 8, measure)  # 13 chars need ≤ 10 px
    assert shrunk.size == 10 and shrunk.lines == ["行政审批服务局企业登记窗口"]
    two_lines = fit_text("一" * 20, 100, 2, 12, 10, measure)
    assert two_lines.size == 10 and two_lines.lines == ["一" * 10, "一" * 10]
    cut = fit_text("一" * 50, 100, 2, 12, 10, measure)
    assert cut.size == 10 and cut.lines == ["一" * 10, "一" * 9 + "…"]


def test_pagination_and_grid():
    assert paginate(list(range(7)), 3, 2) == [[0, 1, 2], [3, 4], [5, 6]]
    assert paginate([], 3, 2) == [[]]
    assert grid(3, 2, 10, 20, 210, 50, 10) == [(10, 20, 100, 50), (120, 20, 100, 50), (10, 80, 100, 50)]
