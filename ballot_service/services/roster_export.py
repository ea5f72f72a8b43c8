"""The roster workbook written for editing in Excel and importing back (roster_import).

The three templates of roster_io filled with the active roster, each row with its 状态 and 编号;
dropdowns on the columns of fixed values (人员类别, 类别, 状态) and on 部门编码; a 填写说明 sheet
first, with what each column takes and an example row; a 部门科室对照 sheet last, the
departments and offices whose names the rows must use.
"""

from collections.abc import Callable
from typing import IO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from ..domain.roster import DUTY_CATEGORY_LABELS
from ..extensions import db
from ..models import Department, PostDuty, Region
from .catalog import covers_department
from .roster_io import DUTIES, ITEMS, KEY, PEOPLE, SHEETS, STATUS, ImportRejected
from .sheets import append, one_sheet

INSTRUCTIONS = "填写说明"
REFERENCE = "部门科室对照"
LAST_ROW = 5001  # the dropdowns reach as far as an import reads (roster_io.MAX_ROWS data rows)

# What each column takes, as the 填写说明 sheet says it.
COLUMN_HELP = {
    "部门编码": "必填。部门的编码，见“部门科室对照”表，可从下拉列表选择",
    "科室": "主要领导、分管领导不填；其他人员、业务科室的岗位和服务事项必填，须与“部门科室对照”表中的科室名称一致",
    "人员类别": "必填，从下拉列表选择",
    "姓名": "必填，不超过50字",
    "职务": "必填，不超过100字",
    "联系电话": "必填。11位手机号，或带区号的座机，如0530-5310000",
    "从事业务": "选填，不超过2000字",
    "岗位职责": "人员表选填，岗位职责表必填；不超过4000字",
    "分管领域": "只有分管领导填写，不超过200字",
    "分管科室": "只有分管领导填写，多个科室用顿号（、）分隔",
    "类别": "必填，从下拉列表选择：主要领导、分管领导的岗位不填科室",
    "岗位名称": "必填，不超过100字",
    "事项名称": "必填，同一科室内不重复，不超过200字",
    "办理流程": "选填，不超过4000字",
    "法定时限": "选填，不超过50字",
    "承诺时限": "选填，不超过50字",
    "申请材料": "选填，不超过4000字",
    STATUS: "人员填“在岗”或“离岗”（标为离岗即不再公示、不再参加评价，历史评价保留）；"
            "岗位和事项填“公示”或“撤销”（撤销即删除）。留空视为在岗、公示",
    KEY: "系统编号，导出时自动生成，请勿修改；新增的行留空。表中没有的行不受影响",
}
EXAMPLES = {
    PEOPLE.title: ("spj", "企业登记窗口", "工作人员", "刘文博", "窗口工作人员", "13953012347", "企业变更登记",
                   "负责企业变更登记的受理与审核", "", "", "在岗", ""),
    DUTIES.title: ("spj", "业务科室", "企业登记窗口", "企业登记窗口", "受理企业设立、变更、注销登记", "公示", ""),
    ITEMS.title: ("spj", "企业登记窗口", "企业设立登记", "申请→受理→审核→发照", "3个工作日", "即时办结",
                  "申请书、章程、身份证明", "公示", ""),
}


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
            yield (dept.code, p.office.name if p.office else "", p.role_enum.label, p.name, p.post, p.phone,
                   p.business or "", p.duties or "", p.oversees_field or "",
                   "、".join(o.name for o in p.overseen_offices), PEOPLE.statuses[0], f"{PEOPLE.key_prefix}{p.id}")


def _duty_rows(dept: Department):
    duties = db.session.scalars(
        select(PostDuty).where(PostDuty.department_id == dept.id).order_by(PostDuty.sort_order, PostDuty.id)
    )
    for d in duties:
        yield (dept.code, DUTY_CATEGORY_LABELS[d.category], d.office.name if d.office else "", d.post_name,
               d.duties, DUTIES.statuses[0], f"{DUTIES.key_prefix}{d.id}")


