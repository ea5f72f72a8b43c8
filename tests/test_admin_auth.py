"""Signing in, CSRF, throttling, API tokens and the audit chain."""

import pytest
from sqlalchemy import select, update

from ballot_service.extensions import db
from ballot_service.models import AuditEntry, AuditHead, User
from ballot_service.services import audit

from . import factories
from .admin_helpers import PASSWORD, api_token, form_token, make_user, sign_in


@pytest.fixture
def city(database):
    return factories.region(code="city", name="全市", kind="city")


def test_anonymous_admin_pages_redirect_to_login(client):
    response = client.get("/admin/account")
    assert response.status_code == 302
    assert response.location == "/admin/login?next=/admin/account"


def test_sign_in_with_password_then_out(client, city):
    user = make_user("coordinator", region=city)
    assert user.password_hash.startswith("scrypt:")
    response = sign_in(client, user)
    assert response.status_code == 302 and response.location == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "您好" in client.get("/admin/").get_data(as_text=True)
    token = form_token(client, "/admin/")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_signing_out_ends_every_session_of_the_user_copied_cookies_too(app, client, city):
    user = make_user("coordinator", region=city)
    sign_in(client, user)
    other_device = app.test_client()
    sign_in(other_device, user)
    copied = app.test_client()  # someone who copied the session cookie before the sign-out
    copied.set_cookie("session", client.get_cookie("session").value)
    assert copied.get("/admin/").status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": form_token(client, "/admin/")}).status_code == 302
    for each in (copied, other_device):
        assert each.get("/admin/").status_code == 302  # to the sign-in page
    assert sign_in(client, user).status_code == 302 and client.get("/admin/").status_code == 200


def test_a_password_change_ends_the_other_sessions(app, client, city):
    user = make_user("coordinator", region=city)
    sign_in(client, user)
    other_device = app.test_client()
    sign_in(other_device, user)
    changed = client.post("/admin/account", data={"pw-current": PASSWORD, "pw-new": "another-horse-43",
                                                  "csrf_token": form_token(client, "/admin/account")})
    assert changed.status_code == 302
    assert client.get("/admin/").status_code == 200 and other_device.get("/admin/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, city):
    user = make_user("coordinator", region=city)
    response = sign_in(client, user, password="wrong-password-1")
    assert response.status_code == 400
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client, city):
    user = make_user("coordinator", region=city)
    response = client.post("/admin/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_admin_form_without_csrf_token_is_refused(client, city):
    user = make_user("coordinator", region=city)
    sign_in(client, user)
    response = client.post("/admin/account/tokens", data={"tk-name": "x"})
    assert response.status_code == 400
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_token.create")) is None


def test_login_attempts_are_throttled_per_username(client, city):
    user = make_user("coordinator", region=city)
    statuses = [sign_in(client, user, password="wrong-password-1").status_code for _ in range(5)]
    assert statuses == [400] * 5
    # The sixth attempt within the minute is refused even with the right password.
    assert sign_in(client, user).status_code == 429


def test_api_token_works_until_revoked(client, city):
    user = make_user("coordinator", region=city)
    sign_in(client, user)
    page = client.post("/admin/account/tokens", data={"tk-name": "对接系统",
                                                      "csrf_token": form_token(client, "/admin/account")})
    text = page.get_data(as_text=True)
    token = text.split('<code class="token">')[1].split("</code>")[0]
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/account", headers=headers)
    assert me.status_code == 200 and me.json["username"] == user.username
    assert me.json["scope"]["level"] == "city"
    token_id = user_token_id(user)
    client.post(f"/admin/account/tokens/{token_id}/revoke", data={"csrf_token": form_token(client, "/admin/account")})
    assert client.get("/api/v1/account", headers=headers).status_code == 401
    assert token not in client.get("/admin/account").get_data(as_text=True)  # shown once only


def user_token_id(user: User) -> int:
    from ballot_service.models import ApiToken

    return db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))


def test_a_wrong_or_missing_token_gets_401(client, city):
    assert client.get("/api/v1/account").status_code == 401
    assert client.get("/api/v1/account", headers={"Authorization": "Bearer sl_nope"}).status_code == 401


