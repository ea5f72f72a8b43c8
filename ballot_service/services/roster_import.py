"""Excel import of the roster workbook (roster_io): the round trip.

Each row carries its 编号 (the stable key roster_export wrote; empty for a new row) and its 状态:
an import adds the rows without a key, updates the rows with one where a cell changed, retires
people marked 离岗 and withdraws duties and items marked 撤销. A row left out of the file is left
alone (a workbook may hold one department, or one sheet).

`plan_import` checks every row of every sheet with the rules of domain.roster (the ones the
admin forms and the API obey) and lists what would change, row by row, writing nothing; every
problem is reported with its sheet, row and column. Only a file without problems has a plan,
and `ImportPlan.apply` writes all of it in the caller's transaction. Exporting and importing the
same file plans no change. Departments and offices must already exist.
"""

import hashlib
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..domain import roster
from ..domain.access import Scope
from ..domain.roles import ROLE_BY_LABEL, Role
from ..domain.roster import DUTY_CATEGORY_LABELS
from ..extensions import db, redis_ext
from ..models import Department, Office, Person, PostDuty, ServiceItem
from .catalog import covers_department
from .roster_io import (
    CATEGORY_BY_LABEL,
    DUTIES,
    ITEMS,
    KEY,
    LIST_SEPARATORS,
    PEOPLE,
    SHEETS,
    STATUS,
    ImportRejected,
    Row,
    RowError,
    Sheet,
    read,
)

ADDED, CHANGED, RETIRED_KIND, RESTORED, WITHDRAWN_KIND = "新增", "修改", "离岗", "恢复在岗", "撤销"


@dataclass(frozen=True)
class Change:
    """One row's change, as the preview shows it."""

    sheet: str
    row: int
    kind: str  # ADDED, CHANGED, RETIRED_KIND, RESTORED or WITHDRAWN_KIND
    subject: str  # who or what: 市行政审批服务局 企业登记窗口 刘文博
    details: tuple[str, ...] = ()  # 联系电话：13953012347 → 13953012399


@dataclass
class ImportPlan:
    """What an import will change; nothing is written before `apply`."""

    changes: list[Change] = field(default_factory=list)
    _writes: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def count(self, sheet: Sheet, kind: str) -> int:
        return sum(1 for c in self.changes if c.sheet == sheet.title and c.kind == kind)

    @property
    def digest(self) -> str:
        """Names this plan: a confirmation applies only the changes that were shown."""
        return hashlib.sha256(repr(self.changes).encode()).hexdigest()[:32]

    def summary(self) -> str:
        parts = []
        for sheet in SHEETS:
            counts = [f"{kind}{n}" for kind in (ADDED, CHANGED, RETIRED_KIND, RESTORED, WITHDRAWN_KIND)
                      if (n := self.count(sheet, kind))]
            if counts:
                parts.append(f"{sheet.title}：" + "，".join(counts))
        return "；".join(parts) if parts else "与系统中的数据一致，没有需要更新的内容"

    def apply(self) -> None:
        """Write every change in the caller's transaction (the caller commits); a concurrent
        change that breaks a unique rule rolls it all back."""
        for write in self._writes:
            write()
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            message = "与系统中的数据冲突（可能刚被他人修改），请重新导出后再试"
            raise ImportRejected([RowError("文件", 1, None, message)]) from None


