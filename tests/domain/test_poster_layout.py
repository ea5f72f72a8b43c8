"""Layout rules with a fake font: every character is `size` pixels wide."""

from ballot_service.domain.poster_layout import Band, bands, board, fit_text, grid, mm, pt, spread, wrap


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


def test_grid():
    assert grid(3, 2, 10, 20, 210, 50, 10) == [(10, 20, 100, 50), (120, 20, 100, 50), (10, 80, 100, 50)]


def test_people_are_spread_evenly_over_pages_in_group_order():
    assert spread([1, 2, 9], 2) == [[(0, 1), (1, 2), (2, 3)], [(2, 6)]]
    assert [sum(n for _, n in page) for page in spread([1, 3, 26], 4)] == [8, 8, 7, 7]
    assert spread([0, 0, 0], 1) == [[]]


def test_the_two_leader_groups_share_a_row_when_they_fit_in_it():
    page = [(0, 1), (1, 2), (2, 3)]
    assert bands(page, 3, frozenset({0, 1})) == [Band(((0, 1), (1, 2))), Band(((2, 3),))]
    assert bands(page, 2, frozenset({0, 1})) == [Band(((0, 1),)), Band(((1, 2),)), Band(((2, 3),))]
    assert [band.rows(2) for band in bands(page, 2, frozenset({0, 1}))] == [1, 1, 2]


def test_one_person_gets_the_largest_photo_beside_the_text_centred_on_the_page():
    # Worked by hand: one column, text beside the photo; its width allows (1000 - 3·10) / (5/7 · 2.4)
    # = 565 px of photo, so the maximum 300 px holds; card 320 + heading 50 + gap 10 = 380 of
    # 1000 px, one band, so no spacing between bands: centred, (1000 - 380) / 2 above it.
    layout = board([1, 0, 0], 1000, 1000, heading=50, gap=10, pad=10, min_photo=100, max_photo=300)
    assert (layout.card.tall, layout.card.columns, layout.card.photo, layout.card.height) == (False, 1, (214, 300), 320)
    assert (len(layout.pages), layout.spacing, layout.offset) == (1, 0, 310)


def test_more_people_than_a_page_holds_at_the_smallest_photo_go_on_more_pages():
    # Worked by hand, photos fixed at 200 px (min = max): beside the text a card is 200 px high
    # and needs 200 / (5/7 · 2.4) ... one 400 px column; above the text it is 200 + 31 + 3·22 =
    # 297 px in columns of at least 200 / (7/5) ... two. Five people: one page needs five rows
    # beside (1020 px) or three rows above (911 px), two pages (3 + 2) two rows (620 or 614 px):
    # all over 500. Three pages (2, 2, 1) fit both ways; beside the text wins at the same photo.
    layout = board([0, 0, 5], 400, 500, heading=20, gap=0, pad=0, min_photo=200, max_photo=200)
    assert [[band.groups for band in page] for page in layout.pages] == [[((2, 2),)], [((2, 2),)], [((2, 1),)]]
    assert (layout.card.tall, layout.card.columns, layout.card.photo) == (False, 1, (143, 200))
