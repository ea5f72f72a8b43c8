"""Public disclosure pages, health checks and photo serving."""

import gzip

import pytest

from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import Guideline, PostDuty
from tests import factories as f


@pytest.fixture
def office_setup(database):
    dept = f.department(name="市行政审批服务局")
    window = f.office(dept, name="企业登记窗口")
    other = f.office(dept, name="社会事务审批科")
    people = {
        "main": f.person(dept, Role.MAIN_LEADER, name="王建国", post="局长", phone="0530-5310000"),
        "lic": f.person(dept, Role.LEADER_IN_CHARGE, name="李海燕", post="副局长", oversees_field="分管企业登记",
                        overseen_offices=[window]),
        "lic_other": f.person(dept, Role.LEADER_IN_CHARGE, name="赵志强", post="党组成员、副局长",
                              overseen_offices=[other]),
        "head": f.person(dept, Role.OFFICE_HEAD, office=window, name="张丽娜", post="窗口负责人",
                         business="企业设立登记", phone="13953012345"),
        "staff": f.person(dept, Role.STAFF, office=window, name="刘文博", post="工作人员"),
        "gone": f.person(dept, Role.STAFF, office=window, name="陈秀英", active=False),
        "elsewhere": f.person(dept, Role.STAFF, office=other, name="杨晓东"),
    }
    f.service_item(window, name="企业设立登记", statutory_limit="3个工作日", promised_limit="即时办结",
                   materials="营业执照申请书")
    db.session.add_all([
        PostDuty(department=dept, category="main_leader", post_name="局长", duties="主持全面工作"),
        PostDuty(department=dept, category="leader_in_charge", post_name="副局长", duties="分管企业登记工作"),
        PostDuty(department=dept, category="leader_in_charge", post_name="党组成员、副局长", duties="分管社会事务"),
        PostDuty(department=dept, office=window, category="office", post_name="企业登记窗口", duties="受理企业登记"),
        Guideline(department=dept, kind="service_phrase", title="接待", body="您好，请问您要办理什么业务？"),
    ])
    db.session.commit()
    return dept, window, people


def test_office_page_shows_its_people_in_attachment_1_order(client, office_setup):
    dept, window, _ = office_setup
    html = client.get(f"/o/{window.code}").get_data(as_text=True)
    order = [html.index(name) for name in ("王建国", "李海燕", "张丽娜", "刘文博")]
    assert order == sorted(order)
    for absent in ("赵志强", "陈秀英", "杨晓东"):  # other office's leader and staff, inactive person
        assert absent not in html
    assert '<a class="tel" href="tel:13953012345">13953012345</a>' in html
    assert 'href="tel:05305310000"' in html
    assert "从事业务：企业设立登记" in html
    assert "分管领域：分管企业登记" in html


def test_office_page_shows_duties_items_limits_and_phrases(client, office_setup):
    _, window, _ = office_setup
    html = client.get(f"/o/{window.code}").get_data(as_text=True)
    assert "主持全面工作" in html and "分管企业登记工作" in html and "受理企业登记" in html
    assert "分管社会事务" not in html  # the other leader's duty row belongs to the other office
    assert "法定3个工作日" in html and "承诺即时办结" in html and "营业执照申请书" in html
    assert "您好，请问您要办理什么业务？" in html


def test_office_code_is_case_insensitive(client, office_setup):
    _, window, _ = office_setup
    assert client.get(f"/o/{window.code.lower()}").status_code == 200


@pytest.mark.parametrize("path", ["/o/ZZZZZZ", "/o/%3Cscript%3E", "/d/nope", "/nothing-here"])
def test_unknown_codes_get_a_friendly_chinese_404(client, office_setup, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "没有找到" in response.get_data(as_text=True) or "页面不存在" in response.get_data(as_text=True)
    assert "返回首页" in response.get_data(as_text=True)


def test_inactive_office_is_not_found(client, office_setup):
    _, window, _ = office_setup
    window.active = False
    db.session.commit()
    assert client.get(f"/o/{window.code}").status_code == 404


def test_department_page_lists_leaders_and_every_office(client, office_setup):
    dept, window, _ = office_setup
    html = client.get(f"/d/{dept.code}").get_data(as_text=True)
    for text in ("王建国", "李海燕", "赵志强", "张丽娜", "杨晓东", "企业登记窗口", "社会事务审批科", f"/o/{window.code}"):
        assert text in html
    assert "陈秀英" not in html


def test_home_page_lists_regions_and_departments(client, office_setup):
    dept, _, _ = office_setup
    html = client.get("/").get_data(as_text=True)
    assert dept.region.name in html and dept.name in html


def test_office_page_is_within_the_wire_budget(client, office_setup):
    _, window, _ = office_setup
    page = client.get(f"/o/{window.code}", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    html = gzip.decompress(page.data).decode()
    assert "三亮" in html and "<style>" in html  # styles inline: one request for the whole page
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")  # nothing external
    assert len(page.data) <= 30 * 1024


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}


def test_readyz_reports_an_unreachable_redis(app, database):
    import redis

    app.extensions["redis"], saved = redis.Redis(unix_socket_path="/nonexistent/redis.sock"), app.extensions["redis"]
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions["redis"] = saved
    assert response.status_code == 503
    assert response.json["problems"] == ["redis: ConnectionError"]


def test_readyz_reports_an_unreachable_database(app):
    from ballot_service import create_app

    broken = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/dir/db.sqlite3",
                         "REDIS_URL": app.config["REDIS_URL"], "SECRET_KEY": "readyz"})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["problems"] == ["database: OperationalError"]
