"""The roster: people (附件1), post duties (附件2) and service items, as the admin area, the API
and a hall manager change them, and the photo archive within a scope.

Every function checks its input completely (the rules of domain.roster, then what needs the
database: scope, the office's department, duplicates) before changing anything, raises
catalog.CatalogError when it is refused, and flushes once: the caller commits. People are
retired, never deleted: past rounds need them.
"""

import os
import tempfile
import zipfile

from sqlalchemy import func, select

from ..domain import roster
from ..domain.access import Scope
from ..extensions import db
from ..models import Department, Office, Person, PostDuty, ServiceItem
from . import photos
from .catalog import (
    CatalogError,
    _created,
    _department_in_scope,
    _flag,
    _flush,
    _get,
    _merged,
    _office_in_scope,
    _sort_order,
    _updated,
    covers_department,
)

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
    return _created(person)


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
    return _created(PostDuty(**_check_duty(scope, data, None)))


def update_duty(scope: Scope, duty: PostDuty, data: dict) -> PostDuty:
    return _updated(duty, _check_duty(scope, data, duty))


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
    return _created(ServiceItem(**_check_item(scope, data, None)))


def update_service_item(scope: Scope, item: ServiceItem, data: dict) -> ServiceItem:
    return _updated(item, _check_item(scope, data, item))


def delete_service_item(item: ServiceItem) -> None:
    db.session.delete(item)
    _flush()


# --- the photo archive within a scope ----------------------------------------------------------

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
            return photos.import_photos(path, media_root, max_pixels, max_file_bytes, covers_department(scope))
        except photos.PhotoError as error:
            raise photos.PhotoImportRejected([str(error)]) from None
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
            db.session.rollback()
            raise photos.PhotoImportRejected(["zip 压缩包已损坏、加密或压缩方式不支持，无法读取"]) from None
    finally:
        os.unlink(path)


