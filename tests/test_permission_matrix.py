"""The permission matrix, generated from the URL map.

Every admin and API endpoint (each of its methods) is called as anonymous and as every role,
on an object inside and one outside the user's scope. Expected, from the guard the endpoint
declares and the rules in domain/access.py (worked here by hand in `INSIDE` / `OUTSIDE`):
  anonymous                   -> admin: redirect to the login page; API: 401
  role without the permission -> 403
  object outside the scope    -> 404 (its existence is not revealed)
  otherwise                   -> neither 401, 403, 404 nor 5xx
An endpoint added without a guard fails `test_every_endpoint_is_guarded`. Refused requests
must write nothing: the audit trail does not grow while they run.
"""

import datetime as dt

import pytest
from sqlalchemy import func, select

from ballot_service.domain.access import PERMISSIONS, UserRole
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import Appeal, AppealAttachment, AuditEntry, PostDuty, Rectification, WebhookSubscriber
from ballot_service.services import poster_batches, rounds, users

from . import factories
from .admin_helpers import api_token, make_user, sign_in

# Endpoints that are deliberately open: signing in, and the API's own description.
OPEN_ENDPOINTS = {"admin.login", "api-docs.openapi_json", "api-docs.static"}
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}


def _guarded_endpoints(app):
    """(endpoint, rule, method, guard) for every admin/API method; guard None when missing."""
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("admin.", "api")) or rule.endpoint in OPEN_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}, key=METHOD_ORDER.get):
            target = getattr(view.view_class, method.lower()) if hasattr(view, "view_class") else view
            yield rule.endpoint, rule, method, getattr(target, "guard", None)


def test_every_endpoint_is_guarded(app):
    missing = [f"{method} {rule.rule}" for _, rule, method, guard in _guarded_endpoints(app) if guard is None]
    assert missing == []
    assert len(list(_guarded_endpoints(app))) > 10


