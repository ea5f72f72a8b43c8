"""The catalog pages: CRUD through the forms (signed in, with CSRF tokens), scope, the roster
import with its row list, the photo uploads, and the audit entries every write leaves."""

import io
import re
import struct
import urllib.parse
import zipfile
import zlib

import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image
from sqlalchemy import func, select

from ballot_service.domain.access import Level, Scope
from ballot_service.domain.office_codes import is_valid_office_code
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import AuditEntry, Department, Office, Person, PostDuty, ServiceItem
from ballot_service.services import catalog, roster
from ballot_service.services.roster_io import PEOPLE

from . import factories
from .admin_helpers import form_token, make_user, sign_in


def bomb_png(width: int = 50000, height: int = 50000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


def jpeg(colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), colour).save(out, "JPEG")
    return out.getvalue()


def people_workbook(rows) -> io.BytesIO:
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet(PEOPLE.title)
    ws.append(PEOPLE.headers)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def audit_actions(action: str, target: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action)
    if target:
        query = query.where(AuditEntry.target == target)
    return db.session.scalars(query.order_by(AuditEntry.seq)).all()


def people_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Person))


@pytest.fixture
def org(database):
    """The city; county 1 with department A (offices A1, A2); county 2 with department B (B1)."""
    city = factories.region(code="city", name="全市", kind="city")
    county1, county2 = factories.region(code="c1", name="一县"), factories.region(code="c2", name="二县")
    dept_a = factories.department(region=county1, code="deptA", name="甲局")
    dept_b = factories.department(region=county2, code="deptB", name="乙局")
    a1, a2 = factories.office(dept_a, name="登记窗口"), factories.office(dept_a, name="审批科")
    b1 = factories.office(dept_b, name="乙窗口")
    leader = factories.person(dept_a, Role.MAIN_LEADER, name="甲局长", post="局长", phone="13900000001")
    staff_a = factories.person(dept_a, Role.STAFF, office=a1, name="王一", phone="13900000002")
    staff_b = factories.person(dept_b, Role.STAFF, office=b1, name="李二", phone="13900000003")
    db.session.commit()
    return {"city": city, "county1": county1, "county2": county2, "dept_a": dept_a, "dept_b": dept_b, "a1": a1,
            "a2": a2, "b1": b1, "leader": leader, "staff_a": staff_a, "staff_b": staff_b}


def signed_in(client, role: str, **scope):
    user = make_user(role, **scope)
    assert sign_in(client, user).status_code == 302
    return user


def post(client, path: str, data: dict, page: str | None = None, **kwargs):
    """POST a form with the CSRF token of the page it lives on."""
    return client.post(path, data={**data, "csrf_token": form_token(client, page or path)}, **kwargs)


def test_coordinator_creates_and_edits_the_organisation(client, org):
    signed_in(client, "coordinator", region=org["city"])
    response = post(client, "/admin/regions/new", {"code": "kfq", "name": "开发区", "kind": "zone",
                                                   "sort_order": "5"})
    assert response.status_code == 302
    response = post(client, "/admin/departments/new",
                    {"region_id": str(org["county1"].id), "code": "swj", "name": "商务局", "sort_order": "1"})
    assert response.status_code == 302
    dept = db.session.scalar(select(Department).where(Department.code == "swj"))
    assert dept.name == "商务局" and dept.region_id == org["county1"].id and dept.active
    # A stationed unit needs its superior authority.
    response = post(client, f"/admin/departments/{dept.id}/edit",
                    {"region_id": str(org["county1"].id), "code": "swj", "name": "商务局", "is_stationed": "y",
                     "active": "y"})
    assert response.status_code == 400
    assert "驻荷单位须填写上级主管部门" in response.get_data(as_text=True)
    # Duplicate department code.
    response = post(client, "/admin/departments/new",
                    {"region_id": str(org["county1"].id), "code": "deptA", "name": "又一个局"})
    assert response.status_code == 400 and "部门编码“deptA”已被使用" in response.get_data(as_text=True)

    response = post(client, "/admin/offices/new", {"department_id": str(dept.id), "name": "外资科"})
    assert response.status_code == 302
    office = db.session.scalar(select(Office).where(Office.name == "外资科"))
    assert is_valid_office_code(office.code) and office.department_id == dept.id
    response = post(client, "/admin/offices/new", {"department_id": str(dept.id), "name": "外资科"})
    assert response.status_code == 400 and "商务局已有名为“外资科”的科室" in response.get_data(as_text=True)

    assert [e.target for e in audit_actions("region.create")] and audit_actions("department.create")
    assert audit_actions("office.create", f"office:{office.id}")[0].summary["after"]["name"] == "外资科"
    listing = client.get("/admin/departments").get_data(as_text=True)
    assert "商务局" in listing and "开发区" in listing


