"""System pages of the admin area: users within the coordinator's scope, webhooks with their
delivery log, and the audit log with its chain check."""

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from ballot_service.extensions import db
from ballot_service.models import AuditEntry, User, WebhookAttempt, WebhookDelivery, WebhookSubscriber
from ballot_service.services import rounds

from . import factories
from .admin_helpers import PASSWORD, form_token, make_user, sign_in


class Browser:
    """A signed-in test client whose every request runs in an app context of its own (inside
    the test's app context, requests would share `g`: Flask-WTF's token, Flask-Login's user)."""

    def __init__(self, app, user=None, password=PASSWORD):
        self.app, self.client = app, app.test_client()
        if user is not None:
            assert sign_in(self, user, password).status_code == 302

    def get(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.post(*args, **kwargs)

    def submit(self, page: str, action: str, data: dict, **kwargs):
        return self.post(action, data={"csrf_token": form_token(self, page), **data}, **kwargs)


@pytest.fixture
def world(database):
    city = factories.region(code="city", name="全市", kind="city")
    county, other = factories.region(code="cx", name="曹县"), factories.region(code="sx", name="单县")
    dept = factories.department(region=county, code="cxspj")
    office = factories.office(dept)
    people = {
        "city": make_user("coordinator", region=city, username="citycoord"),
        "county": make_user("coordinator", region=county, username="countycoord"),
        "auditor": make_user("auditor", region=county, username="auditor1"),
        "other": make_user("auditor", region=other, username="otherauditor"),
    }
    return {"dept": dept, "office": office, **people}


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def test_county_coordinator_lists_only_users_of_the_county(app, world):
    page = Browser(app, world["county"]).get("/admin/users").get_data(as_text=True)
    assert "countycoord" in page and "auditor1" in page
    assert "citycoord" not in page and "otherauditor" not in page
    everyone = Browser(app, world["city"]).get("/admin/users").get_data(as_text=True)
    assert all(name in everyone for name in ("citycoord", "countycoord", "auditor1", "otherauditor"))


def test_county_coordinator_cannot_create_a_city_wide_user(app, world):
    browser = Browser(app, world["county"])
    before, audit_before = user_count(), db.session.scalar(select(func.count()).select_from(AuditEntry))
    response = browser.submit("/admin/users/new", "/admin/users/new", {
        "username": "newcity", "password": "long-enough-1", "role": "coordinator", "region": "city"})
    assert response.status_code == 400 and "不在您的管理范围内" in response.get_data(as_text=True)
    response = browser.submit("/admin/users/new", "/admin/users/new", {
        "username": "newother", "password": "long-enough-1", "role": "auditor", "region": "sx"})
    assert response.status_code == 400 and "不在您的管理范围内" in response.get_data(as_text=True)
    db.session.expire_all()
    assert user_count() == before
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


def test_county_coordinator_creates_a_department_admin_of_the_county(app, world):
    browser = Browser(app, world["county"])
    response = browser.submit("/admin/users/new", "/admin/users/new", {
        "username": "deptadmin", "display_name": "赵敏", "password": "long-enough-1",
        "role": "department_admin", "department": "cxspj"})
    assert response.status_code == 302
    created = db.session.scalar(select(User).where(User.username == "deptadmin"))
    assert created.department_id == world["dept"].id and created.region_id == world["dept"].region_id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
    assert entry.actor == "countycoord" and entry.summary["after"]["password_hash"] == "***"
    # A weak password is answered next to its field, and nothing is written.
    response = browser.submit("/admin/users/new", "/admin/users/new", {
        "username": "weak", "password": "short", "role": "auditor", "region": "cx"})
    assert response.status_code == 400 and "密码至少需要10个字符" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "weak")) is None


def test_edit_a_user_reset_password_and_deactivate(app, world):
    coordinator, auditor = Browser(app, world["county"]), world["auditor"]
    page = f"/admin/users/{auditor.id}"
    assert Browser(app, world["county"]).get(f"/admin/users/{world['city'].id}").status_code == 404
    response = coordinator.submit(page, page, {"display_name": "审计员甲", "active": "y",
                                               "password": "brand-new-pass-2"})
    assert response.status_code == 302
    db.session.expire_all()
    assert auditor.display_name == "审计员甲" and auditor.active
    assert sign_in(Browser(app), auditor).status_code == 400  # the old password no longer works
    Browser(app, auditor, password="brand-new-pass-2")

    response = coordinator.submit(page, page, {"display_name": "审计员甲"})  # "active" unticked
    assert response.status_code == 302
    db.session.expire_all()
    assert not auditor.active
    assert sign_in(Browser(app), auditor, password="brand-new-pass-2").status_code == 400

    own = f"/admin/users/{world['county'].id}"
    response = coordinator.submit(own, own, {"display_name": "县协调员"})
    assert response.status_code == 400 and "不能停用自己的账号" in response.get_data(as_text=True)


