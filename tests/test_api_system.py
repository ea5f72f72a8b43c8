"""The API's users, webhooks and audit endpoints: permissions within them, and their answers."""

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from ballot_service.extensions import db
from ballot_service.models import AuditEntry, User, WebhookAttempt, WebhookDelivery, WebhookSubscriber
from ballot_service.services import rounds

from . import factories
from .admin_helpers import api_token, make_user


@pytest.fixture
def world(database):
    city = factories.region(code="city", name="全市", kind="city")
    county, other = factories.region(code="cx", name="曹县"), factories.region(code="sx", name="单县")
    dept = factories.department(region=county, code="cxspj")
    users = {
        "city": make_user("coordinator", region=city, username="citycoord"),
        "county": make_user("coordinator", region=county, username="countycoord"),
        "auditor": make_user("auditor", region=county, username="auditor1"),
        "other": make_user("auditor", region=other, username="otherauditor"),
    }
    headers = {name: {"Authorization": f"Bearer {api_token(u)}"} for name, u in users.items()}
    return {"city": city, "county": county, "dept": dept, "users": users, "headers": headers}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_county_coordinator_cannot_create_a_city_wide_user(client, world):
    h = world["headers"]["county"]
    before, audit_before = count(User), count(AuditEntry)
    response = client.post("/api/v1/users", headers=h, json={
        "username": "newcity", "password": "long-enough-1", "role": "coordinator", "region_code": "city"})
    assert response.status_code == 422
    assert response.json["errors"]["json"] == {"region_code": ["不在您的管理范围内"]}
    response = client.post("/api/v1/users", headers=h, json={
        "username": "newcity", "password": "long-enough-1", "role": "auditor", "region_code": "nowhere"})
    assert response.status_code == 422 and "region_code" in response.json["errors"]["json"]
    db.session.expire_all()
    assert count(User) == before and count(AuditEntry) == audit_before

    response = client.post("/api/v1/users", headers=h, json={
        "username": "deptadmin", "password": "long-enough-1", "role": "department_admin",
        "department_code": "cxspj", "display_name": "赵敏"})
    assert response.status_code == 201
    assert {k: response.json[k] for k in ("username", "display_name", "role", "department_id", "active")} == {
        "username": "deptadmin", "display_name": "赵敏", "role": "department_admin",
        "department_id": world["dept"].id, "active": True}
    assert "password" not in response.json


