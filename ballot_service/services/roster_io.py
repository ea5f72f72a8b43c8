"""The roster workbook: 附件1 (people), 附件2 (post duties) and service items, one sheet each.

What the sheets hold, and reading an uploaded workbook safely (bounded in size and rows, each
problem reported with its sheet, row and column). roster_import turns the rows into a plan of
changes; roster_export writes the workbook the import reads back.
"""

import re
import zipfile
from dataclasses import dataclass, field
from typing import IO

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ..domain.roles import ROLE_LABELS
from ..domain.roster import DUTY_CATEGORY_LABELS

ACTIVE, RETIRED = "在岗", "离岗"  # 状态 of a person
SHOWN, WITHDRAWN = "公示", "撤销"  # 状态 of a duty or an item
STATUS, KEY = "状态", "编号"


@dataclass(frozen=True)
class Sheet:
    """A template: its columns (each filling a field of domain.roster), then 状态 and 编号."""

    title: str
    fields: dict[str, str]  # header -> field
    statuses: tuple[str, str]  # kept, retired
    key_prefix: str  # 编号 RY12: person 12
    noun: str
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # header -> the values it takes

    @property
    def headers(self) -> tuple[str, ...]:
        return (*self.fields, STATUS, KEY)

    def header_of(self, field_name: str) -> str | None:
        return next((h for h, f in self.fields.items() if f == field_name), None)


PEOPLE = Sheet(
    "人员身份公示表",
    {"部门编码": "department_id", "科室": "office_id", "人员类别": "role", "姓名": "name", "职务": "post",
     "联系电话": "phone", "从事业务": "business", "岗位职责": "duties", "分管领域": "oversees_field",
     "分管科室": "overseen_office_ids"},
    (ACTIVE, RETIRED), "RY", "人员", {"人员类别": tuple(ROLE_LABELS.values()), STATUS: (ACTIVE, RETIRED)},
)
DUTIES = Sheet(
    "岗位职责公示表",
    {"部门编码": "department_id", "类别": "category", "科室": "office_id", "岗位名称": "post_name",
     "岗位职责": "duties"},
    (SHOWN, WITHDRAWN), "GW", "岗位", {"类别": tuple(DUTY_CATEGORY_LABELS.values()), STATUS: (SHOWN, WITHDRAWN)},
)
ITEMS = Sheet(
    "服务事项清单",
    {"部门编码": "department_id", "科室": "office_id", "事项名称": "name", "办理流程": "procedure",
     "法定时限": "statutory_limit", "承诺时限": "promised_limit", "申请材料": "materials"},
    (SHOWN, WITHDRAWN), "SX", "事项", {STATUS: (SHOWN, WITHDRAWN)},
)
SHEETS = (PEOPLE, DUTIES, ITEMS)
CATEGORY_BY_LABEL = {label: key for key, label in DUTY_CATEGORY_LABELS.items()}
LIST_SEPARATORS = re.compile(r"[、,，;；\s]+")


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"「{self.sheet}」第{self.row}行"
        if self.column:
            where += f"「{self.column}」列"
        return f"{where}：{self.message}"


class ImportRejected(Exception):
    """Nothing was imported; `errors` lists every problem found."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"导入失败，共{len(errors)}处错误")
        self.errors = errors


@dataclass
class Row:
    number: int
    values: dict[str, str]


def _cell_text(value) -> str:
    """Spreadsheet cells as text; phone numbers typed as numbers lose no digits."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


# What openpyxl raises on files that are not, or not quite, xlsx workbooks (XML parse errors are
# SyntaxErrors; a chartsheet where a worksheet is expected gives AttributeError).
UNREADABLE = (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, SyntaxError,
              AttributeError)


# A small upload can expand a lot (xlsx is a zip): what is read is bounded before it is parsed.
MAX_UNCOMPRESSED = 50 * 2**20  # bytes, all members of the zip together
MAX_ROWS = 5000  # data rows per sheet; more is refused, not truncated
EXCEL_ROWS = 2**20  # a worksheet's last row in Excel: row numbers beyond it are not read at all
NOT_EXCEL = "不是有效的 Excel 工作簿（.xlsx），请使用导出的模板填写"


def _check_size(stream: IO[bytes]) -> None:
    """Refuse a workbook whose members add up to more than MAX_UNCOMPRESSED bytes. zipfile stops
    every member at the size the zip declares, so the declared sizes bound what openpyxl reads."""
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except UNREADABLE:
        raise ImportRejected([RowError("文件", 1, None, NOT_EXCEL)]) from None
    finally:
        stream.seek(start)
    if total > MAX_UNCOMPRESSED:
        message = f"工作簿解压后超过{MAX_UNCOMPRESSED // 2**20}MB，内容过大，请删除多余内容或分批导入"
        raise ImportRejected([RowError("文件", 1, None, message)])


def read(stream: IO[bytes]) -> tuple[dict[str, list[Row]], list[RowError]]:
    _check_size(stream)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except UNREADABLE:
        raise ImportRejected([RowError("文件", 1, None, NOT_EXCEL)]) from None
    rows: dict[str, list[Row]] = {}
    errors: list[RowError] = []
    try:
        _read_sheets(workbook, rows, errors)
    except UNREADABLE:  # openpyxl reads sheets lazily: a malformed sheet fails only here
        message = "工作簿内容已损坏，无法读取，请使用导出的模板重新填写"
        raise ImportRejected([RowError("文件", 1, None, message)]) from None
    finally:
        workbook.close()
    if not rows and not errors:
        names = "、".join(s.title for s in SHEETS)
        errors.append(RowError("文件", 1, None, f"没有找到可导入的工作表（应为：{names}）"))
    return rows, errors


def _read_sheets(workbook, rows: dict[str, list[Row]], errors: list[RowError]) -> None:
    for sheet in SHEETS:
        if sheet.title not in workbook.sheetnames:
            continue
        width = len(sheet.headers)
        # Cells right of the template are ignored, so not even read (a sheet may claim 16384 columns).
        lines = workbook[sheet.title].iter_rows(max_col=width, max_row=EXCEL_ROWS, values_only=True)
        header = tuple(_cell_text(v) for v in next(lines, ()))
        header = tuple(h for h in header[:width] if h)
        if header not in (sheet.headers, sheet.headers[:-2]):  # a workbook of the template before 状态 and 编号
            errors.append(RowError(sheet.title, 1, None, "表头应为：" + "、".join(sheet.headers)))
            continue
        sheet_rows: list[Row] = []
        for number, line in enumerate(lines, start=2):
            if all(v is None for v in line):  # the cheap test first: gaps come as rows of None
                continue
            texts = [_cell_text(v) for v in line[:width]]
            if not any(texts):
                continue
            if len(sheet_rows) == MAX_ROWS:
                errors.append(RowError(sheet.title, number, None, f"工作表“{sheet.title}”超过{MAX_ROWS}行，请分批导入"))
                break
            # Short rows are padded with empty cells.
            sheet_rows.append(Row(number, dict(zip(sheet.headers, texts + [""] * (width - len(texts)), strict=True))))
        else:
            rows[sheet.title] = sheet_rows