def test_auditor_reads_the_audit_log_but_not_users(app, world):
    auditor = Browser(app, world["auditor"])
    assert auditor.get("/admin/users").status_code == 403
    assert auditor.get("/admin/webhooks").status_code == 403
    Browser(app, world["county"]).submit("/admin/users/new", "/admin/users/new", {
        "username": "hall1", "password": "long-enough-1", "role": "hall_manager",
        "offices": world["office"].code})
    page = auditor.get("/admin/audit")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "审计链校验通过" in text
    assert "新增了用户“hall1”" in text and "登录了管理后台" in text
    filtered = auditor.get("/admin/audit?action=user.create&actor=countycoord").get_data(as_text=True)
    assert "新增了用户“hall1”" in filtered and "登录了管理后台" not in filtered
    assert "countycoord 新增了用户“hall1”" in filtered  # a sentence, the raw record beside it
    assert '<option value="user." selected>用户</option>' in auditor.get("/admin/audit?action=user.").get_data(
        as_text=True)
    today = rounds.to_china(rounds.utcnow()).date()
    assert "hall1" in auditor.get(f"/admin/audit?since={today}&until={today}").get_data(as_text=True)
    tomorrow = today + dt.timedelta(days=1)
    assert "没有符合条件的记录" in auditor.get(f"/admin/audit?since={tomorrow}").get_data(as_text=True)
    assert "格式不正确" in auditor.get("/admin/audit?since=明天").get_data(as_text=True)
    far = auditor.get("/admin/audit?until=9999-12-31")
    assert far.status_code == 200 and "日期应在2000年至2100年之间" in far.get_data(as_text=True)
    # An edited entry breaks the chain, and the page says so.
    db.session.execute(update(AuditEntry).where(AuditEntry.action == "user.create").values(actor="someone"))
    db.session.commit()
    text = auditor.get("/admin/audit").get_data(as_text=True)
    assert "审计链校验未通过" in text


def test_webhooks_created_by_the_city_with_a_delivery_log(app, world):
    city = Browser(app, world["city"])
    response = city.submit("/admin/webhooks", "/admin/webhooks/new", {"name": "市大数据局",
                                                                     "url": "ftp://example.org/hook"})
    assert response.status_code == 400 and "http://" in response.get_data(as_text=True)
    response = city.submit("/admin/webhooks", "/admin/webhooks/new", {"name": "市大数据局",
                                                                     "url": "https://example.org/hook"})
    text = response.get_data(as_text=True)
    hook = db.session.scalar(select(WebhookSubscriber))
    assert response.status_code == 200 and hook.url == "https://example.org/hook"
    assert f'<code class="token">{hook.secret}</code>' in text and len(hook.secret) == 64
    assert hook.secret not in city.get("/admin/webhooks").get_data(as_text=True)  # shown once
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook_subscriber.create"))
    assert entry.summary["after"]["secret"] == "***"

    now = rounds.utcnow()
    round_ = rounds.create_round("2026年上半年", "city", now - dt.timedelta(days=40), now - dt.timedelta(days=10))
    delivery = WebhookDelivery(id="d" * 32, subscriber_id=hook.id, round_id=round_.id, status="pending")
    db.session.add(delivery)
    db.session.add_all([
        WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=500, error=None),
        WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=None, error="Connection refused"),
    ])
    db.session.commit()
    text = city.get(f"/admin/webhooks/{hook.id}").get_data(as_text=True)
    assert "2026年上半年" in text and "d" * 32 in text and "待送达" in text
    assert "HTTP 500" in text and "Connection refused" in text

    county = Browser(app, world["county"])
    assert county.get(f"/admin/webhooks/{hook.id}").status_code == 404
    assert "市大数据局" not in county.get("/admin/webhooks").get_data(as_text=True)
    response = county.submit("/admin/webhooks", "/admin/webhooks/new", {"name": "县", "url": "https://x.org/"})
    assert response.status_code == 400 and "不在您的管理范围内" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(WebhookSubscriber)) == 1

    page = f"/admin/webhooks/{hook.id}"
    assert city.submit(page, f"/admin/webhooks/{hook.id}/deactivate", {}).status_code == 302
    db.session.expire_all()
    assert not hook.active