@pytest.fixture
def world(database):
    """Two counties (and the city); department A in county 1 with offices A1, A2; department B
    in county 2 with office B1; a round in each county; one user of every role."""
    city = factories.region(code="city", name="全市", kind="city")
    county1, county2 = factories.region(), factories.region()
    dept_a, dept_b = factories.department(region=county1), factories.department(region=county2)
    a1, a2, b1 = factories.office(dept_a), factories.office(dept_a), factories.office(dept_b)
    people = {o: factories.person(o.department, Role.STAFF, office=o) for o in (a1, a2, b1)}
    factories.person(dept_a, Role.MAIN_LEADER)
    items = {o: factories.service_item(o) for o in (a1, a2, b1)}
    duties = {}
    for o in (a1, a2, b1):
        duties[o] = PostDuty(department=o.department, office=o, category="office", post_name="科员", duties="办理")
        db.session.add(duties[o])
    webhook = WebhookSubscriber(name="市大数据局", url="http://127.0.0.1:9/hook", secret="s" * 32)
    db.session.add(webhook)
    db.session.commit()
    now = rounds.utcnow()
    round1 = rounds.create_round("一区", county1.code, now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    round2 = rounds.create_round("二区", county2.code, now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    roles = {
        "city_coordinator": make_user("coordinator", region=city, username="city"),
        "coordinator": make_user("coordinator", region=county1, username="county"),
        "department_admin": make_user("department_admin", department=dept_a, username="depta"),
        "hall_manager": make_user("hall_manager", offices=[a1], username="halla1"),
        "auditor": make_user("auditor", region=county1, username="auditor"),
    }
    county2_user = make_user("auditor", region=county2, username="auditor2")
    tokens = {name: api_token(user) for name, user in roles.items()}
    other_token = users.issue_token(county2_user, "other")[0]
    own_tokens = {name: users.issue_token(user, "own")[0] for name, user in roles.items()}
    db.session.commit()

    # kind -> role -> (inside id, outside id); None where the role has no such object.
    inside_outside = {
        "region": {"city_coordinator": (county1.id, None), "coordinator": (county1.id, county2.id),
                   "auditor": (county1.id, county2.id), "department_admin": (county1.id, county2.id),
                   "hall_manager": (county1.id, county2.id)},
        "department": {"city_coordinator": (dept_a.id, None), "coordinator": (dept_a.id, dept_b.id),
                       "department_admin": (dept_a.id, dept_b.id), "auditor": (dept_a.id, dept_b.id),
                       "hall_manager": (None, dept_b.id)},
        "office": {"city_coordinator": (a1.id, None), "coordinator": (a1.id, b1.id),
                   "department_admin": (a1.id, b1.id), "hall_manager": (a1.id, a2.id), "auditor": (a1.id, b1.id)},
        "round": {"city_coordinator": (round1.id, None), "coordinator": (round1.id, round2.id),
                  "auditor": (round1.id, round2.id), "department_admin": (round1.id, round2.id),
                  "hall_manager": (round1.id, round2.id)},
        "user": {"city_coordinator": (roles["auditor"].id, None),
                 "coordinator": (roles["auditor"].id, county2_user.id)},
        "webhook": {"city_coordinator": (webhook.id, None), "coordinator": (None, webhook.id)},
    }
    for kind, rows in (("person", people), ("duty", duties), ("service_item", items)):
        inside_outside[kind] = {
            "city_coordinator": (rows[a1].id, None), "coordinator": (rows[a1].id, rows[b1].id),
            "department_admin": (rows[a1].id, rows[b1].id), "hall_manager": (rows[a1].id, rows[a2].id),
            "auditor": (rows[a1].id, rows[b1].id),
        }
    inside_outside["token"] = {name: (own_tokens[name].id, other_token.id) for name in roles}
    # A rectification task of each department (the rounds need not be published for the guard).
    tasks = {}
    for dept, round_ in ((dept_a, round1), (dept_b, round2)):
        tasks[dept] = Rectification(round_id=round_.id, department_id=dept.id, subject_kind="department",
                                    subject_id=dept.id, trigger="grade", findings={"subject": dept.name, "levels": []},
                                    opened_at=now, deadline=now.date(), status="open")
        db.session.add(tasks[dept])
    db.session.commit()
    inside_outside["rectification"] = {
        "city_coordinator": (tasks[dept_a].id, None), "coordinator": (tasks[dept_a].id, tasks[dept_b].id),
        "department_admin": (tasks[dept_a].id, tasks[dept_b].id)}
    # An appeal of each department, with an attachment (the rounds need not be published for the guard).
    appeals = {}
    for dept, round_ in ((dept_a, round1), (dept_b, round2)):
        appeals[dept] = Appeal(round_id=round_.id, department_id=dept.id, kind="office", subject_id=1,
                               reasons="疑似组织刷票", filed_by="depta", filed_at=now, status="pending",
                               attachments=[AppealAttachment(filename="说明.pdf", content_type="application/pdf",
                                                             data=b"%PDF")])
        db.session.add(appeals[dept])
    db.session.commit()
    inside_outside["appeal"] = {
        "city_coordinator": (appeals[dept_a].id, None), "coordinator": (appeals[dept_a].id, appeals[dept_b].id),
        "department_admin": (appeals[dept_a].id, appeals[dept_b].id)}

    def fresh(kind: str, office) -> int:
        """A new duty or service item at `office`, for a deletion that must not take away the
        object other calls use."""
        row = (factories.service_item(office) if kind == "service_item" else
               PostDuty(department=office.department, office=office, category="office", post_name="科员", duties="办理"))
        db.session.add(row)
        db.session.commit()
        return row.id

    # role -> (office inside, office outside) for fresh objects
    fresh_offices = {"city_coordinator": (a1, None), "coordinator": (a1, b1), "department_admin": (a1, b1),
                     "hall_manager": (a1, a2), "auditor": (a1, b1)}
    batches = {o: poster_batches.request("office", o.code, "counter_card", "pdf", None).id for o in (a1, a2, b1)}
    inside_outside["poster_batch"] = {
        "city_coordinator": (batches[a1], None), "coordinator": (batches[a1], batches[b1]),
        "department_admin": (batches[a1], batches[b1]), "hall_manager": (batches[a1], batches[a2])}
    defaults = {"batch_id": batches[a1], "region_id": county1.id, "department_id": dept_a.id, "office_id": a1.id,
                "person_id": people[a1].id, "round_id": round1.id, "user_id": roles["auditor"].id,
                "webhook_id": webhook.id, "token_id": own_tokens["city_coordinator"].id,
                "duty_id": duties[a1].id, "item_id": items[a1].id, "service_item_id": items[a1].id,
                "consequence_id": 1, "token": "no-such-upload", "task_id": tasks[dept_a].id,
                "appeal_id": appeals[dept_a].id, "attachment_id": appeals[dept_a].attachments[0].id}
    return {"roles": roles, "tokens": tokens, "inside_outside": inside_outside, "defaults": defaults,
            "fresh": fresh, "fresh_offices": fresh_offices}


def _deletes(endpoint: str, method: str) -> bool:
    return method == "DELETE" or endpoint.endswith("_delete")


def _url(rule, values: dict) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<int:{name}>", str(values[name])).replace(f"<{name}>", str(values[name]))
    return path


def _call(client, method, url, api_token_value=None):
    headers = {"Authorization": f"Bearer {api_token_value}"} if api_token_value else {}
    kwargs = {"json": {}} if url.startswith("/api/") and method != "GET" else {"data": {}}
    return client.open(url, method=method, headers=headers, **kwargs)


def test_permission_matrix(app, world):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven elsewhere; here the guard alone answers
    try:
        failures = _run_matrix(app, world)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert failures == [], f"{len(failures)} wrong answers:\n" + "\n".join(failures)


def _run_matrix(app, world) -> list[str]:
    failures = []
    anonymous = app.test_client()
    clients = {}
    for name, user in world["roles"].items():
        clients[name] = app.test_client()
        assert sign_in(clients[name], user).status_code == 302

    def audit_count():
        return db.session.scalar(select(func.count()).select_from(AuditEntry))

    endpoints = list(_guarded_endpoints(app))
    refusals = []  # (client, method, url, token, expected statuses, label)
    allowed = []
    for endpoint, rule, method, guard in endpoints:
        if guard is None:
            continue
        permission, kind, arg = guard
        is_api = rule.rule.startswith("/api/")
        base = _url(rule, world["defaults"])
        expected_anon = {401} if is_api else {302}
        refusals.append((anonymous, method, base, None, expected_anon, f"anonymous {method} {rule.rule}"))
        for name, user in world["roles"].items():
            client, token = clients[name], world["tokens"][name] if is_api else None
            role = UserRole(user.role)
            label = f"{name} {method} {rule.rule}"
            if permission not in PERMISSIONS[role]:
                refusals.append((client, method, base, token, {403}, label))
                continue
            if kind is None:
                allowed.append((client, method, base, token, label))
                continue
            inside, outside = world["inside_outside"].get(kind, {}).get(name, (None, None))
            if _deletes(endpoint, method) and kind in ("duty", "service_item"):
                inside, outside = (office and world["fresh"](kind, office) for office in world["fresh_offices"][name])
            if outside is not None:
                url = _url(rule, {**world["defaults"], arg: outside})
                refusals.append((client, method, url, token, {404}, label + " (outside scope)"))
            if inside is not None:
                url = _url(rule, {**world["defaults"], arg: inside})
                allowed.append((client, method, url, token, label + " (inside scope)"))

    before = audit_count()
    for client, method, url, token, expected, label in refusals:
        response = _call(client, method, url, token)
        if response.status_code not in expected:
            failures.append(f"{label}: {response.status_code}, expected {sorted(expected)}")
        elif response.status_code == 302 and "/admin/login" not in response.location:
            failures.append(f"{label}: redirected to {response.location}, expected the login page")
    db.session.rollback()
    if audit_count() != before:
        failures.append(f"refused requests wrote {audit_count() - before} audit entries")
    # Reads first, then writes, deletions last, and signing out at the very end.
    for client, method, url, token, label in sorted(allowed, key=lambda a: ("/admin/logout" in a[2], METHOD_ORDER[a[1]])):
        response = _call(client, method, url, token)
        if response.status_code in (401, 403, 404) or response.status_code >= 500:
            failures.append(f"{label}: {response.status_code}, expected to be let through")
    return failures