class _Checker:
    """Collects one sheet's row errors, each in the column of the field it is about."""

    def __init__(self, sheet: Sheet):
        self.sheet = sheet
        self.errors: list[RowError] = []

    def add(self, row: Row, header: str | None, message: str) -> None:
        column = f"{get_column_letter(self.sheet.headers.index(header) + 1)}（{header}）" if header else None
        self.errors.append(RowError(self.sheet.title, row.number, column, message))

    def problems(self, row: Row, problems: list[roster.Problem]) -> bool:
        """The domain's problems in their columns; True when there were none."""
        for problem in problems:
            self.add(row, self.sheet.header_of(problem.field), problem.message)
        return not problems

    def status(self, row: Row) -> bool | None:
        """True for a row kept (在岗, 公示 or empty), False for one retired; None if unreadable."""
        value = row.values.get(STATUS, "")
        kept, retired = self.sheet.statuses
        if value in ("", kept, retired):
            return value != retired
        self.add(row, STATUS, f"应为{kept}或{retired}")
        return None

    def key(self, row: Row) -> int | None:
        """The row's id from its 编号 (0 for a new row), None when the 编号 is not one of this sheet's."""
        value = row.values.get(KEY, "").upper()
        if not value:
            return 0
        digits = value.removeprefix(self.sheet.key_prefix)
        if value.startswith(self.sheet.key_prefix) and digits.isdigit() and len(digits) <= 9 and int(digits):
            return int(digits)
        self.add(row, KEY, f"“{row.values[KEY]}”不是本表的编号（应为{self.sheet.key_prefix}加数字；新增的行请留空）")
        return None


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

    def department(self, check: _Checker, row: Row) -> Department | None:
        code = row.values["部门编码"]
        dept = self.departments.get(code)
        if not code:
            check.add(row, "部门编码", "请填写部门编码")
        elif dept is None:
            check.add(row, "部门编码", f"系统中没有编码为“{code}”的部门")
        elif self.in_scope is not None and not self.in_scope(dept):
            check.add(row, "部门编码", f"部门“{dept.name}”不在您的管理范围内")
            return None
        return dept

    def office(self, check: _Checker, row: Row, dept: Department, name: str, header: str = "科室") -> Office | None:
        office = self.offices.get((dept.id, name))
        if office is None:
            check.add(row, header, f"{dept.name}没有名为“{name}”的科室")
        return office


def _existing(check: _Checker, row: Row, rows: dict, row_id: int, dept: Department):
    """The row the 编号 names, in the row's department; None (an error) otherwise."""
    found = rows.get(row_id)
    if found is None:
        sheet = check.sheet
        check.add(row, KEY, f"系统中没有编号为{sheet.key_prefix}{row_id}的{sheet.noun}（新增的行请留空编号）")
    elif (owner := found.office.department if isinstance(found, ServiceItem) else found.department) is not dept:
        check.add(row, KEY, f"编号{check.sheet.key_prefix}{row_id}属于{owner.name}，与部门编码不符")
        return None
    return found


def _shown(name: str, value) -> str:
    """A cell's value as the preview shows it: names, not ids or codes; long texts cut."""
    if isinstance(value, list):
        value = "、".join(o.name for o in value)
    elif isinstance(value, Office):
        value = value.name
    elif name == "role" and value:
        value = Role(value).label
    elif name == "category" and value:
        value = DUTY_CATEGORY_LABELS[value]
    text = str(value) if value else "（空）"
    return text if len(text) <= 40 else text[:39] + "…"


def _label(sheet: Sheet, name: str) -> str:
    """The column a changed field is in (an office is the 科室 column, the overseen offices 分管科室)."""
    return sheet.header_of(name) or sheet.header_of(f"{name}_id") or {"overseen_offices": "分管科室"}.get(name, name)


class _Planner:
    """One sheet's rows turned into changes: the additions, updates and retirements to write."""

    def __init__(self, sheet: Sheet, plan: ImportPlan, model, start_order: int):
        self.check = _Checker(sheet)
        self.plan, self.model, self.start_order = plan, model, start_order
        self.seen: dict[tuple, int] = {}

    def duplicate(self, row: Row, header: str, key: tuple, existing_id: int | None, own_id: int,
                  message: str, within: str = "重复") -> None:
        if key in self.seen:
            self.check.add(row, header, f"与第{self.seen[key]}行{within}")
        elif existing_id is not None and existing_id != own_id:
            self.check.add(row, header, message)
        self.seen.setdefault(key, row.number)

    def record(self, row: Row, current, values: dict, keep: bool, subject: str) -> None:
        """Plan the row: a new object, the cells that changed, a retirement or a withdrawal."""
        sheet = self.check.sheet
        if current is None:
            if not keep:
                self.check.add(row, STATUS, f"没有编号的行是新增的{sheet.noun}，不能标为{sheet.statuses[1]}")
                return
            values = {**values, "sort_order": self.start_order + row.number}
            self.plan.changes.append(Change(sheet.title, row.number, ADDED, subject))
            self.plan._writes.append(lambda: db.session.add(self.model(**values)))
            return
        if not keep and sheet is not PEOPLE:
            self.plan.changes.append(Change(sheet.title, row.number, WITHDRAWN_KIND, subject))
            self.plan._writes.append(lambda: db.session.delete(current))
            return
        changed = {name: value for name, value in values.items() if _differs(getattr(current, name), value)}
        if sheet is PEOPLE and keep != current.active:
            changed["active"] = keep
            kind = RESTORED if keep else RETIRED_KIND
        elif changed:
            kind = CHANGED
        else:
            return
        details = tuple(f"{_label(sheet, name)}：{_shown(name, getattr(current, name))} → {_shown(name, value)}"
                        for name, value in changed.items() if name != "active")
        self.plan.changes.append(Change(sheet.title, row.number, kind, subject, details))

        def write(current=current, changed=changed):
            for name, value in changed.items():
                setattr(current, name, value)
        self.plan._writes.append(write)


