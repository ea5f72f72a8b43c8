"""The catalog: regions, departments and offices as the admin area and the API change them, the
checks every catalog change shares, and the lists within a scope both of them show (people,
post duties and service items change through services.roster).

Every function checks its input completely before changing anything, raises `CatalogError`
(a Chinese message and the name of the bad field) when the input is refused, and flushes once
at the end: the request or command that called it commits. The audit trail records the row
changes by itself (services.audit). People, offices and departments are deactivated, never
deleted: past rounds need them.
"""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..domain import roster
from ..domain.access import Level, Place, Scope
from ..domain.office_codes import is_valid_department_code, new_office_code
from ..extensions import db
from ..models import (
    REGION_KINDS,
    Department,
    Office,
    Person,
    PostDuty,
    Region,
    ServiceItem,
)
from . import access

OUT_OF_SCOPE = "不在您的管理范围内"
REGION_KIND_LABELS = {"city": "市级", "county": "县区", "zone": "功能区"}


class CatalogError(ValueError):
    """Input refused; the message is for people, `field` names the bad input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- small checks -------------------------------------------------------------------------------

def _text(data: dict, name: str, label: str, limit: int, required: bool = True) -> str | None:
    """A trimmed text field (domain.roster.clean_text): None when empty and optional."""
    value, problem = roster.clean_text(data.get(name), label, limit, required)
    if problem:
        raise CatalogError(problem, name)
    return value


def _length(model, column: str) -> int:
    return model.__table__.c[column].type.length


def _sort_order(data: dict, current: int = 0) -> int:
    value = data.get("sort_order", current)
    if value in (None, ""):
        return current
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise CatalogError("排序应为整数", "sort_order") from None
    if not -1_000_000 <= value <= 1_000_000:
        raise CatalogError("排序应在 -1000000 至 1000000 之间", "sort_order")
    return value


def valid_id(value) -> int | None:
    """`value` as an object id, or None when no row can have it: ids are 1..access.MAX_ID (the
    database's integer column), so anything else (not an int, a bool, zero, negative, beyond 32
    bits) is simply not there, never a query PostgreSQL refuses. Views and this module share it."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= access.MAX_ID else None


def _get(model, obj_id, field: str, label: str):
    obj_id = valid_id(obj_id)
    row = db.session.get(model, obj_id) if obj_id is not None else None
    if row is None:
        raise CatalogError(f"请选择一个存在的{label}", field)
    return row


def covers_department(scope: Scope):
    """`department -> bool`: whether the scope covers the department (imports and exports of the
    roster take it)."""
    return lambda dept: scope.covers(Place(dept.region_id, dept.id))


def _department_in_scope(scope: Scope, department_id, field: str = "department_id") -> Department:
    dept = _get(Department, department_id, field, "部门")
    if not covers_department(scope)(dept):
        raise CatalogError(OUT_OF_SCOPE, field)
    return dept


def _office_in_scope(scope: Scope, office_id, field: str = "office_id") -> Office:
    office = _get(Office, office_id, field, "科室")
    if not scope.covers(access.office_place(office)):
        raise CatalogError(OUT_OF_SCOPE, field)
    return office


def _merged(row, data: dict, names: Iterable[str]) -> dict:
    """The row's current values overlaid with the given changes (a PATCH, or a whole form)."""
    return {name: data[name] if name in data else getattr(row, name) for name in names}


