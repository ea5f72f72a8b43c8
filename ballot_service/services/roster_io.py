"""Excel import and export of 附件1 (people), 附件2 (post duties) and service items.

One workbook, one sheet per template; a file may carry any of the three sheets. An import
is all or nothing: every row of every sheet is checked first, each problem is reported with
its sheet, row and column, and only a file without problems is written, in one transaction.
Departments and offices must already exist; people, duties and items are added.
"""

import re
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain.phones import is_valid_phone, normalize_phone
from ..domain.roles import ROLE_BY_LABEL, ROLE_LABELS, Role
from ..extensions import db
from ..models import DUTY_CATEGORY_LABELS, Department, Office, Person, PostDuty, Region, ServiceItem
from .sheets import append


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: tuple[str, ...]
    required: tuple[str, ...]


PEOPLE = Sheet(
    "人员身份公示表",
    ("部门编码", "科室", "人员类别", "姓名", "职务", "联系电话", "从事业务", "岗位职责", "分管领域", "分管科室"),
    ("部门编码", "人员类别", "姓名", "职务", "联系电话"),
)
DUTIES = Sheet(
    "岗位职责公示表",
    ("部门编码", "类别", "科室", "岗位名称", "岗位职责"),
    ("部门编码", "类别", "岗位名称", "岗位职责"),
)
ITEMS = Sheet(
    "服务事项清单",
    ("部门编码", "科室", "事项名称", "办理流程", "法定时限", "承诺时限", "申请材料"),
    ("部门编码", "科室", "事项名称"),
)
SHEETS = (PEOPLE, DUTIES, ITEMS)

# Longest text each column takes (the database column's length).
MAX_LENGTH = {
    "姓名": Person.__table__.c.name.type.length,
    "职务": Person.__table__.c.post.type.length,
    "分管领域": Person.__table__.c.oversees_field.type.length,
    "岗位名称": PostDuty.__table__.c.post_name.type.length,
    "事项名称": ServiceItem.__table__.c.name.type.length,
    "法定时限": ServiceItem.__table__.c.statutory_limit.type.length,
    "承诺时限": ServiceItem.__table__.c.promised_limit.type.length,
}
LIST_SEPARATORS = re.compile(r"[、,，;；\s]+")
CATEGORY_BY_LABEL = {label: key for key, label in DUTY_CATEGORY_LABELS.items()}


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
class ImportSummary:
    people: int = 0
    duties: int = 0
    items: int = 0


@dataclass
class _Row:
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


def _read(stream: IO[bytes]) -> tuple[dict[str, list[_Row]], list[RowError]]:
    _check_size(stream)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except UNREADABLE:
        raise ImportRejected([RowError("文件", 1, None, NOT_EXCEL)]) from None
    rows: dict[str, list[_Row]] = {}
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


def _read_sheets(workbook, rows: dict[str, list[_Row]], errors: list[RowError]) -> None:
    for sheet in SHEETS:
        if sheet.title not in workbook.sheetnames:
            continue
        width = len(sheet.headers)
        # Cells right of the template are ignored, so not even read (a sheet may claim 16384 columns).
        lines = workbook[sheet.title].iter_rows(max_col=width, max_row=EXCEL_ROWS, values_only=True)
        header = tuple(_cell_text(v) for v in next(lines, ()))
        header = header[:width]
        if header != sheet.headers:
            errors.append(RowError(sheet.title, 1, None, "表头应为：" + "、".join(sheet.headers)))
            continue
        sheet_rows: list[_Row] = []
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
            sheet_rows.append(_Row(number, dict(zip(sheet.headers, texts + [""] * (width - len(texts)), strict=True))))
        else:
            rows[sheet.title] = sheet_rows


class _Checker:
    """Collects row errors; `column()` names the cell a problem is in."""

    def __init__(self, sheet: Sheet):
        self.sheet = sheet
        self.errors: list[RowError] = []

    def add(self, row: _Row, header: str | None, message: str) -> None:
        column = f"{get_column_letter(self.sheet.headers.index(header) + 1)}（{header}）" if header else None
        self.errors.append(RowError(self.sheet.title, row.number, column, message))

    def basic(self, row: _Row) -> bool:
        """Required cells and lengths; True when the row can be checked further."""
        ok = True
        for header in self.sheet.required:
            if not row.values.get(header):
                self.add(row, header, "不能为空")
                ok = False
        for header, limit in MAX_LENGTH.items():
            if len(row.values.get(header, "")) > limit:
                self.add(row, header, f"不能超过{limit}个字")
                ok = False
        return ok