def _differs(current, new) -> bool:
    if isinstance(new, list):
        return [o.id for o in current] != [o.id for o in new]
    if isinstance(new, Office) or isinstance(current, Office):
        return getattr(current, "id", None) != getattr(new, "id", None)
    return (current or None) != (new or None)


def _by_id(model, ids: list[int], *options) -> dict:
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)).options(*options))} \
        if ids else {}


def _plan_people(rows: list[Row], org: _Org, planner: _Planner) -> None:
    check = planner.check
    keys = {row.number: check.key(row) for row in rows}
    current_rows = _by_id(Person, [k for k in keys.values() if k], selectinload(Person.overseen_offices))
    existing = {(d, n, p): i for i, d, n, p in db.session.execute(
        select(Person.id, Person.department_id, Person.name, Person.phone).where(Person.active))}
    for row in rows:
        v = row.values
        dept, keep, row_id = org.department(check, row), check.status(row), keys[row.number]
        role = ROLE_BY_LABEL.get(v["人员类别"])
        values = {"role": role.value if role else None, "name": v["姓名"], "post": v["职务"], "phone": v["联系电话"],
                  "business": v["从事业务"], "duties": v["岗位职责"], "oversees_field": v["分管领域"]}
        checked, problems = roster.check_person(
            values, has_office=bool(v["科室"]), oversees=bool(v["分管科室"]),
            department_name=dept.name if dept else "", department_active=dept.active if dept else True,
            new=not row_id)
        if not check.problems(row, problems) or dept is None or keep is None or row_id is None:
            continue
        current = _existing(check, row, current_rows, row_id, dept) if row_id else None
        office = org.office(check, row, dept, v["科室"]) if v["科室"] else None
        overseen = [org.office(check, row, dept, name, "分管科室")
                    for name in dict.fromkeys(filter(None, LIST_SEPARATORS.split(v["分管科室"])))]
        if (row_id and current is None) or (v["科室"] and office is None) or None in overseen:
            continue
        if keep:
            key = (dept.id, checked["name"], checked["phone"])
            planner.duplicate(row, "姓名", key, existing.get(key), row_id, f"{dept.name}已有此人（姓名和电话相同）",
                              "重复（同一部门、同一姓名和电话）")
        planner.record(row, current, {**checked, "role": role.value, "department_id": dept.id, "office": office,
                                      "overseen_offices": overseen}, keep,
                       " ".join(filter(None, (dept.name, office.name if office else "", checked["name"]))))


def _plan_duties(rows: list[Row], org: _Org, planner: _Planner) -> None:
    check = planner.check
    keys = {row.number: check.key(row) for row in rows}
    current_rows = _by_id(PostDuty, [k for k in keys.values() if k])
    existing = {(d, o, n): i for i, d, o, n in db.session.execute(
        select(PostDuty.id, PostDuty.department_id, PostDuty.office_id, PostDuty.post_name))}
    for row in rows:
        v = row.values
        dept, keep, row_id = org.department(check, row), check.status(row), keys[row.number]
        checked, problems = roster.check_duty({"category": CATEGORY_BY_LABEL.get(v["类别"]), "post_name": v["岗位名称"],
                                               "duties": v["岗位职责"]}, has_office=bool(v["科室"]))
        if not check.problems(row, problems) or dept is None or keep is None or row_id is None:
            continue
        current = _existing(check, row, current_rows, row_id, dept) if row_id else None
        office = org.office(check, row, dept, v["科室"]) if v["科室"] else None
        if (row_id and current is None) or (v["科室"] and office is None):
            continue
        key = (dept.id, office.id if office else None, checked["post_name"])
        if keep:
            planner.duplicate(row, "岗位名称", key, existing.get(key), row_id, "系统中已有此岗位")
        planner.record(row, current, {**checked, "department_id": dept.id, "office_id": key[1]}, keep,
                       " ".join(filter(None, (dept.name, office.name if office else "", checked["post_name"]))))