def _flush() -> None:
    """Write the change for the caller to commit; a unique constraint hit by a concurrent write is
    a clear refusal (the session rolled back), not a 500."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise CatalogError("与已有数据重复（可能刚被他人修改），请刷新后重试", None) from None


def _created(row):
    """A new row, checked already, written for the caller to commit."""
    db.session.add(row)
    _flush()
    return row


def _updated(row, values: dict):
    """A row changed to its checked values, written for the caller to commit."""
    for name, value in values.items():
        setattr(row, name, value)
    _flush()
    return row


def _flag(data: dict, name: str, current: bool) -> bool:
    value = data.get(name, current)
    if not isinstance(value, bool):
        raise CatalogError("应为是或否", name)
    return value


# --- regions ------------------------------------------------------------------------------------

REGION_FIELDS = ("code", "name", "kind", "sort_order")


def _check_region(scope: Scope, data: dict, region: Region | None) -> dict:
    if scope.level is not Level.CITY:
        raise CatalogError("只有全市协调员可以新增或修改区域", "name")
    values = _merged(region, data, REGION_FIELDS) if region else dict(data)
    code = _text(values, "code", "区域编码", _length(Region, "code"))
    if not is_valid_department_code(code):
        raise CatalogError("区域编码只能由字母、数字、- 和 _ 组成", "code")
    name = _text(values, "name", "区域名称", _length(Region, "name"))
    kind = values.get("kind")
    if kind not in REGION_KINDS:
        raise CatalogError("区域类型应为：" + "、".join(REGION_KIND_LABELS.values()), "kind")
    others = select(Region).where(Region.id != (region.id if region else -1))
    if db.session.scalar(others.where(Region.code == code)):
        raise CatalogError(f"区域编码“{code}”已被使用", "code")
    if db.session.scalar(others.where(Region.name == name)):
        raise CatalogError(f"已有名为“{name}”的区域", "name")
    # The city region's coordinators see every region: there is exactly one, and it stays one.
    if kind == "city" and (region is None or region.kind != "city"):
        if db.session.scalar(others.where(Region.kind == "city")):
            raise CatalogError("已有市级区域，只能有一个", "kind")
    if region is not None and region.kind == "city" and kind != "city":
        raise CatalogError("市级区域的类型不能修改", "kind")
    return {"code": code, "name": name, "kind": kind,
            "sort_order": _sort_order(values, region.sort_order if region else 0)}


def create_region(scope: Scope, data: dict) -> Region:
    return _created(Region(**_check_region(scope, data, None)))


def update_region(scope: Scope, region: Region, data: dict) -> Region:
    return _updated(region, _check_region(scope, data, region))


# --- departments --------------------------------------------------------------------------------

DEPARTMENT_FIELDS = ("region_id", "code", "name", "is_stationed", "superior_authority", "active", "sort_order")


def _check_department(scope: Scope, data: dict, dept: Department | None) -> dict:
    values = _merged(dept, data, DEPARTMENT_FIELDS) if dept else dict(data)
    region = _get(Region, values.get("region_id"), "region_id", "区域")
    if not scope.covers(Place(region.id)) or (scope.level not in (Level.CITY, Level.REGION)):
        raise CatalogError(OUT_OF_SCOPE, "region_id")
    code = _text(values, "code", "部门编码", _length(Department, "code"))
    if not is_valid_department_code(code):
        raise CatalogError("部门编码只能由字母、数字、- 和 _ 组成（用于链接和导入表）", "code")
    name = _text(values, "name", "部门名称", _length(Department, "name"))
    stationed = _flag(values, "is_stationed", dept.is_stationed if dept else False)
    superior = _text(values, "superior_authority", "上级主管部门", _length(Department, "superior_authority"),
                     required=False)
    if stationed and not superior:
        raise CatalogError("驻荷单位须填写上级主管部门（结果将同时通报该部门）", "superior_authority")
    others = select(Department.id).where(Department.id != (dept.id if dept else -1))
    if db.session.scalar(others.where(Department.code == code)):
        raise CatalogError(f"部门编码“{code}”已被使用", "code")
    if db.session.scalar(others.where(Department.region_id == region.id, Department.name == name)):
        raise CatalogError(f"{region.name}已有名为“{name}”的部门", "name")
    return {"region_id": region.id, "code": code, "name": name, "is_stationed": stationed,
            "superior_authority": superior if stationed else None,
            "active": _flag(values, "active", dept.active if dept else True),
            "sort_order": _sort_order(values, dept.sort_order if dept else 0)}


def create_department(scope: Scope, data: dict) -> Department:
    return _created(Department(**_check_department(scope, data, None)))


def update_department(scope: Scope, dept: Department, data: dict) -> Department:
    return _updated(dept, _check_department(scope, data, dept))


# --- offices ------------------------------------------------------------------------------------

def _new_code() -> str:
    while True:
        code = new_office_code()
        if db.session.scalar(select(Office.id).where(Office.code == code)) is None:
            return code


def _check_office(scope: Scope, data: dict, office: Office | None) -> dict:
    if office is None:
        dept = _department_in_scope(scope, data.get("department_id"))
        if not dept.active:
            raise CatalogError(f"{dept.name}已停用，不能新增科室", "department_id")
    else:
        if "department_id" in data and data["department_id"] != office.department_id:
            raise CatalogError("科室不能转到其他部门；请在新部门新建科室，并停用此科室", "department_id")
        dept = office.department
    values = _merged(office, data, ("name", "active", "sort_order")) if office else dict(data)
    name = _text(values, "name", "科室名称", _length(Office, "name"))
    taken = select(Office.id).where(Office.department_id == dept.id, Office.name == name,
                                    Office.id != (office.id if office else -1))
    if db.session.scalar(taken):
        raise CatalogError(f"{dept.name}已有名为“{name}”的科室", "name")
    return {"department_id": dept.id, "name": name,
            "active": _flag(values, "active", office.active if office else True),
            "sort_order": _sort_order(values, office.sort_order if office else 0)}


def create_office(scope: Scope, data: dict) -> Office:
    office = Office(code=_new_code(), **_check_office(scope, data, None))
    db.session.add(office)
    _flush()
    return office


def update_office(scope: Scope, office: Office, data: dict) -> Office:
    return _updated(office, _check_office(scope, data, office))


# --- lists within a scope: the admin's pages and the API's alike --------------------------------

def _listed(query, filters: dict):
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    return query


def regions_listed(scope: Scope):
    return select(Region).where(access.condition("region", scope)).order_by(Region.sort_order, Region.id)


def departments_listed(scope: Scope, region_id: int | None = None, active: bool | None = None):
    query = (select(Department).join(Region).where(access.condition("department", scope))
             .order_by(Region.sort_order, Region.id, Department.sort_order, Department.id))
    return _listed(query, {Department.region_id: region_id, Department.active: active})


def offices_listed(scope: Scope, department_id: int | None = None, active: bool | None = None):
    query = (select(Office).join(Department).where(access.condition("office", scope))
             .order_by(Department.sort_order, Department.id, Office.sort_order, Office.id))
    return _listed(query, {Office.department_id: department_id, Office.active: active})


def people_listed(scope: Scope, department_id: int | None = None, office_id: int | None = None,
                  active: bool | None = None):
    """People in the scope; for an office, its own and the leaders who oversee it."""
    query = (select(Person).join(Department).where(access.condition("person", scope))
             .order_by(Department.sort_order, Department.id, Person.sort_order, Person.id))
    if office_id is not None:
        query = query.where((Person.office_id == office_id) | Person.overseen_offices.any(Office.id == office_id))
    return _listed(query, {Person.department_id: department_id, Person.active: active})


def duties_listed(scope: Scope, department_id: int | None = None, office_id: int | None = None):
    query = (select(PostDuty).join(Department, PostDuty.department_id == Department.id)
             .where(access.condition("duty", scope))
             .order_by(Department.sort_order, Department.id, PostDuty.sort_order, PostDuty.id))
    return _listed(query, {PostDuty.department_id: department_id, PostDuty.office_id: office_id})


def items_listed(scope: Scope, office_id: int | None = None):
    query = (select(ServiceItem).where(access.condition("service_item", scope))
             .order_by(ServiceItem.office_id, ServiceItem.sort_order, ServiceItem.id))
    return _listed(query, {ServiceItem.office_id: office_id})


# --- choices for forms --------------------------------------------------------------------------

def departments_in(scope: Scope, condition) -> list[Department]:
    return db.session.scalars(
        select(Department).join(Region).where(condition)
        .order_by(Region.sort_order, Region.id, Department.sort_order, Department.id)
    ).all()


def offices_in(condition, department_id: int | None = None) -> list[Office]:
    query = select(Office).join(Department).where(condition)
    if department_id is not None:
        query = query.where(Office.department_id == valid_id(department_id))
    return db.session.scalars(query.order_by(Department.sort_order, Department.id, Office.sort_order,
                                             Office.id)).all()


def office_qr_svg(url: str) -> str:
    """An inline SVG QR code of the office's public link."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=2)
    return image.to_string(encoding="unicode")