def test_deactivated_users_token_stops_working(client, city):
    user = make_user("auditor", region=city)
    token = api_token(user)
    assert client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_every_write_is_chained_and_verify_detects_an_edit(client, city):
    user = make_user("coordinator", region=city)
    sign_in(client, user)
    client.post("/admin/account/tokens", data={"tk-name": "一号", "csrf_token": form_token(client, "/admin/account")})
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    actions = [e.action for e in entries]
    assert actions == ["user.login", "api_token.create"]  # the user was made by the test, not an admin
    created = entries[1]
    assert created.actor == user.username and created.actor_id == user.id
    assert created.summary["after"]["name"] == "一号" and created.summary["after"]["token_hash"] == "***"
    assert audit.verify() == (2, None)

    db.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(target="user:999"))
    db.session.commit()
    count, problem = audit.verify()
    assert problem is not None and "第2条" in problem


def test_verify_detects_a_deleted_entry_in_the_middle_and_at_the_end(client, city):
    make_user("coordinator", region=city, username="a")
    make_user("coordinator", region=city, username="b")
    make_user("coordinator", region=city, username="c")
    assert audit.verify() == (0, None)  # no actor: seeding users from tests is not an admin write
    with audit.acting_as(None, "cli"):
        for name in ("d", "e", "f"):
            make_user("auditor", region=city, username=name)
    assert audit.verify() == (3, None)
    db.session.execute(AuditEntry.__table__.delete().where(AuditEntry.seq == 3))
    db.session.commit()
    assert "末尾" in audit.verify()[1]
    db.session.execute(AuditEntry.__table__.delete().where(AuditEntry.seq == 1))
    db.session.commit()
    assert "第1条记录缺失" in audit.verify()[1]


def test_cli_creates_the_first_coordinator_and_verifies_the_chain(app, city):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--username", "chief", "--region", "city"],
                           input="long-enough-1\nlong-enough-1\n")
    assert result.exit_code == 0, result.output
    assert "已创建用户 chief（协调员）" in result.output
    short = runner.invoke(args=["users", "create", "--username", "x", "--region", "city"], input="short\nshort\n")
    assert short.exit_code == 1 and "密码至少需要10个字符" in short.output
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "共1条记录" in verified.output
    db.session.execute(update(AuditHead).values(hash="0" * 64))
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1


def test_a_nul_character_is_refused_before_it_reaches_the_database(client, city):
    user = make_user("auditor", region=city)
    headers = {"Authorization": f"Bearer {api_token(user)}"}
    response = client.get("/api/v1/audit?actor=a%00b", headers=headers)
    assert response.status_code == 422 and response.json["errors"] == {"query": {"actor": ["不能包含空字符（\\0）"]}}
    sign_in(client, user)
    response = client.get("/admin/audit?actor=a%00b")
    assert response.status_code == 400 and "空字符" in response.get_data(as_text=True)


def test_a_password_change_ends_sessions_signed_in_before_it(app, city):
    user = make_user("coordinator", region=city)
    old_session, new_session = app.test_client(), app.test_client()
    sign_in(old_session, user)
    sign_in(new_session, user)
    response = new_session.post("/admin/account", data={"pw-current": PASSWORD, "pw-new": "another-pass-77",
                                                        "csrf_token": form_token(new_session, "/admin/account")})
    assert response.status_code == 302
    assert old_session.get("/admin/account").status_code == 302  # back to the login page
    assert new_session.get("/admin/account").status_code == 200  # the one that changed it carries on
    assert sign_in(old_session, user).status_code == 400  # the old password is gone
    assert sign_in(old_session, user, password="another-pass-77").status_code == 302


def test_failing_logins_from_elsewhere_do_not_lock_the_user_out(app, city):
    user = make_user("coordinator", region=city)
    attacker = app.test_client()
    for _ in range(6):
        sign_in(attacker, user, password="wrong-password-1", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert sign_in(attacker, user, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 429
    assert sign_in(app.test_client(), user).status_code == 302


def test_the_audit_page_names_actions_in_chinese(client, city):
    assert audit.action_label("person.update") == "修改人员"
    assert audit.action_label("round.tally") == "统计评价轮次"
    assert audit.action_label("something.new") == "something.new"
    user = make_user("auditor", region=city, username="shenji")
    sign_in(client, user)
    assert "shenji 登录了管理后台" in client.get("/admin/audit").get_data(as_text=True)
