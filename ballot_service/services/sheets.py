"""Excel sheets for what the admin lists show (the circular, turnout, consequences, the audit log):
a title row, bold headers, widths, printed landscape on A4 with the headers on every page."""

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter


def sheet(workbook: Workbook, title: str, heading: str, headers: list[str], widths: list[int]):
    ws = workbook.create_sheet(re.sub(r"[\[\]:*?/\\]", "", title)[:31])
    ws.append([heading])
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.print_title_rows = "1:2"  # repeated on every printed page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.freeze_panes = "A3"
    return ws


def append(ws, row) -> None:
    """Append a row; text that Excel would take for a formula (=, +, -, @ first: a name or a
    reason typed by someone) stays text."""
    ws.append(list(row))
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def one_sheet(title: str, heading: str, headers: list[str], widths: list[int], rows) -> io.BytesIO:
    """A workbook of one such sheet, ready to send."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    ws = sheet(workbook, title, heading, headers, widths)
    for row in rows:
        append(ws, row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer


def safe_name(name: str) -> str:
    """A round's name as part of a file name (通报-2026年下半年.xlsx)."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name).strip("_") or "评价轮次"
