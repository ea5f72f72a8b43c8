"""What the public disclosure pages show (亮人员身份, 亮制度职责)."""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain.office_codes import is_valid_department_code, is_valid_office_code, normalize_office_code
from ..domain.roles import Role, RosterEntry, office_roster
from ..extensions import db
from ..models import Department, Guideline, Office, Person, PostDuty, Region


@dataclass
class RosterSection:
    title: str
    people: list[Person] = field(default_factory=list)


@dataclass
class OfficePage:
    office: Office
    department: Department
    sections: list[RosterSection]
    duties: list[PostDuty]
    guidelines: list[Guideline]


# 附件1's three column groups.
SECTION_TITLES = {
    Role.MAIN_LEADER: "主要领导",
    Role.LEADER_IN_CHARGE: "分管领导",
}
STAFF_SECTION_TITLE = "业务人员"


OFFICE_KINDS = ("窗口", "大队", "中队", "所")


def office_kind(name: str) -> str:
    """What people call the office by its name: 窗口, 大队, 中队, 所, or else 科室."""
    return next((kind for kind in OFFICE_KINDS if name.endswith(kind)), "科室")


def roster_entry(person: Person) -> RosterEntry:
    return RosterEntry(
        id=person.id,
        role=person.role_enum,
        office_id=person.office_id,
        oversees=frozenset(o.id for o in person.overseen_offices),
        active=person.active,
        sort_order=person.sort_order,
    )


def _department_people(department_id: int) -> list[Person]:
    return db.session.scalars(
        select(Person)
        .where(Person.department_id == department_id, Person.active)
        .options(selectinload(Person.overseen_offices))
    ).all()


def office_people(office: Office) -> list[Person]:
    """The office's people in 附件1 order (see domain.roles.office_roster)."""
    people = _department_people(office.department_id)
    by_id = {p.id: p for p in people}
    return [by_id[e.id] for e in office_roster([roster_entry(p) for p in people], office.id)]


def _sections(people: list[Person]) -> list[RosterSection]:
    sections: dict[str, RosterSection] = {}
    for person in people:
        title = SECTION_TITLES.get(person.role_enum, STAFF_SECTION_TITLE)
        sections.setdefault(title, RosterSection(title)).people.append(person)
    return list(sections.values())


def get_office_page(raw_code: str) -> OfficePage | None:
    code = normalize_office_code(raw_code)
    if not is_valid_office_code(code):  # also keeps hostile input (NUL bytes…) away from the database
        return None
    office = db.session.scalar(
        select(Office)
        .where(Office.code == code, Office.active)
        .options(selectinload(Office.service_items), selectinload(Office.department))
    )
    if office is None or not office.department.active:
        return None
    people = office_people(office)
    leader_posts = {p.post for p in people if p.role_enum is Role.LEADER_IN_CHARGE}
    duties = [
        d
        for d in _department_duties(office.department_id)
        if d.category == "main_leader"
        or d.office_id == office.id
        or (d.category == "leader_in_charge" and d.post_name in leader_posts)
    ]
    return OfficePage(
        office=office,
        department=office.department,
        sections=_sections(people),
        duties=duties,
        guidelines=_guidelines(office.department_id, office.id),
    )


def _department_duties(department_id: int) -> list[PostDuty]:
    """附件2 rows of a department; an office page shows its leaders' rows and its own."""
    return db.session.scalars(
        select(PostDuty).where(PostDuty.department_id == department_id).order_by(PostDuty.sort_order, PostDuty.id)
    ).all()


def _guidelines(department_id: int, office_id: int | None) -> list[Guideline]:
    """Department-wide rules and phrases, plus the office's own when an office is given."""
    scope = Guideline.office_id.is_(None)
    if office_id is not None:
        scope = scope | (Guideline.office_id == office_id)
    return db.session.scalars(
        select(Guideline)
        .where(Guideline.department_id == department_id, scope)
        .order_by(Guideline.kind, Guideline.sort_order, Guideline.id)
    ).all()


@dataclass
class DepartmentPage:
    department: Department
    offices: list[tuple[Office, list[RosterSection]]]
    leaders: list[RosterSection]
    duties: list[PostDuty]
    guidelines: list[Guideline]


def get_department_page(code: str) -> DepartmentPage | None:
    if not is_valid_department_code(code):
        return None
    department = db.session.scalar(
        select(Department)
        .where(Department.code == code.strip(), Department.active)
        .options(selectinload(Department.offices).selectinload(Office.service_items))
    )
    if department is None:
        return None
    people = _department_people(department.id)
    entries = [roster_entry(p) for p in people]
    by_id = {p.id: p for p in people}
    offices = []
    for office in department.offices:
        if office.active:
            staff = [by_id[e.id] for e in office_roster(entries, office.id) if not e.role.is_department_leader]
            offices.append((office, _sections(staff)))
    leaders = [p for p in people if p.role_enum.is_department_leader]
    leaders.sort(key=lambda p: (p.role_enum is not Role.MAIN_LEADER, p.sort_order, p.id))
    duties = _department_duties(department.id)
    return DepartmentPage(
        department=department,
        offices=offices,
        leaders=_sections(leaders),
        duties=duties,
        guidelines=_guidelines(department.id, None),
    )


def list_regions() -> list[Region]:
    """Regions that have at least one active department, with those departments."""
    regions = db.session.scalars(
        select(Region).options(selectinload(Region.departments)).order_by(Region.sort_order, Region.id)
    ).all()
    return [r for r in regions if any(d.active for d in r.departments)]