@dataclass
class _Org:
    """Departments by code, with their offices by name, as the database has them."""

    departments: dict[str, Department] = field(default_factory=dict)
    offices: dict[tuple[int, str], Office] = field(default_factory=dict)
    in_scope: Callable[[Department], bool] | None = None  # None: every department

    @classmethod
    def load(cls, in_scope: Callable[[Department], bool] | None = None) -> "_Org":
        org = cls(in_scope=in_scope)
        for dept in db.session.scalars(select(Department).options(selectinload(Department.offices))):
            org.departments[dept.code] = dept
            for office in dept.offices:
                org.offices[(dept.id, office.name)] = office
        return org

    def department(self, check: _Checker, row: _Row) -> Department | None:
        dept = self.departments.get(row.values["部门编码"])
        if dept is None:
            check.add(row, "部门编码", f"系统中没有编码为“{row.values['部门编码']}”的部门")
        elif self.in_scope is not None and not self.in_scope(dept):
            check.add(row, "部门编码", f"部门“{dept.name}”不在您的管理范围内")
            return None
        return dept

    def office(self, check: _Checker, row: _Row, dept: Department, name: str, header: str = "科室") -> Office | None:
        office = self.offices.get((dept.id, name))
        if office is None:
            check.add(row, header, f"{dept.name}没有名为“{name}”的科室")
        return office


def _check_people(rows: list[_Row], org: _Org, start_order: int) -> tuple[list[Person], list[RowError]]:
    check = _Checker(PEOPLE)
    existing = set(db.session.execute(select(Person.department_id, Person.name, Person.phone).where(Person.active)))
    seen: dict[tuple, int] = {}
    people = []
    for row in rows:
        if not check.basic(row):
            continue
        v = row.values
        dept = org.department(check, row)
        role = ROLE_BY_LABEL.get(v["人员类别"])
        if role is None:
            check.add(row, "人员类别", "应为以下之一：" + "、".join(ROLE_LABELS.values()))
        phone = normalize_phone(v["联系电话"])
        if not is_valid_phone(phone):
            check.add(row, "联系电话", f"“{v['联系电话']}”不是有效号码（11位手机号，或带区号的座机如0530-5310000）")
        if dept is None or role is None:
            continue
        office, overseen = None, []
        if role.is_department_leader:
            if v["科室"]:
                check.add(row, "科室", f"{role.label}属于部门，不填科室")
        elif not v["科室"]:
            check.add(row, "科室", f"{role.label}必须填写所在科室")
        else:
            office = org.office(check, row, dept, v["科室"])
        if role is Role.LEADER_IN_CHARGE:
            for name in filter(None, LIST_SEPARATORS.split(v["分管科室"])):
                if found := org.office(check, row, dept, name, "分管科室"):
                    overseen.append(found)
        elif v["分管科室"] or v["分管领域"]:
            check.add(row, "分管科室" if v["分管科室"] else "分管领域", "只有分管负责人填写分管领域和分管科室")
        key = (dept.id, v["姓名"], phone)
        if key in seen:
            check.add(row, "姓名", f"与第{seen[key]}行重复（同一部门、同一姓名和电话）")
        elif key in existing:
            check.add(row, "姓名", f"{dept.name}已有此人（姓名和电话相同）")
        seen.setdefault(key, row.number)
        people.append(
            Person(
                department=dept,
                office=office,
                role=role.value,
                name=v["姓名"],
                post=v["职务"],
                phone=phone,
                business=v["从事业务"] or None,
                duties=v["岗位职责"] or None,
                oversees_field=v["分管领域"] or None,
                overseen_offices=overseen,
                sort_order=start_order + row.number,
            )
        )
    return people, check.errors


def _check_duties(rows: list[_Row], org: _Org, start_order: int) -> tuple[list[PostDuty], list[RowError]]:
    check = _Checker(DUTIES)
    existing = set(db.session.execute(select(PostDuty.department_id, PostDuty.office_id, PostDuty.post_name)))
    seen: dict[tuple, int] = {}
    duties = []
    for row in rows:
        if not check.basic(row):
            continue
        v = row.values
        dept = org.department(check, row)
        category = CATEGORY_BY_LABEL.get(v["类别"])
        if category is None:
            check.add(row, "类别", "应为以下之一：" + "、".join(DUTY_CATEGORY_LABELS.values()))
        if dept is None or category is None:
            continue
        office = None
        if category == "office":
            if not v["科室"]:
                check.add(row, "科室", "业务科室的岗位必须填写科室")
                continue
            if (office := org.office(check, row, dept, v["科室"])) is None:
                continue
        elif v["科室"]:
            check.add(row, "科室", "领导岗位属于部门，不填科室")
        key = (dept.id, office.id if office else None, v["岗位名称"])
        if key in seen:
            check.add(row, "岗位名称", f"与第{seen[key]}行重复")
        elif key in existing:
            check.add(row, "岗位名称", "系统中已有此岗位")
        seen.setdefault(key, row.number)
        duties.append(
            PostDuty(
                department=dept,
                office=office,
                category=category,
                post_name=v["岗位名称"],
                duties=v["岗位职责"],
                sort_order=start_order + row.number,
            )
        )
    return duties, check.errors


