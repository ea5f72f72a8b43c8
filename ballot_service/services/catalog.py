"""The catalog: regions, departments, offices, people, post duties and service items, as the
admin area and the API change them, plus the roster's Excel and photo imports within a scope.

Every function checks its input completely before changing anything, raises `CatalogError`
(a Chinese message and the name of the bad field) when the input is refused, and flushes once
at the end: the request or command that called it commits. The audit trail records the row
changes by itself (services.audit). People, offices and departments are deactivated, never
deleted: past rounds need them.
"""

import os
import tempfile
import zipfile
from collections.abc import Iterable

from sqlalchemy import func, select
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
from . import access, photos

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


def _department_in_scope(scope: Scope, department_id, field: str = "department_id") -> Department:
    dept = _get(Department, department_id, field, "部门")
    if not scope.covers(Place(dept.region_id, dept.id)):
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
    region = Region(**_check_region(scope, data, None))
    db.session.add(region)
    _flush()
    return region


def update_region(scope: Scope, region: Region, data: dict) -> Region:
    for name, value in _check_region(scope, data, region).items():
        setattr(region, name, value)
    _flush()
    return region


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
    dept = Department(**_check_department(scope, data, None))
    db.session.add(dept)
    _flush()
    return dept


def update_department(scope: Scope, dept: Department, data: dict) -> Department:
    for name, value in _check_department(scope, data, dept).items():
        setattr(dept, name, value)
    _flush()
    return dept


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
    for name, value in _check_office(scope, data, office).items():
        setattr(office, name, value)
    _flush()
    return office


# --- people -------------------------------------------------------------------------------------

PERSON_FIELDS = ("department_id", "office_id", "role", "name", "post", "phone", "business", "duties",
                 "oversees_field", "overseen_office_ids", "active", "sort_order")


def _refuse_first(problems: list[roster.Problem]) -> None:
    if problems:
        raise CatalogError(problems[0].message, problems[0].field)


def _check_person(scope: Scope, data: dict, person: Person | None) -> dict:
    if person is not None:
        current = {name: getattr(person, name) for name in PERSON_FIELDS if name != "overseen_office_ids"}
        current["overseen_office_ids"] = [o.id for o in person.overseen_offices]
        values = {**current, **{k: v for k, v in data.items() if k in PERSON_FIELDS}}
    else:
        values = dict(data)
    dept = _department_in_scope(scope, values.get("department_id"))
    office_id, overseen_ids = values.get("office_id"), values.get("overseen_office_ids") or []
    checked, problems = roster.check_person(values, has_office=office_id is not None, oversees=bool(overseen_ids),
                                            department_name=dept.name, department_active=dept.active,
                                            new=person is None)
    _refuse_first(problems)
    office = None
    if office_id is not None:
        office = _office_in_scope(scope, office_id)
        if office.department_id != dept.id:
            raise CatalogError(f"科室“{office.name}”不属于{dept.name}", "office_id")
    overseen: list[Office] = []
    for oid in dict.fromkeys(overseen_ids):
        found = _get(Office, oid, "overseen_office_ids", "分管科室")
        if found.department_id != dept.id:
            raise CatalogError(f"分管科室“{found.name}”不属于{dept.name}", "overseen_office_ids")
        overseen.append(found)

    active = _flag(values, "active", person.active if person else True)
    if active:
        _refuse_duplicate(dept, checked["name"], checked["phone"], person)
    if person is None:
        default_order = (db.session.scalar(select(func.max(Person.sort_order))) or 0) + 1
    else:
        default_order = person.sort_order
    return {**checked, "role": checked["role"].value, "department_id": dept.id, "office": office,
            "overseen_offices": overseen, "active": active, "sort_order": _sort_order(values, default_order)}


def _refuse_duplicate(dept: Department, name: str, phone: str, person: Person | None) -> None:
    """One active person per name and phone in a department."""
    same = select(Person.id).where(Person.department_id == dept.id, Person.name == name, Person.phone == phone,
                                   Person.active, Person.id != (person.id if person else -1))
    if db.session.scalar(same):
        raise CatalogError(f"{dept.name}已有此人（姓名和电话相同）", "name")


def keep_person(person: Person, data: dict) -> Person:
    """What a hall manager keeps current for a person of their offices (the caller's guard checked
    the person is in their scope): post, phone and whether on duty, under the same rules as a full
    edit. Anything else in `data` is ignored."""
    values = {name: getattr(person, name) for name in ("role", "name", "post", "phone", "business", "duties",
                                                        "oversees_field")}
    values.update({name: data[name] for name in ("post", "phone") if name in data})
    checked, problems = roster.check_person(values, has_office=person.office_id is not None,
                                            oversees=bool(person.overseen_offices),
                                            department_name=person.department.name)
    _refuse_first(problems)
    active = _flag(data, "active", person.active)
    if active:
        _refuse_duplicate(person.department, checked["name"], checked["phone"], person)
    person.post, person.phone, person.active = checked["post"], checked["phone"], active
    _flush()
    return person


def create_person(scope: Scope, data: dict) -> Person:
    with db.session.no_autoflush:
        person = Person(**_check_person(scope, data, None))
    db.session.add(person)
    _flush()
    return person


def update_person(scope: Scope, person: Person, data: dict) -> Person:
    with db.session.no_autoflush:
        checked = _check_person(scope, data, person)
    for name, value in checked.items():
        if name == "overseen_offices":
            if [o.id for o in value] != [o.id for o in person.overseen_offices]:
                person.overseen_offices = value
        elif name == "office":
            if (value.id if value else None) != person.office_id:
                person.office = value
        else:
            setattr(person, name, value)
    _flush()
    return person


