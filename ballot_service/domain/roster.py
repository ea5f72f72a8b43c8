"""The rules a roster row obeys, whichever way it arrives: an admin form, the API or a row of the
Excel workbook. People (附件1), post duties (附件2) and service items are checked here on plain
values; looking things up (the department, the office, duplicates in the database) is the
caller's part, and so is saying where a problem is (a form field, a sheet's cell).

Each check returns the cleaned values and every problem found, each naming its field (the
model's attribute name): a form shows the first, an import lists them all.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from .phones import is_valid_phone, normalize_phone
from .roles import ROLE_LABELS, Role

# The longest text each field takes, in characters. The database columns are declared with these.
LIMITS = {
    "name": 50, "post": 100, "phone": 32, "business": 2000, "duties": 4000, "oversees_field": 200,
    "post_name": 100, "item_name": 200, "procedure": 4000, "statutory_limit": 50, "promised_limit": 50,
    "materials": 4000,
}
LABELS = {
    "department_id": "部门", "office_id": "科室", "role": "人员类别", "name": "姓名", "post": "职务",
    "phone": "联系电话", "business": "从事业务", "duties": "岗位职责", "oversees_field": "分管领域",
    "overseen_office_ids": "分管科室", "category": "类别", "post_name": "岗位名称", "item_name": "事项名称",
    "procedure": "办理流程", "statutory_limit": "法定时限", "promised_limit": "承诺时限", "materials": "申请材料",
}
DUTY_CATEGORY_LABELS = {"main_leader": "主要领导", "leader_in_charge": "分管领导", "office": "业务科室"}
PHONE_HINT = "11位手机号，或带区号的座机如0530-5310000"


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class _Problems(list):
    def add(self, field: str, message: str) -> None:
        self.append(Problem(field, message))


def clean_text(value, label: str, limit: int, required: bool = True) -> tuple[str | None, str | None]:
    """A trimmed text and the problem with it, if any: empty (None; a problem if required), not
    text, over `limit` characters, or holding control characters other than tab and line breaks."""
    value = value.strip() if isinstance(value, str) else value
    if not value:
        return None, f"请填写{label}" if required else None
    if not isinstance(value, str):
        return None, f"{label}应为文字"
    if len(value) > limit:
        return value, f"{label}不能超过{limit}个字"
    if any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        return value, f"{label}含有不可用的控制字符"
    return value, None


def _text(values: Mapping, name: str, problems: _Problems, required: bool = True, rule: str = "") -> str | None:
    """The field's clean_text, its problem added; `rule` names the label and limit when they are
    not the field's own (an item's name)."""
    value, problem = clean_text(values.get(name), LABELS[rule or name], LIMITS[rule or name], required)
    if problem:
        problems.add(name, problem)
    return value


def _phone(values: Mapping, problems: _Problems) -> str | None:
    raw = _text(values, "phone", problems)
    if raw is None:
        return None
    phone = normalize_phone(raw)
    if not is_valid_phone(phone) or len(phone) > LIMITS["phone"]:
        problems.add("phone", f"“{raw}”不是有效号码（{PHONE_HINT}）")
    return phone


def role_of(value) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


ROLE_CHOICES = "人员类别应为以下之一：" + "、".join(ROLE_LABELS.values())


def check_person(values: Mapping, *, has_office: bool, oversees: bool, department_name: str,
                 department_active: bool = True, new: bool = False) -> tuple[dict, list[Problem]]:
    """One person: `values` holds role (a Role's value), name, post, phone, business, duties and
    oversees_field; `has_office` and `oversees` say whether an office and overseen offices were
    given. Department leaders belong to no office, everyone else to one; only a leader-in-charge
    oversees offices or names a field; no one is added to a department that is deactivated."""
    problems = _Problems()
    if new and not department_active:
        problems.add("department_id", f"{department_name}已停用，不能新增人员")
    role = role_of(values.get("role"))
    if role is None:
        problems.add("role", ROLE_CHOICES)
    checked = {"role": role, "name": _text(values, "name", problems), "post": _text(values, "post", problems),
               "phone": _phone(values, problems),
               "business": _text(values, "business", problems, required=False),
               "duties": _text(values, "duties", problems, required=False),
               "oversees_field": _text(values, "oversees_field", problems, required=False)}
    if role is not None:
        if role.is_department_leader and has_office:
            problems.add("office_id", f"{role.label}属于部门，不指定科室")
        elif not role.is_department_leader and not has_office:
            problems.add("office_id", f"{role.label}必须指定所在科室")
        if role is not Role.LEADER_IN_CHARGE and (oversees or checked["oversees_field"]):
            problems.add("overseen_office_ids" if oversees else "oversees_field",
                         f"只有{ROLE_LABELS[Role.LEADER_IN_CHARGE]}填写分管领域和分管科室")
    return checked, problems


def check_duty(values: Mapping, *, has_office: bool) -> tuple[dict, list[Problem]]:
    """One post duty: category (a key of DUTY_CATEGORY_LABELS), post_name and duties; an office's
    post names its office, a leader's post none."""
    problems = _Problems()
    category = values.get("category")
    if category not in DUTY_CATEGORY_LABELS:
        problems.add("category", "类别应为以下之一：" + "、".join(DUTY_CATEGORY_LABELS.values()))
    elif category == "office" and not has_office:
        problems.add("office_id", "业务科室的岗位必须指定科室")
    elif category != "office" and has_office:
        problems.add("office_id", "领导岗位属于部门，不指定科室")
    checked = {"category": category, "post_name": _text(values, "post_name", problems),
               "duties": _text(values, "duties", problems)}
    return checked, problems


def check_item(values: Mapping) -> tuple[dict, list[Problem]]:
    """One service item: name, then procedure, statutory_limit, promised_limit and materials, all
    optional."""
    problems = _Problems()
    checked = {"name": _text(values, "name", problems, rule="item_name")}
    for name in ("procedure", "statutory_limit", "promised_limit", "materials"):
        checked[name] = _text(values, name, problems, required=False)
    return checked, problems