def _check_items(rows: list[_Row], org: _Org, start_order: int) -> tuple[list[ServiceItem], list[RowError]]:
    check = _Checker(ITEMS)
    existing = set(db.session.execute(select(ServiceItem.office_id, ServiceItem.name)))
    seen: dict[tuple, int] = {}
    items = []
    for row in rows:
        if not check.basic(row):
            continue
        v = row.values
        dept = org.department(check, row)
        office = org.office(check, row, dept, v["科室"]) if dept else None
        if office is None:
            continue
        key = (office.id, v["事项名称"])
        if key in seen:
            check.add(row, "事项名称", f"与第{seen[key]}行重复")
        elif key in existing:
            check.add(row, "事项名称", f"{office.name}已有此事项")
        seen.setdefault(key, row.number)
        items.append(
            ServiceItem(
                office=office,
                name=v["事项名称"],
                procedure=v["办理流程"] or None,
                statutory_limit=v["法定时限"] or None,
                promised_limit=v["承诺时限"] or None,
                materials=v["申请材料"] or None,
                sort_order=start_order + row.number,
            )
        )
    return items, check.errors


def import_workbook(stream: IO[bytes], in_scope: Callable[[Department], bool] | None = None) -> ImportSummary:
    """Import every sheet of the workbook, or nothing (raises ImportRejected). With `in_scope`,
    rows of departments it refuses are errors too (an admin importing for their own scope)."""
    rows, errors = _read(stream)
    org = _Org.load(in_scope)
    checks = {
        PEOPLE.title: (_check_people, Person),
        DUTIES.title: (_check_duties, PostDuty),
        ITEMS.title: (_check_items, ServiceItem),
    }
    new: dict[str, list] = defaultdict(list)
    with db.session.no_autoflush:  # nothing reaches the database before every row is checked
        for title, sheet_rows in rows.items():
            check, model = checks[title]
            # New rows sort after what is already there, in file order.
            start_order = db.session.scalar(select(db.func.max(model.sort_order))) or 0
            new[title], sheet_errors = check(sheet_rows, org, start_order)
            errors.extend(sheet_errors)
    if errors:
        db.session.rollback()  # the checks built objects in the session; keep none of them
        raise ImportRejected(errors)
    for objects in new.values():
        db.session.add_all(objects)
    db.session.flush()  # the caller commits
    return ImportSummary(len(new[PEOPLE.title]), len(new[DUTIES.title]), len(new[ITEMS.title]))


def ordered_departments(department_code: str | None = None) -> list[Department]:
    query = (
        select(Department)
        .join(Region)
        .where(Department.active)
        .order_by(Region.sort_order, Region.id, Department.sort_order, Department.id)
    )
    if department_code:
        query = query.where(Department.code == department_code)
    return db.session.scalars(query).all()


def _people_rows(dept: Department):
    for p in dept.people:
        if p.active:
            yield (
                dept.code,
                p.office.name if p.office else "",
                p.role_enum.label,
                p.name,
                p.post,
                p.phone,
                p.business or "",
                p.duties or "",
                p.oversees_field or "",
                "、".join(o.name for o in p.overseen_offices),
            )


def _duty_rows(dept: Department):
    duties = db.session.scalars(
        select(PostDuty).where(PostDuty.department_id == dept.id).order_by(PostDuty.sort_order, PostDuty.id)
    )
    for d in duties:
        yield (dept.code, DUTY_CATEGORY_LABELS[d.category], d.office.name if d.office else "", d.post_name, d.duties)


def _item_rows(dept: Department):
    for office in dept.offices:
        for i in office.service_items:
            yield (
                dept.code,
                office.name,
                i.name,
                i.procedure or "",
                i.statutory_limit or "",
                i.promised_limit or "",
                i.materials or "",
            )


def export_workbook(stream: IO[bytes], department_code: str | None = None,
                    in_scope: Callable[[Department], bool] | None = None) -> None:
    """Write the three templates filled with the active roster (all departments, or one;
    with `in_scope`, only the departments it accepts)."""
    departments = [d for d in ordered_departments(department_code) if in_scope is None or in_scope(d)]
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet, rows in ((PEOPLE, _people_rows), (DUTIES, _duty_rows), (ITEMS, _item_rows)):
        ws = workbook.create_sheet(sheet.title)
        ws.append(sheet.headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for dept in departments:
            for values in rows(dept):
                append(ws, values)  # a name or duty typed as "=…" stays text
        for index, header in enumerate(sheet.headers, start=1):
            ws.column_dimensions[get_column_letter(index)].width = 30 if "职责" in header or "流程" in header else 14
        ws.freeze_panes = "A2"
    workbook.save(stream)