def deactivate_person(person: Person) -> Person:
    """Off the public pages and future ballots; kept for the rounds that rated them."""
    person.active = False
    _flush()
    return person


def set_person_photo(person: Person, data: bytes, media_root: str, max_pixels: int) -> Person:
    """Process one uploaded photo through the photo pipeline and attach it."""
    try:
        person.photo = photos.store_photo(data, media_root, max_pixels)
    except photos.PhotoError as error:
        raise CatalogError(str(error), "photo") from None
    _flush()
    return person


# --- post duties --------------------------------------------------------------------------------

DUTY_FIELDS = ("department_id", "office_id", "category", "post_name", "duties", "sort_order")


def _check_duty(scope: Scope, data: dict, duty: PostDuty | None) -> dict:
    values = _merged(duty, data, DUTY_FIELDS) if duty else dict(data)
    dept = _department_in_scope(scope, values.get("department_id"))
    checked, problems = roster.check_duty(values, has_office=values.get("office_id") is not None)
    _refuse_first(problems)
    office = None
    if values.get("office_id") is not None:
        office = _office_in_scope(scope, values["office_id"])
        if office.department_id != dept.id:
            raise CatalogError(f"科室“{office.name}”不属于{dept.name}", "office_id")
    same_office = PostDuty.office_id.is_(None) if office is None else PostDuty.office_id == office.id
    same = select(PostDuty.id).where(PostDuty.department_id == dept.id, PostDuty.post_name == checked["post_name"],
                                     same_office, PostDuty.id != (duty.id if duty else -1))
    if db.session.scalar(same):
        raise CatalogError("已有此岗位", "post_name")
    default_order = (db.session.scalar(select(func.max(PostDuty.sort_order))) or 0) + 1 if duty is None \
        else duty.sort_order
    return {**checked, "department_id": dept.id, "office_id": office.id if office else None,
            "sort_order": _sort_order(values, default_order)}


def create_duty(scope: Scope, data: dict) -> PostDuty:
    duty = PostDuty(**_check_duty(scope, data, None))
    db.session.add(duty)
    _flush()
    return duty


def update_duty(scope: Scope, duty: PostDuty, data: dict) -> PostDuty:
    for name, value in _check_duty(scope, data, duty).items():
        setattr(duty, name, value)
    _flush()
    return duty


def delete_duty(duty: PostDuty) -> None:
    db.session.delete(duty)
    _flush()


# --- service items ------------------------------------------------------------------------------

ITEM_FIELDS = ("office_id", "name", "procedure", "statutory_limit", "promised_limit", "materials", "sort_order")


def _check_item(scope: Scope, data: dict, item: ServiceItem | None) -> dict:
    values = _merged(item, data, ITEM_FIELDS) if item else dict(data)
    office = _office_in_scope(scope, values.get("office_id"))
    checked, problems = roster.check_item(values)
    _refuse_first(problems)
    same = select(ServiceItem.id).where(ServiceItem.office_id == office.id, ServiceItem.name == checked["name"],
                                        ServiceItem.id != (item.id if item else -1))
    if db.session.scalar(same):
        raise CatalogError(f"{office.name}已有此事项", "name")
    default_order = (db.session.scalar(select(func.max(ServiceItem.sort_order))) or 0) + 1 if item is None \
        else item.sort_order
    return {**checked, "office_id": office.id, "sort_order": _sort_order(values, default_order)}


def create_service_item(scope: Scope, data: dict) -> ServiceItem:
    item = ServiceItem(**_check_item(scope, data, None))
    db.session.add(item)
    _flush()
    return item


def update_service_item(scope: Scope, item: ServiceItem, data: dict) -> ServiceItem:
    for name, value in _check_item(scope, data, item).items():
        setattr(item, name, value)
    _flush()
    return item


def delete_service_item(item: ServiceItem) -> None:
    db.session.delete(item)
    _flush()


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


# --- the photo archive within a scope ----------------------------------------------------------

def _covers_department(scope: Scope):
    return lambda dept: scope.covers(Place(dept.region_id, dept.id))


def import_photo_archive(scope: Scope, data: bytes, media_root: str, max_pixels: int,
                         max_file_bytes: int) -> photos.PhotoImportResult:
    """Attach the photos of an uploaded zip to their people: those that match, the others listed
    (photos.import_photos; files of departments outside the scope are not matched). Raises
    photos.PhotoImportRejected when no file could be used."""
    with tempfile.NamedTemporaryFile(suffix=".zip", delete=False) as fh:
        fh.write(data)
        path = fh.name
    try:
        if not zipfile.is_zipfile(path):
            raise photos.PhotoImportRejected(["上传的文件不是 zip 压缩包"])
        try:
            return photos.import_photos(path, media_root, max_pixels, max_file_bytes, _covers_department(scope))
        except photos.PhotoError as error:
            raise photos.PhotoImportRejected([str(error)]) from None
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
            db.session.rollback()
            raise photos.PhotoImportRejected(["zip 压缩包已损坏、加密或压缩方式不支持，无法读取"]) from None
    finally:
        os.unlink(path)


def office_qr_svg(url: str) -> str:
    """An inline SVG QR code of the office's public link."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=2)
    return image.to_string(encoding="unicode")