def _plan_items(rows: list[Row], org: _Org, planner: _Planner) -> None:
    check = planner.check
    keys = {row.number: check.key(row) for row in rows}
    current_rows = _by_id(ServiceItem, [k for k in keys.values() if k], selectinload(ServiceItem.office))
    existing = {(o, n): i for i, o, n in db.session.execute(select(ServiceItem.id, ServiceItem.office_id,
                                                                   ServiceItem.name))}
    for row in rows:
        v = row.values
        dept, keep, row_id = org.department(check, row), check.status(row), keys[row.number]
        checked, problems = roster.check_item({"name": v["事项名称"], "procedure": v["办理流程"],
                                               "statutory_limit": v["法定时限"], "promised_limit": v["承诺时限"],
                                               "materials": v["申请材料"]})
        if not v["科室"]:
            problems.append(roster.Problem("office_id", "请填写科室"))
        if not check.problems(row, problems) or dept is None or keep is None or row_id is None:
            continue
        office = org.office(check, row, dept, v["科室"])
        current = _existing(check, row, current_rows, row_id, dept) if row_id else None
        if office is None or (row_id and current is None):
            continue
        key = (office.id, checked["name"])
        if keep:
            planner.duplicate(row, "事项名称", key, existing.get(key), row_id, f"{office.name}已有此事项")
        planner.record(row, current, {**checked, "office_id": office.id}, keep,
                       f"{dept.name} {office.name} {checked['name']}")


_PLANS = {PEOPLE.title: (_plan_people, Person), DUTIES.title: (_plan_duties, PostDuty),
          ITEMS.title: (_plan_items, ServiceItem)}


def plan_import(stream: IO[bytes], in_scope: Callable[[Department], bool] | None = None) -> ImportPlan:
    """What importing the workbook would change, writing nothing; raises ImportRejected listing
    every problem. With `in_scope`, rows of departments it refuses are errors too (an admin
    importing for their own scope)."""
    rows, errors = read(stream)
    org = _Org.load(in_scope)
    plan = ImportPlan()
    with db.session.no_autoflush:
        for title, sheet_rows in rows.items():
            plan_rows, model = _PLANS[title]
            # New rows sort after what is already there, in file order.
            start_order = db.session.scalar(select(db.func.max(model.sort_order))) or 0
            planner = _Planner(next(s for s in SHEETS if s.title == title), plan, model, start_order)
            plan_rows(sheet_rows, org, planner)
            errors.extend(sorted(planner.check.errors, key=lambda e: e.row))  # a row's in column order
    if errors:
        raise ImportRejected(errors)
    return plan


def import_workbook(stream: IO[bytes], in_scope: Callable[[Department], bool] | None = None) -> ImportPlan:
    """Plan and apply in one go (the caller commits): the plan says what changed."""
    plan = plan_import(stream, in_scope)
    plan.apply()
    return plan


# --- within a user's scope, and between the preview and its confirmation ------------------------

HELD_SECONDS = 30 * 60
STALE = "名单在预览之后已有变化（可能刚被他人修改），请重新上传并预览"


def plan_for(scope: Scope, data: bytes) -> ImportPlan:
    """What the uploaded workbook would change within the scope; raises ImportRejected listing
    every bad row, rows of departments outside the scope included."""
    return plan_import(io.BytesIO(data), covers_department(scope))


def import_for(scope: Scope, data: bytes, digest: str | None = None) -> ImportPlan:
    """Apply the uploaded workbook within the scope (the caller commits); with `digest`, only if
    its plan is still the one the user was shown."""
    plan = plan_for(scope, data)
    if digest is not None and plan.digest != digest:
        raise ImportRejected([RowError("文件", 1, None, STALE)])
    plan.apply()
    return plan


def _held_key(user_id: int, token: str) -> str:
    return f"roster-upload:{user_id}:{token}"


def hold(user_id: int, data: bytes) -> str:
    """Keep an uploaded workbook for its user between the preview and the confirmation (in Redis,
    shared by every web process, for HELD_SECONDS); returns its token."""
    token = secrets.token_urlsafe(16)
    redis_ext.client.set(_held_key(user_id, token), data, ex=HELD_SECONDS)
    return token


def held(user_id: int, token: str) -> bytes | None:
    """The workbook `hold` kept for this user, or None once expired, confirmed or never held."""
    if not token or len(token) > 64:
        return None
    return redis_ext.client.get(_held_key(user_id, token))


def release(user_id: int, token: str) -> None:
    redis_ext.client.delete(_held_key(user_id, token))