def test_users_are_listed_and_read_within_scope(client, world):
    h, users = world["headers"], world["users"]
    listed = client.get("/api/v1/users", headers=h["county"])
    assert sorted(u["username"] for u in listed.json) == ["auditor1", "countycoord"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2
    assert len(client.get("/api/v1/users", headers=h["city"]).json) == 4
    assert client.get(f"/api/v1/users/{users['city'].id}", headers=h["county"]).status_code == 404
    assert client.get(f"/api/v1/users/{users['auditor'].id}", headers=h["county"]).json["username"] == "auditor1"


def test_patch_deactivates_a_user_whose_token_then_stops_working(client, world):
    h, auditor = world["headers"], world["users"]["auditor"]
    assert client.get("/api/v1/audit/verify", headers=h["auditor"]).status_code == 200
    bad = client.patch(f"/api/v1/users/{auditor.id}", headers=h["county"], json={"password": "short"})
    assert bad.status_code == 422 and bad.json["errors"]["json"] == {"password": ["密码至少需要10个字符"]}
    response = client.patch(f"/api/v1/users/{auditor.id}", headers=h["county"],
                            json={"active": False, "display_name": "已离职"})
    assert response.status_code == 200 and response.json["active"] is False
    assert client.get("/api/v1/audit/verify", headers=h["auditor"]).status_code == 401
    own = client.patch(f"/api/v1/users/{world['users']['county'].id}", headers=h["county"], json={"active": False})
    assert own.status_code == 422 and own.json["errors"]["json"] == {"active": ["不能停用自己的账号"]}


def test_auditor_reads_the_audit_log_but_not_users(client, world):
    h = world["headers"]
    assert client.get("/api/v1/users", headers=h["auditor"]).status_code == 403
    assert client.post("/api/v1/users", headers=h["auditor"], json={}).status_code == 403
    assert client.get("/api/v1/webhooks", headers=h["auditor"]).status_code == 403
    client.post("/api/v1/users", headers=h["county"], json={
        "username": "aud2", "password": "long-enough-1", "role": "auditor", "region_code": "cx"})
    log = client.get("/api/v1/audit?action=user.&actor=countycoord", headers=h["auditor"])
    assert log.status_code == 200
    assert [(e["action"], e["target"].split(":")[0]) for e in log.json] == [("user.create", "user")]
    assert log.json[0]["summary"]["after"]["username"] == "aud2"
    total = count(AuditEntry)
    assert client.get("/api/v1/audit/verify", headers=h["auditor"]).json == {
        "entries": total, "intact": True, "problem": None}
    seqs = [e["seq"] for e in client.get("/api/v1/audit", headers=h["auditor"]).json]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == total  # newest first
    db.session.execute(update(AuditEntry).where(AuditEntry.action == "user.create").values(target="user:999"))
    db.session.commit()
    verdict = client.get("/api/v1/audit/verify", headers=h["auditor"]).json
    assert verdict["intact"] is False and verdict["problem"]


def test_webhooks_city_only_with_deliveries(client, world):
    h = world["headers"]
    refused = client.post("/api/v1/webhooks", headers=h["county"], json={"name": "县", "url": "https://x.org/h"})
    assert refused.status_code == 422 and refused.json["errors"]["json"] == {"url": ["不在您的管理范围内"]}
    bad = client.post("/api/v1/webhooks", headers=h["city"], json={"name": "市", "url": "ftp://x.org/h"})
    assert bad.status_code == 422 and "url" in bad.json["errors"]["json"]
    assert count(WebhookSubscriber) == 0

    created = client.post("/api/v1/webhooks", headers=h["city"], json={"name": "市大数据局",
                                                                      "url": "https://example.org/hook"})
    assert created.status_code == 201 and len(created.json["secret"]) == 64
    hook_id = created.json["id"]
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook_id}", headers=h["city"]).json
    assert client.get(f"/api/v1/webhooks/{hook_id}", headers=h["county"]).status_code == 404
    assert client.get("/api/v1/webhooks", headers=h["county"]).json == []

    patched = client.patch(f"/api/v1/webhooks/{hook_id}", headers=h["city"], json={"active": False,
                                                                                    "name": "市大数据中心"})
    assert patched.json == {"id": hook_id, "name": "市大数据中心", "url": "https://example.org/hook", "active": False}
    assert client.patch(f"/api/v1/webhooks/{hook_id}", headers=h["city"],
                        json={"url": "javascript:alert(1)"}).status_code == 422

    now = rounds.utcnow().replace(microsecond=0)
    round_ = rounds.create_round("2026年上半年", "city", now - dt.timedelta(days=40), now - dt.timedelta(days=10))
    db.session.add(WebhookDelivery(id="e" * 32, subscriber_id=hook_id, round_id=round_.id, status="delivered"))
    db.session.add_all([WebhookAttempt(delivery_id="e" * 32, attempted_at=now, status_code=None, error="timed out"),
                        WebhookAttempt(delivery_id="e" * 32, attempted_at=now, status_code=204)])
    db.session.commit()
    deliveries = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=h["city"])
    assert deliveries.json == [{"id": "e" * 32, "round_id": round_.id, "status": "delivered", "attempts": [
        {"attempted_at": now.isoformat(), "status_code": None, "error": "timed out"},
        {"attempted_at": now.isoformat(), "status_code": 204, "error": None}]}]


def test_a_county_reader_sees_only_what_users_of_the_county_did(client, database):
    city = factories.region(code="cityx", name="全市X", kind="city")
    county, other = factories.region(), factories.region()
    here, there = factories.department(region=county), factories.department(region=other)
    db.session.commit()
    chief = make_user("coordinator", region=city, username="chief-x")
    local = make_user("coordinator", region=county, username="local-x")
    reader = make_user("auditor", region=county, username="reader-x")

    def patch(user, department, name):
        response = client.patch(f"/api/v1/departments/{department.id}", json={"name": name},
                                headers={"Authorization": f"Bearer {api_token(user)}"})
        assert response.status_code == 200

    patch(chief, there, "别县的局（改名）")  # the city's coordinator, outside the county
    patch(local, here, "本县的局（改名）")
    seen = client.get("/api/v1/audit?page_size=100", headers={"Authorization": f"Bearer {api_token(reader)}"}).json
    assert [(e["actor"], e["action"]) for e in seen] == [("local-x", "department.update")]
    assert "别县" not in json.dumps(seen, ensure_ascii=False)
    everything = client.get("/api/v1/audit?page_size=100", headers={"Authorization": f"Bearer {api_token(chief)}"})
    assert {e["actor"] for e in everything.json} == {"chief-x", "local-x"}
