"""`flask seed-demo`: load the demo city once (idempotent: a database with departments is left alone)."""

import datetime as dt
import io
import random

from PIL import Image, ImageDraw
from sqlalchemy import select

from ..domain.office_codes import new_office_code
from ..domain.roles import Role
from ..extensions import db
from ..models import Department, Guideline, Office, Person, PostDuty, Region, Round, ServiceItem, User
from . import demo_data, rounds
from .photos import store_photo

MAX_PEOPLE = 8
COLOURS = ["#2e7d32", "#1565c0", "#6a1b9a", "#c62828", "#00838f", "#ef6c00", "#4e342e", "#37474f"]


def leader_title(department_name: str) -> str:
    for ending, title in (("委", "主任"), ("中心", "主任"), ("办）", "主任"), ("海关", "关长"), ("人行", "行长"),
                          ("公司", "总经理"), ("支队", "支队长")):
        if department_name.endswith(ending):
            return title
    return "局长"


def head_title(office_name: str) -> str:
    for ending, title in (("科", "科长"), ("支队", "支队长"), ("窗口", "窗口负责人"), ("所", "所长")):
        if office_name.endswith(ending):
            return title
    return "主任"


def placeholder_photo(colour: str) -> bytes:
    """A 1-inch portrait for the demo: a plain head and shoulders on a colour (no one's face, no
    letters; nothing downloaded)."""
    image = Image.new("RGB", (295, 413), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((92, 70, 203, 205), fill="#f3efe9")  # head
    draw.ellipse((37, 250, 258, 520), fill="#f3efe9")  # shoulders
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class _People:
    """Deterministic names, phones and photos for one department."""

    def __init__(self, code: str, media_root: str, max_pixels: int):
        self.rng = random.Random(code)
        self.used: set[str] = set()
        self.media_root, self.max_pixels = media_root, max_pixels

    def make(self, department: Department, role: Role, post: str, **fields) -> Person:
        while True:
            surname, _ = self.rng.choice(demo_data.SURNAMES)
            given, _ = self.rng.choice(demo_data.GIVEN)
            if surname + given not in self.used:
                break
        self.used.add(surname + given)
        phone = f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"
        if self.rng.random() < 0.4:
            phone = f"0530-{self.rng.randrange(5000000, 6000000)}"
        # One in eight has no photo yet, to show the placeholder.
        photo = None
        if self.rng.random() > 0.125:
            data = placeholder_photo(self.rng.choice(COLOURS))
            photo = store_photo(data, self.media_root, self.max_pixels)
        person = Person(department=department, role=role.value, name=surname + given, post=post, phone=phone,
                        photo=photo, **fields)
        db.session.add(person)
        return person


def _department(region: Region, code: str, name: str, superior: str | None, offices, order: int, codes: set[str],
                media_root: str, max_pixels: int) -> None:
    dept = Department(code=code, name=name, region=region, is_stationed=superior is not None,
                      superior_authority=superior, sort_order=order)
    db.session.add(dept)
    people = _People(code, media_root, max_pixels)
    title = leader_title(name)
    office_rows = []
    for index, (office_name, items) in enumerate(offices):
        office = Office(department=dept, name=office_name, code=new_office_code(codes), sort_order=index)
        codes.add(office.code)
        for i, (item, statutory, promised) in enumerate(items):
            office.service_items.append(ServiceItem(
                name=item, statutory_limit=statutory, promised_limit=promised, sort_order=i,
                procedure="申请 → 受理 → 审查 → 决定 → 送达",
                materials="申请书；营业执照或身份证明；其他按规定需提交的材料"))
        duties = f"负责{'、'.join(i[0] for i in items)}等事项的受理、审查和办理，落实一次性告知和限时办结。"
        db.session.add(PostDuty(department=dept, office=office, category="office", post_name=office_name,
                                duties=duties, sort_order=10 + index))
        office_rows.append(office)

    people.make(dept, Role.MAIN_LEADER, title, business="主持全面工作")
    db.session.add(PostDuty(department=dept, category="main_leader", post_name=title,
                            duties="主持全面工作，对本部门优化营商环境工作负总责。", sort_order=0))
    # One leader-in-charge per two offices.
    groups = [office_rows[i:i + 2] for i in range(0, len(office_rows), 2)]
    leaders = []
    for i, group in enumerate(groups):
        post = "副" + title if i == 0 else "党组成员、副" + title
        field = "、".join(o.name for o in group)
        leaders.append(people.make(dept, Role.LEADER_IN_CHARGE, post, oversees_field=f"分管{field}工作",
                                   overseen_offices=group, sort_order=i))
        db.session.add(PostDuty(department=dept, category="leader_in_charge", post_name=post,
                                duties=f"负责{field}工作，督促落实服务承诺。", sort_order=1 + i))
    budget = MAX_PEOPLE - 1 - len(leaders)
    for order, office in enumerate(office_rows):
        people.make(dept, Role.OFFICE_HEAD, head_title(office.name), office=office,
                    business=f"{office.name}全面工作", duties="负责本科室审批服务工作", sort_order=order)
        budget -= 1
    for office in office_rows * 2:
        if budget <= 0:
            break
        role = Role.DEPUTY_HEAD if len(office.people) == 1 and len(office_rows) <= 2 else Role.STAFF
        post = "副" + head_title(office.name) if role is Role.DEPUTY_HEAD else "工作人员"
        item = office.service_items[len(office.people) % len(office.service_items)].name
        people.make(dept, role, post, office=office, business=item, duties=f"{item}受理与办理",
                    sort_order=len(office.people))
        budget -= 1
    for kind, rows in (("work_rule", demo_data.WORK_RULES), ("service_phrase", demo_data.SERVICE_PHRASES)):
        for i, (title_text, body) in enumerate(rows):
            db.session.add(Guideline(department=dept, kind=kind, title=title_text, body=body, sort_order=i))


def seed_demo(media_root: str, max_pixels: int) -> bool:
    """Load the demo city; return False (and change nothing) if departments already exist."""
    if db.session.scalar(select(Department.id).limit(1)) is not None:
        return False
    regions = {}
    for order, (code, name, kind) in enumerate(demo_data.REGIONS):
        regions[code] = region = db.session.scalar(select(Region).where(Region.code == code)) or Region(code=code)
        region.name, region.kind, region.sort_order = name, kind, order
        db.session.add(region)
    codes: set[str] = set()
    for order, (code, name, superior, offices) in enumerate(demo_data.CITY_DEPARTMENTS):
        _department(regions["heze"], code, name, superior, offices, order, codes, media_root, max_pixels)
    for order, (region_code, code, name, offices) in enumerate(demo_data.COUNTY_DEPARTMENTS):
        _department(regions[region_code], code, name, None, offices, order, codes, media_root, max_pixels)
    db.session.commit()
    return True


DEMO_ROUND_NAME = "2026年下半年（演示）"


def open_demo_round(now: dt.datetime | None = None) -> Round:
    """An open city round for the demo, so the ballot shows on every city office page."""
    now = now or rounds.utcnow()
    opens, closes = now - dt.timedelta(hours=1), now + dt.timedelta(days=60)
    round_ = rounds.open_round(rounds.create_round(DEMO_ROUND_NAME, "heze", opens, closes).id)
    db.session.commit()
    return round_


DEMO_PASSWORD = "sanliang-demo-2026"
# username, display name, role, region code, department code (hall managers: its first two offices)
DEMO_USERS = [
    ("admin", "市级协调员（演示）", "coordinator", "heze", None),
    ("mudan", "牡丹区协调员（演示）", "coordinator", "mudan", None),
    ("fgw", "发改委管理员（演示）", "department_admin", None, "fgw"),
    ("hall", "大厅管理员（演示）", "hall_manager", None, "fgw"),
    ("audit", "审计员（演示）", "auditor", "heze", None),
    ("jjjc", "纪检监察（演示）", "discipline", "heze", None),
]


def seed_demo_users() -> list[str]:
    """One user of each role for the demo, all with DEMO_PASSWORD (demo data only, never in
    production). Returns the usernames created; existing usernames are left alone."""
    from .users import build_user

    created = []
    for username, name, role, region_code, department_code in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        offices = []
        if role == "hall_manager":
            department = db.session.scalar(select(Department).where(Department.code == department_code))
            offices = [o.code for o in department.offices[:2]]
        build_user(username, name, DEMO_PASSWORD, role, region_code, department_code, offices)
        created.append(username)
    db.session.commit()
    return created