def test_county_coordinator_cannot_add_regions_or_leave_the_county(client, org):
    signed_in(client, "coordinator", region=org["county1"])
    response = post(client, "/admin/regions/new", {"code": "x", "name": "新区", "kind": "zone"})
    assert response.status_code == 400 and "只有全市协调员" in response.get_data(as_text=True)
    response = post(client, "/admin/departments/new", {"region_id": str(org["county2"].id), "code": "q",
                                                       "name": "邻县局"}, page="/admin/departments/new")
    assert response.status_code == 400
    assert db.session.scalar(select(Department).where(Department.code == "q")) is None
    listing = client.get("/admin/departments").get_data(as_text=True)
    assert "甲局" in listing and "乙局" not in listing
    assert client.get(f"/admin/departments/{org['dept_b'].id}/edit").status_code == 404


def test_person_crud_with_leader_rules_and_audit(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    a1, a2, b1 = org["a1"], org["a2"], org["b1"]
    base = {"department_id": str(org["dept_a"].id), "role": "leader_in_charge", "office_id": "", "name": "赵分管",
            "post": "副局长", "phone": "0530 5310000", "oversees_field": "登记审批"}
    # Overseeing an office of another department is refused, next to the field.
    response = post(client, "/admin/people/new", {**base, "overseen_office_ids": [str(a1.id), str(b1.id)]})
    assert response.status_code == 400
    assert "分管科室“乙窗口”不属于甲局" in response.get_data(as_text=True)
    response = post(client, "/admin/people/new", {**base, "overseen_office_ids": [str(a1.id)]})
    assert response.status_code == 302
    person = db.session.scalar(select(Person).where(Person.name == "赵分管"))
    assert person.phone == "05305310000" and [o.id for o in person.overseen_offices] == [a1.id]
    created = audit_actions("person.create", f"person:{person.id}")
    assert created and created[0].summary["after"]["overseen_offices"] == [a1.id]

    # Staff need an office of their own department; a leader has none.
    response = post(client, "/admin/people/new", {**base, "role": "staff", "office_id": str(b1.id), "name": "钱",
                                                  "oversees_field": ""})
    assert response.status_code == 400 and "不在您的管理范围内" in response.get_data(as_text=True)
    response = post(client, "/admin/people/new", {**base, "role": "staff", "office_id": "", "name": "钱",
                                                  "oversees_field": ""})
    assert response.status_code == 400 and "工作人员必须指定所在科室" in response.get_data(as_text=True)
    response = post(client, "/admin/people/new", {**base, "role": "staff", "office_id": str(a1.id), "name": "钱",
                                                  "phone": "12345"})
    assert response.status_code == 400 and "不是有效号码" in response.get_data(as_text=True)
    # Same name and phone in the department: a duplicate.
    response = post(client, "/admin/people/new", {**base, "role": "staff", "office_id": str(a1.id), "name": "王一",
                                                  "phone": "13900000002", "oversees_field": ""})
    assert response.status_code == 400 and "甲局已有此人（姓名和电话相同）" in response.get_data(as_text=True)

    # Edit: oversee A2 instead, new post.
    edit = f"/admin/people/{person.id}/edit"
    response = post(client, edit, {**base, "post": "党组成员、副局长", "overseen_office_ids": [str(a2.id)],
                                   "active": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert person.post == "党组成员、副局长" and [o.id for o in person.overseen_offices] == [a2.id]
    update = audit_actions("person.update", f"person:{person.id}")[-1]
    assert update.summary["before"]["post"] == "副局长" and update.summary["after"]["post"] == "党组成员、副局长"
    assert update.summary["before"]["overseen_offices"] == [a1.id]
    assert update.summary["after"]["overseen_offices"] == [a2.id]

    # Deactivate, never delete.
    response = post(client, f"/admin/people/{person.id}/deactivate", {}, page=edit)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).active is False
    last = audit_actions("person.update", f"person:{person.id}")[-1]
    assert last.summary == {"before": {"active": True}, "after": {"active": False}}
    assert "<td>赵分管</td>" not in client.get("/admin/people").get_data(as_text=True)
    assert "<td>赵分管</td>" in client.get("/admin/people?show=all").get_data(as_text=True)


def test_duties_and_service_items_crud(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    a1, dept = org["a1"], org["dept_a"]
    response = post(client, "/admin/duties/new", {"department_id": str(dept.id), "category": "office",
                                                  "office_id": "", "post_name": "窗口受理", "duties": "受理申请"})
    assert response.status_code == 400 and "业务科室的岗位必须指定科室" in response.get_data(as_text=True)
    response = post(client, "/admin/duties/new", {"department_id": str(dept.id), "category": "office",
                                                  "office_id": str(a1.id), "post_name": "窗口受理",
                                                  "duties": "受理申请"})
    assert response.status_code == 302
    duty = db.session.scalar(select(PostDuty))
    response = post(client, f"/admin/duties/{duty.id}/edit", {"department_id": str(dept.id), "category": "office",
                                                              "office_id": str(a1.id), "post_name": "窗口受理",
                                                              "duties": "受理、审核申请"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(PostDuty, duty.id).duties == "受理、审核申请"
    response = post(client, f"/admin/duties/{duty.id}/delete", {}, page="/admin/duties")
    assert response.status_code == 302 and db.session.get(PostDuty, duty.id) is None
    assert audit_actions("post_duty.delete", f"post_duty:{duty.id}")[0].summary["before"]["post_name"] == "窗口受理"

    response = post(client, "/admin/service-items/new", {"office_id": str(a1.id), "name": "企业设立登记",
                                                         "promised_limit": "1个工作日"})
    assert response.status_code == 302
    item = db.session.scalar(select(ServiceItem))
    response = post(client, "/admin/service-items/new", {"office_id": str(a1.id), "name": "企业设立登记"})
    assert response.status_code == 400 and "登记窗口已有此事项" in response.get_data(as_text=True)
    response = post(client, f"/admin/service-items/{item.id}/edit", {"office_id": str(a1.id), "name": "企业设立登记",
                                                                     "promised_limit": "即办"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ServiceItem, item.id).promised_limit == "即办"
    office_page = client.get(f"/admin/offices/{a1.id}").get_data(as_text=True)
    assert "企业设立登记" in office_page and "即办" in office_page
    response = post(client, f"/admin/service-items/{item.id}/delete", {}, page=f"/admin/offices/{a1.id}")
    assert response.status_code == 302 and db.session.get(ServiceItem, item.id) is None
    assert audit_actions("service_item.update") and audit_actions("service_item.delete")


def test_department_admin_sees_and_edits_only_their_department(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    listing = client.get("/admin/people").get_data(as_text=True)
    assert "王一" in listing and "甲局长" in listing and "李二" not in listing
    offices = client.get("/admin/offices").get_data(as_text=True)
    assert "登记窗口" in offices and "乙窗口" not in offices
    other = org["staff_b"]
    assert client.get(f"/admin/people/{other.id}/edit").status_code == 404
    token = form_token(client, "/admin/people")
    assert client.post(f"/admin/people/{other.id}/deactivate", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/people/{other.id}/edit", data={"csrf_token": token, "name": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Person, other.id).active and db.session.get(Person, other.id).name == "李二"
    assert client.get(f"/admin/offices/{org['b1'].id}").status_code == 404
    # Nor can they create in another department.
    response = post(client, "/admin/offices/new", {"department_id": str(org["dept_b"].id), "name": "新科"})
    assert response.status_code == 400 and "不在您的管理范围内" in response.get_data(as_text=True)
    assert client.get("/admin/departments").status_code == 403


def test_hall_manager_reads_their_office_roster(client, org):
    org["leader_in_charge"] = factories.person(org["dept_a"], Role.LEADER_IN_CHARGE, name="分管甲",
                                               overseen_offices=[org["a1"]])
    factories.service_item(org["a1"], name="个体户登记")
    db.session.commit()
    signed_in(client, "hall_manager", offices=[org["a1"]])
    listing = client.get("/admin/offices").get_data(as_text=True)
    assert "登记窗口" in listing and "审批科" not in listing
    page = client.get(f"/admin/offices/{org['a1'].id}").get_data(as_text=True)
    names = re.findall(r"<td>(甲局长|分管甲|王一)</td>", page)
    assert names == ["甲局长", "分管甲", "王一"]  # 附件1 order, as on the public page
    assert "个体户登记" in page and f"/o/{org['a1'].code}" in page and "<svg" in page
    assert "修改" not in page
    assert client.get(f"/admin/offices/{org['a2'].id}").status_code == 404
    assert client.get("/admin/people").status_code == 403


def test_import_with_one_bad_row_lists_it_and_imports_nothing(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    before = people_count()
    good = ["deptA", "登记窗口", "工作人员", "孙三", "科员", "13900000010", "", "", "", ""]
    bad = ["deptA", "登记窗口", "工作人员", "周四", "科员", "12345", "", "", "", ""]
    response = post(client, "/admin/roster/import", {"workbook": (people_workbook([good, bad]), "名单.xlsx")},
                    content_type="multipart/form-data")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "共1处错误" in text
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(\d+)</td><td>(.*?)</td><td>(.*?)</td></tr>", text)
    assert rows == [("人员身份公示表", "3", "F（联系电话）",
                     "“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）")]
    assert people_count() == before
    # The same table as a workbook to download, opened again.
    [link] = re.findall(r'href="(/admin/roster/import/[^"]+/errors\.xlsx)"', text)
    download = client.get(link)
    assert download.status_code == 200 and "名单导入错误清单" in urllib.parse.unquote(
        download.headers["Content-Disposition"])
    sheet = load_workbook(io.BytesIO(download.data)).active
    assert [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("工作表", "行", "列", "问题"),
        ("人员身份公示表", 3, "F（联系电话）", "“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）")]

    # A good file is previewed first, nothing written; the confirmation imports what was shown.
    response = post(client, "/admin/roster/import", {"workbook": (people_workbook([good]), "名单.xlsx")},
                    content_type="multipart/form-data")
    assert response.status_code == 200 and people_count() == before
    text = response.get_data(as_text=True)
    assert "预览：人员身份公示表：新增1。" in text and "甲局 登记窗口 孙三" in text
    confirm = dict(re.findall(r'name="(token|digest)" type="hidden" value="([^"]+)"', text))
    wrong = post(client, "/admin/roster/import/confirm", {**confirm, "digest": "0" * 32}, page="/admin/roster/import")
    assert wrong.status_code == 400 and "名单在预览之后已有变化" in wrong.get_data(as_text=True)
    assert people_count() == before  # a plan other than the one shown is not applied
    response = post(client, "/admin/roster/import/confirm", confirm, page="/admin/roster/import")
    assert response.status_code == 302, re.findall(r"<td>[^<]*</td>", response.get_data(as_text=True))
    assert people_count() == before + 1
    assert audit_actions("person.create")
    # The same confirmation twice imports nothing more.
    response = post(client, "/admin/roster/import/confirm", confirm, page="/admin/roster/import",
                    follow_redirects=True)
    assert "预览已过期或已导入" in response.get_data(as_text=True) and people_count() == before + 1


def test_department_admin_cannot_import_rows_of_another_department(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    before = people_count()
    rows = [["deptA", "登记窗口", "工作人员", "孙三", "科员", "13900000010", "", "", "", ""],
            ["deptB", "乙窗口", "工作人员", "吴五", "科员", "13900000011", "", "", "", ""]]
    response = post(client, "/admin/roster/import", {"workbook": (people_workbook(rows), "名单.xlsx")},
                    content_type="multipart/form-data")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "部门“乙局”不在您的管理范围内" in text and ">3</td>" in text
    assert people_count() == before


def test_non_excel_and_missing_uploads_are_refused(client, org):
    signed_in(client, "coordinator", region=org["city"])
    response = post(client, "/admin/roster/import", {"workbook": (io.BytesIO(b"%PDF-1.4 not excel"), "x.xlsx")},
                    page="/admin/roster/import", content_type="multipart/form-data")
    assert response.status_code == 400
    assert "不是有效的 Excel 工作簿" in response.get_data(as_text=True)
    response = post(client, "/admin/roster/import", {}, content_type="multipart/form-data")
    assert response.status_code == 400 and "请选择要上传的文件" in response.get_data(as_text=True)


def test_roster_export_is_scoped(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])
    response = client.get("/admin/roster/export")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data))[PEOPLE.title]
    assert sorted(row[3] for row in sheet.iter_rows(min_row=2, values_only=True)) == ["王一", "甲局长"]
    assert client.get(f"/admin/roster/export?department_id={org['dept_b'].id}").status_code == 404


def test_county_coordinator_export_holds_the_county_only(client, org):
    signed_in(client, "coordinator", region=org["county2"])
    response = client.get("/admin/roster/export")
    sheet = load_workbook(io.BytesIO(response.data))[PEOPLE.title]
    assert [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["李二"]


def test_person_photo_upload_and_bad_images(client, org, app):
    signed_in(client, "department_admin", department=org["dept_a"])
    person = org["staff_a"]
    edit = f"/admin/people/{person.id}/edit"
    path = f"/admin/people/{person.id}/photo"
    for data, message in ((bomb_png(), "图片尺寸过大"), (b"not an image at all", "不是可识别的图片文件"),
                          (jpeg()[:200], "图片文件已损坏")):
        response = post(client, path, {"photo": (io.BytesIO(data), "p.png")}, page=edit,
                        content_type="multipart/form-data")
        assert response.status_code == 400, message
        assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Person, person.id).photo is None
    response = post(client, path, {"photo": (io.BytesIO(jpeg()), "p.jpg")}, page=edit,
                    content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    name = db.session.get(Person, person.id).photo
    assert name and audit_actions("person.update", f"person:{person.id}")[-1].summary["after"]["photo"] == name


def test_photo_archive_import(client, org):
    signed_in(client, "department_admin", department=org["dept_a"])

    def archive(files: dict) -> io.BytesIO:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
        out.seek(0)
        return out

    page = "/admin/roster/import"
    response = post(client, "/admin/roster/photos", {"archive": (io.BytesIO(b"PK\x03\x04broken"), "p.zip")},
                    page=page, content_type="multipart/form-data")
    assert response.status_code == 400 and "不是 zip 压缩包" in response.get_data(as_text=True)
    # No usable file at all: every problem is listed, nothing changes.
    bad = archive({"deptA_甲局长.png": bomb_png(), "deptB_李二.jpg": jpeg(), "deptA_无此人.jpg": jpeg()})
    response = post(client, "/admin/roster/photos", {"archive": (bad, "p.zip")}, page=page,
                    content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "没有修改任何照片" in text
    assert "deptB_李二：部门“乙局”不在您的管理范围内" in text and "图片尺寸过大" in text and "没有找到此人" in text
    # One file that matches is used; the others are listed.
    mixed = archive({"deptA_王一.jpg": jpeg(), "deptA_甲局长.png": bomb_png(), "deptB_李二.jpg": jpeg()})
    response = post(client, "/admin/roster/photos", {"archive": (mixed, "p.zip")}, page=page,
                    content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "已更新1人的照片。以下2个文件未导入" in text
    assert "deptB_李二：部门“乙局”不在您的管理范围内" in text and "图片尺寸过大" in text
    db.session.expire_all()
    assert db.session.get(Person, org["staff_a"].id).photo
    assert db.session.get(Person, org["staff_b"].id).photo is None
    good = archive({"deptA_王一.jpg": jpeg()})
    response = post(client, "/admin/roster/photos", {"archive": (good, "p.zip")}, page=page,
                    content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, org["staff_a"].id).photo


def test_catalog_forms_refuse_posts_without_csrf(client, org):
    signed_in(client, "coordinator", region=org["city"])
    response = client.post("/admin/offices/new", data={"department_id": str(org["dept_a"].id), "name": "无令牌科"})
    assert response.status_code == 400
    assert db.session.scalar(select(Office).where(Office.name == "无令牌科")) is None


@pytest.mark.parametrize("huge", [2**31, 2**40, 2**63, 2**64, -(2**40), 0])
def test_out_of_range_ids_are_not_found_never_a_server_error(client, org, huge):
    """Ids no database column can hold (PostgreSQL raises DataError on them) are simply not there."""
    signed_in(client, "coordinator", region=org["city"])
    dept_a, a1 = org["dept_a"], org["a1"]
    for path in (f"/admin/offices?department_id={huge}", f"/admin/people?office_id={huge}",
                 f"/admin/people?department_id={huge}&office_id={huge}", f"/admin/departments?region_id={huge}",
                 f"/admin/duties?department_id={huge}", f"/admin/offices/new?department_id={huge}",
                 f"/admin/people/new?department_id={huge}&office_id={huge}",
                 f"/admin/duties/new?department_id={huge}&office_id={huge}",
                 f"/admin/service-items/new?office_id={huge}"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    response = client.get(f"/admin/roster/export?department_id={huge}")
    assert response.status_code == (404 if huge else 200)  # 0, like no id at all, exports the whole scope

    before = (db.session.scalar(select(func.count()).select_from(Office)), people_count())
    response = post(client, "/admin/offices/new", {"department_id": str(huge), "name": "新科室"})
    assert response.status_code == 400 and "请选择一个存在的部门" in response.get_data(as_text=True)
    staff = {"department_id": str(dept_a.id), "role": "staff", "office_id": str(huge), "name": "钱",
             "post": "科员", "phone": "13900000020"}
    response = post(client, "/admin/people/new", staff, page="/admin/people/new")
    assert response.status_code == 400
    response = post(client, "/admin/people/new", {**staff, "department_id": str(huge), "office_id": str(a1.id)},
                    page="/admin/people/new")
    assert response.status_code == 400 and "请选择一个存在的部门" in response.get_data(as_text=True)
    overseer = {**staff, "role": "leader_in_charge", "office_id": "", "oversees_field": "审批"}
    response = post(client, "/admin/people/new", {**overseer, "overseen_office_ids": [str(a1.id), str(huge)]},
                    page="/admin/people/new")
    assert response.status_code == 400 and "请选择一个存在的分管科室" in response.get_data(as_text=True)
    response = post(client, "/admin/duties/new", {"department_id": str(dept_a.id), "category": "office",
                                                  "office_id": str(huge), "post_name": "受理", "duties": "受理"},
                    page="/admin/duties/new")
    assert response.status_code == 400
    response = post(client, "/admin/service-items/new", {"office_id": str(huge), "name": "事项"},
                    page="/admin/service-items/new")
    assert response.status_code == 400
    assert (db.session.scalar(select(func.count()).select_from(Office)), people_count()) == before


@pytest.mark.parametrize("huge", [2**31, 2**40, 2**64, -1, 0, "1"])
def test_the_service_treats_out_of_range_ids_as_missing(org, huge):
    """The service refuses them itself (a CatalogError naming the field), whoever calls it."""
    scope, dept_a, a1 = Scope(Level.CITY), org["dept_a"], org["a1"]
    assert catalog.valid_id(huge) is None and catalog.valid_id(True) is None and catalog.valid_id(a1.id) == a1.id
    person = {"department_id": dept_a.id, "role": "staff", "office_id": huge, "name": "钱", "post": "科员",
              "phone": "13900000020"}
    calls = [(catalog.create_office, {"department_id": huge, "name": "新科室"}, "department_id"),
             (roster.create_person, person, "office_id"),
             (roster.create_person, {**person, "role": "leader_in_charge", "office_id": None,
                                      "overseen_office_ids": [a1.id, huge]}, "overseen_office_ids"),
             (roster.create_service_item, {"office_id": huge, "name": "事项"}, "office_id")]
    for create, data, field in calls:
        with pytest.raises(catalog.CatalogError) as refused:
            create(scope, data)
        assert refused.value.field == field
    assert catalog.offices_in(True, huge) == []


def test_a_hall_manager_keeps_their_offices_people_current_and_nothing_more(client, org):
    staff, leader = org["staff_a"], org["leader"]
    signed_in(client, "hall_manager", offices=[org["a1"]])
    office_page = client.get(f"/admin/offices/{org['a1'].id}").get_data(as_text=True)
    assert f"/admin/people/{staff.id}/keep" in office_page and f"/admin/people/{leader.id}/keep" not in office_page
    page = f"/admin/people/{staff.id}/keep"
    # A phone and a post changed, under the same rules as a full edit.
    refused = post(client, page, {"post": "窗口工作人员", "phone": "12345", "active": "y"})
    assert refused.status_code == 400 and "“12345”不是有效号码" in refused.get_data(as_text=True)
    response = post(client, page, {"post": "窗口工作人员", "phone": "0530 5310009", "active": "y",
                                   "name": "改名", "role": "main_leader"})  # fields it does not offer are ignored
    assert response.status_code == 302
    db.session.refresh(staff)
    assert (staff.post, staff.phone, staff.name, staff.role, staff.active) == (
        "窗口工作人员", "05305310009", "王一", "staff", True)
    assert audit_actions("person.update", f"person:{staff.id}")
    # A photo.
    response = post(client, f"/admin/people/{staff.id}/photo", {"photo": (io.BytesIO(jpeg()), "p.jpg")},
                    page=page, content_type="multipart/form-data")
    assert response.status_code == 302 and response.location.endswith(page)
    db.session.refresh(staff)
    assert staff.photo
    # 离岗: unticked.
    assert post(client, page, {"post": "窗口工作人员", "phone": "0530-5310009"}).status_code == 302
    db.session.refresh(staff)
    assert staff.active is False
    # The full edit, someone else's office, a department leader: not theirs.
    assert client.get(f"/admin/people/{staff.id}/edit").status_code == 403
    assert client.get(f"/admin/people/{org['staff_b'].id}/keep").status_code == 404
    assert client.get(f"/admin/people/{leader.id}/keep").status_code == 404
