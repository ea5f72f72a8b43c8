"""The catalog in the JSON API: CRUD with Bearer tokens, scope, validation, uploads, audit."""

import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ballot_service.domain.office_codes import is_valid_office_code
from ballot_service.extensions import db
from ballot_service.models import Person, PostDuty, ServiceItem
from ballot_service.services.roster_io import PEOPLE

from .admin_helpers import api_token, make_user
from .test_admin_catalog import audit_actions, bomb_png, jpeg, org, people_workbook  # noqa: F401  (fixture)


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {api_token(user)}"}


@pytest.fixture
def city_headers(org):  # noqa: F811
    return bearer(make_user("coordinator", region=org["city"]))


@pytest.fixture
def dept_headers(org):  # noqa: F811
    return bearer(make_user("department_admin", department=org["dept_a"]))


def test_organisation_crud(client, org, city_headers):  # noqa: F811
    response = client.post("/api/v1/departments", headers=city_headers,
                           json={"region_id": org["county1"].id, "code": "swj", "name": "商务局"})
    assert response.status_code == 201, response.json
    dept = response.json
    assert dept["active"] is True and dept["region_id"] == org["county1"].id
    response = client.post("/api/v1/offices", headers=city_headers, json={"department_id": dept["id"], "name": "外资科"})
    assert response.status_code == 201
    office = response.json
    assert is_valid_office_code(office["code"])
    response = client.patch(f"/api/v1/offices/{office['id']}", headers=city_headers, json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    response = client.patch(f"/api/v1/departments/{dept['id']}", headers=city_headers, json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    assert audit_actions("office.update", f"office:{office['id']}")[0].summary == {
        "before": {"active": True}, "after": {"active": False}}
    # Schema validation: missing fields and bad enums are named.
    response = client.post("/api/v1/regions", headers=city_headers, json={"code": "x", "kind": "planet"})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"name", "kind"}
    response = client.post("/api/v1/regions", headers=city_headers, json={"code": "kfq", "name": "开发区",
                                                                          "kind": "city"})
    assert response.status_code == 422 and response.json["errors"]["json"]["kind"] == ["已有市级区域，只能有一个"]
    response = client.post("/api/v1/regions", headers=city_headers, json={"code": "kfq", "name": "开发区",
                                                                          "kind": "zone"})
    assert response.status_code == 201
    listing = client.get("/api/v1/regions", headers=city_headers)
    assert [r["code"] for r in listing.json] == ["city", "c1", "c2", "kfq"]


def test_people_crud_and_rules(client, org, dept_headers):  # noqa: F811
    a1, b1 = org["a1"], org["b1"]
    body = {"department_id": org["dept_a"].id, "role": "leader_in_charge", "name": "赵分管", "post": "副局长",
            "phone": "0530-5310000", "oversees_field": "登记", "overseen_office_ids": [a1.id, b1.id]}
    response = client.post("/api/v1/people", headers=dept_headers, json=body)
    assert response.status_code == 422
    assert response.json["errors"]["json"] == {"overseen_office_ids": ["分管科室“乙窗口”不属于甲局"]}
    response = client.post("/api/v1/people", headers=dept_headers, json={**body, "overseen_office_ids": [a1.id]})
    assert response.status_code == 201
    person = response.json
    assert person["overseen_office_ids"] == [a1.id] and person["office_id"] is None
    response = client.post("/api/v1/people", headers=dept_headers,
                           json={**body, "role": "staff", "office_id": None, "overseen_office_ids": [],
                                 "oversees_field": None, "name": "钱"})
    assert response.status_code == 422 and "office_id" in response.json["errors"]["json"]
    response = client.patch(f"/api/v1/people/{person['id']}", headers=dept_headers, json={"phone": "110"})
    assert response.status_code == 422 and "phone" in response.json["errors"]["json"]
    response = client.patch(f"/api/v1/people/{person['id']}", headers=dept_headers, json={"post": "常务副局长"})
    assert response.status_code == 200 and response.json["post"] == "常务副局长"
    assert response.json["overseen_office_ids"] == [a1.id]
    update = audit_actions("person.update", f"person:{person['id']}")[-1]
    assert update.summary == {"before": {"post": "副局长"}, "after": {"post": "常务副局长"}}
    response = client.patch(f"/api/v1/people/{person['id']}", headers=dept_headers, json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    assert db.session.get(Person, person["id"]) is not None  # deactivated, not deleted


def test_duties_and_items_crud(client, org, dept_headers):  # noqa: F811
    a1, dept = org["a1"], org["dept_a"]
    response = client.post("/api/v1/duties", headers=dept_headers,
                           json={"department_id": dept.id, "category": "main_leader", "office_id": a1.id,
                                 "post_name": "局长", "duties": "全面负责"})
    assert response.status_code == 422 and "office_id" in response.json["errors"]["json"]
    response = client.post("/api/v1/duties", headers=dept_headers,
                           json={"department_id": dept.id, "category": "main_leader", "post_name": "局长",
                                 "duties": "全面负责"})
    assert response.status_code == 201
    duty_id = response.json["id"]
    response = client.patch(f"/api/v1/duties/{duty_id}", headers=dept_headers, json={"duties": "主持全面工作"})
    assert response.status_code == 200 and response.json["duties"] == "主持全面工作"
    assert client.delete(f"/api/v1/duties/{duty_id}", headers=dept_headers).status_code == 204
    assert db.session.get(PostDuty, duty_id) is None

    response = client.post("/api/v1/service-items", headers=dept_headers,
                           json={"office_id": a1.id, "name": "企业设立登记", "statutory_limit": "3个工作日"})
    assert response.status_code == 201
    item_id = response.json["id"]
    response = client.post("/api/v1/service-items", headers=dept_headers, json={"office_id": a1.id,
                                                                                "name": "企业设立登记"})
    assert response.status_code == 422 and response.json["errors"]["json"]["name"] == ["登记窗口已有此事项"]
    response = client.patch(f"/api/v1/service-items/{item_id}", headers=dept_headers, json={"promised_limit": "即办"})
    assert response.status_code == 200 and response.json["promised_limit"] == "即办"
    assert client.delete(f"/api/v1/service-items/{item_id}", headers=dept_headers).status_code == 204
    assert db.session.get(ServiceItem, item_id) is None
    for action in ("post_duty.create", "post_duty.update", "post_duty.delete", "service_item.create",
                   "service_item.update", "service_item.delete"):
        assert audit_actions(action), action


def test_department_admin_scope(client, org, dept_headers):  # noqa: F811
    listing = client.get("/api/v1/people", headers=dept_headers)
    assert listing.status_code == 200
    assert sorted(p["name"] for p in listing.json) == ["王一", "甲局长"]
    offices = client.get("/api/v1/offices", headers=dept_headers).json
    assert sorted(o["name"] for o in offices) == ["审批科", "登记窗口"]
    other = org["staff_b"]
    assert client.get(f"/api/v1/people/{other.id}", headers=dept_headers).status_code == 404
    assert client.patch(f"/api/v1/people/{other.id}", headers=dept_headers, json={"name": "x"}).status_code == 404
    response = client.post("/api/v1/offices", headers=dept_headers,
                           json={"department_id": org["dept_b"].id, "name": "新科"})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["department_id"] == ["不在您的管理范围内"]
    assert client.post("/api/v1/departments", headers=dept_headers, json={}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Person, other.id).name == "李二"


def test_lists_are_paginated(client, org, city_headers):  # noqa: F811
    response = client.get("/api/v1/people?page=1&page_size=2", headers=city_headers)
    assert response.status_code == 200 and len(response.json) == 2
    assert '"total": 3' in response.headers["X-Pagination"]


def test_roster_import_lists_every_bad_row(client, org, dept_headers):  # noqa: F811
    before = db.session.scalar(select(func.count()).select_from(Person))
    rows = [["deptA", "登记窗口", "工作人员", "孙三", "科员", "13900000010", "", "", "", ""],
            ["deptA", "登记窗口", "工作人员", "周四", "科员", "12345", "", "", "", ""],
            ["deptA", "无此科", "工作人员", "吴五", "科员", "13900000012", "", "", "", ""]]
    response = client.post("/api/v1/roster/import", headers=dept_headers,
                           data={"workbook": (people_workbook(rows), "r.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.json["errors"] == [
        {"sheet": "人员身份公示表", "row": 3, "column": "F（联系电话）",
         "message": "“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）"},
        {"sheet": "人员身份公示表", "row": 4, "column": "B（科室）", "message": "甲局没有名为“无此科”的科室"},
    ]
    assert db.session.scalar(select(func.count()).select_from(Person)) == before
    response = client.post("/api/v1/roster/import", headers=dept_headers,
                           data={"workbook": (people_workbook(rows[:1]), "r.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 201 and response.json == {
        "people": 1, "duties": 0, "items": 0, "summary": "人员身份公示表：新增1",
        "changes": [{"sheet": "人员身份公示表", "row": 2, "kind": "新增", "subject": "甲局 登记窗口 孙三", "details": []}]}


def test_bad_uploads_answer_4xx_with_a_message(client, org, dept_headers):  # noqa: F811
    person = org["staff_a"]
    cases = [
        ("/api/v1/roster/import", "workbook", b"this is not a workbook", "不是有效的 Excel"),
        ("/api/v1/roster/import", "workbook", b"PK\x03\x04\x14\x00broken zip", "不是有效的 Excel"),
        ("/api/v1/roster/photos", "archive", b"PK\x03\x04broken", "zip"),
        (f"/api/v1/people/{person.id}/photo", "photo", bomb_png(), "图片尺寸过大"),
        (f"/api/v1/people/{person.id}/photo", "photo", b"GIF89a-garbage", "图片"),
    ]
    for path, field, data, message in cases:
        response = client.post(path, headers=dept_headers, data={field: (io.BytesIO(data), "upload.bin")},
                               content_type="multipart/form-data")
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert message in str(response.json), (path, response.json)
    # No file at all, or JSON instead of a form.
    assert client.post("/api/v1/roster/import", headers=dept_headers, json={}).status_code == 422
    response = client.post(f"/api/v1/people/{person.id}/photo", headers=dept_headers,
                           data={"photo": (io.BytesIO(jpeg()), "p.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["photo"]


def test_photo_archive_and_export(client, org, dept_headers):  # noqa: F811
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("deptA_王一.jpg", jpeg())
    out.seek(0)
    response = client.post("/api/v1/roster/photos", headers=dept_headers, data={"archive": (out, "p.zip")},
                           content_type="multipart/form-data")
    assert response.status_code == 201 and response.json == {"photos": 1, "skipped": []}
    response = client.get("/api/v1/roster/export", headers=dept_headers)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data))[PEOPLE.title]
    assert sorted(r[3] for r in sheet.iter_rows(min_row=2, values_only=True)) == ["王一", "甲局长"]
    assert client.get(f"/api/v1/roster/export?department_id={org['dept_b'].id}",
                      headers=dept_headers).status_code == 404


def test_openapi_describes_the_catalog(client, org):  # noqa: F811
    spec = client.get("/api/v1/openapi.json").json
    person = spec["components"]["schemas"]["CatalogPerson"]
    assert {"department_id", "role", "name", "post", "phone"} <= set(person["required"])
    assert person["properties"]["name"]["maxLength"] == 50
    assert "leader_in_charge" in person["properties"]["role"]["enum"]
    assert "required" not in spec["components"]["schemas"]["CatalogPersonPatch"]
    assert "/api/v1/people/{person_id}/photo" in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/api/v1/roster/import"]["post"]["requestBody"]["content"]


def test_unauthenticated_api_is_refused(client, org):  # noqa: F811
    assert client.get("/api/v1/people").status_code == 401
    assert client.post("/api/v1/roster/import").status_code == 401


def test_out_of_range_ids_answer_4xx_never_5xx(client, org, city_headers):  # noqa: F811
    huge = 2**40
    for path in (f"/api/v1/offices?department_id={huge}", f"/api/v1/people?office_id={huge}",
                 f"/api/v1/departments?region_id={huge}", f"/api/v1/duties?department_id={huge}",
                 f"/api/v1/service-items?office_id={huge}", f"/api/v1/offices/{huge}", f"/api/v1/people/{huge}",
                 f"/api/v1/roster/export?department_id={huge}"):
        response = client.get(path, headers=city_headers)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    dept_a, a1 = org["dept_a"], org["a1"]
    person = {"department_id": dept_a.id, "role": "staff", "office_id": huge, "name": "钱", "post": "科员",
              "phone": "13900000020"}
    cases = [("/api/v1/offices", {"department_id": huge, "name": "新科室"}),
             ("/api/v1/people", person),
             ("/api/v1/people", {**person, "role": "leader_in_charge", "office_id": None,
                                 "overseen_office_ids": [a1.id, huge]})]
    for path, body in cases:
        response = client.post(path, headers=city_headers, json=body)
        assert response.status_code == 422, (path, body, response.status_code)


def test_the_api_and_the_admin_list_the_same_people_for_an_office(client, org, dept_headers):  # noqa: F811
    """An office's people include the leaders who oversee it, in both (one query: services.catalog)."""
    from ballot_service.domain.roles import Role
    from tests import factories

    from .admin_helpers import sign_in

    overseer = factories.person(org["dept_a"], Role.LEADER_IN_CHARGE, name="赵分管", phone="13900000009")
    overseer.overseen_offices = [org["a1"]]
    db.session.commit()
    listed = client.get(f"/api/v1/people?office_id={org['a1'].id}", headers=dept_headers).json
    assert sorted(p["name"] for p in listed) == ["王一", "赵分管"]
    admin = make_user("department_admin", department=org["dept_a"], username="dept-admin-2")
    browser = client.application.test_client()
    sign_in(browser, admin)
    page = browser.get(f"/admin/people?office_id={org['a1'].id}").get_data(as_text=True)
    assert "王一" in page and "赵分管" in page and "甲局长" not in page