def _item_rows(dept: Department):
    for office in dept.offices:
        for i in office.service_items:
            yield (dept.code, office.name, i.name, i.procedure or "", i.statutory_limit or "",
                   i.promised_limit or "", i.materials or "", ITEMS.statuses[0], f"{ITEMS.key_prefix}{i.id}")


def _instructions(workbook: Workbook) -> None:
    ws = workbook.create_sheet(INSTRUCTIONS)
    ws.append(["三亮名单导入模板填写说明"])
    ws["A1"].font = Font(bold=True, size=14)
    lines = [
        "1. 本工作簿导出时已填入系统中的在岗人员、岗位职责和服务事项。修改后原样导入：有编号的行按表中内容更新，"
        "没有编号的行新增，状态标为“离岗”“撤销”的行退出公示。导入前先预览将要发生的变化，确认后一次全部生效；"
        "任何一处有误则不导入任何内容，并逐行列出错误。",
        "2. 请勿修改表头、工作表名称和“编号”列；表中没有的行不受影响。",
        "3. 各列填写要求如下，示例行仅供参考，不要粘贴到数据表中。",
    ]
    for line in lines:
        ws.append([line])
    for sheet in SHEETS:
        ws.append([])
        ws.append([f"【{sheet.title}】"])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.append(["列", "填写要求", "示例"])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        for header, example in zip(sheet.headers, EXAMPLES[sheet.title], strict=True):
            append(ws, (header, COLUMN_HELP[header], example))
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 80
    ws.column_dimensions["C"].width = 30
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _reference(workbook: Workbook, departments: list[Department]) -> str:
    """The departments and their offices; returns the range of department codes for the dropdown."""
    ws = workbook.create_sheet(REFERENCE)
    ws.append(["部门编码", "部门名称", "科室"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for dept in departments:
        offices = [o.name for o in dept.offices if o.active] or [""]
        for index, office in enumerate(offices):
            append(ws, (dept.code if index == 0 else "", dept.name if index == 0 else "", office))
    for column, width in (("A", 12), ("B", 30), ("C", 30)):
        ws.column_dimensions[column].width = width
    return f"{quote_sheetname(REFERENCE)}!$A$2:$A${max(ws.max_row, 2)}"


def _dropdown(ws, sheet, header: str, formula: str) -> None:
    column = get_column_letter(sheet.headers.index(header) + 1)
    validation = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                                errorTitle="请从下拉列表选择", error=f"“{header}”请从下拉列表中选择")
    validation.add(f"{column}2:{column}{LAST_ROW}")
    ws.add_data_validation(validation)


def export_workbook(stream: IO[bytes], department_code: str | None = None,
                    in_scope: Callable[[Department], bool] | None = None) -> None:
    """Write the templates filled with the active roster (all departments, or one; with
    `in_scope`, only the departments it accepts), ready to be edited and imported back."""
    departments = [d for d in ordered_departments(department_code) if in_scope is None or in_scope(d)]
    workbook = Workbook()
    workbook.remove(workbook.active)
    _instructions(workbook)
    data_sheets = []
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
        data_sheets.append((ws, sheet))
    codes = _reference(workbook, departments)
    for ws, sheet in data_sheets:
        _dropdown(ws, sheet, "部门编码", codes)
        for header, choices in sheet.choices.items():
            _dropdown(ws, sheet, header, '"' + ",".join(choices) + '"')
    workbook.active = 1  # opens on the people
    workbook.save(stream)


def errors_workbook(rejected: ImportRejected):
    """The error table of a refused import as a workbook to download (io.BytesIO)."""
    rows = [(e.sheet, e.row, e.column or "", e.message) for e in rejected.errors]
    return one_sheet("导入错误", f"名单导入未通过：共{len(rows)}处错误，请逐条修改后重新导入",
                     ["工作表", "行", "列", "问题"], [18, 8, 18, 70], rows)


def export_for(scope, stream: IO[bytes], department: Department | None = None) -> None:
    """The roster workbook: one department, or everything the scope covers."""
    export_workbook(stream, department.code if department else None, covers_department(scope))
