"""The same round through the JSON API: create, open, vote (public path), turnout, close,
tally (burst worker), results, consequences, comments, publish, circular; scope and errors;
posters. The ballots and the numbers are those of tests/test_admin_rounds.py (worked by hand there)."""

import datetime as dt

from openpyxl import load_workbook
from sqlalchemy import select

from ballot_service.extensions import db
from ballot_service.models import AuditEntry, Person, Round
from ballot_service.services import jobs, rounds
from tests.ballot_helpers import publish

from .admin_helpers import api_token
from .test_admin_rounds import cast_all, city, make_user, run_worker, tallied_round  # noqa: F401


def auth(user) -> dict:
    return {"Authorization": f"Bearer {api_token(user)}"}


def iso_china(moment: dt.datetime) -> str:
    return rounds.to_china(moment).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_round_through_the_api(app, city):  # noqa: F811
    c = city
    client = app.test_client()
    h = auth(make_user("coordinator", region=c["heze"], username="api-shi"))
    now = rounds.utcnow().replace(microsecond=0)
    body = {"name": "2026年上半年", "region_id": c["heze"].id, "opens_at": iso_china(now - dt.timedelta(hours=1)),
            "closes_at": iso_china(now + dt.timedelta(days=30))}
    created = client.post("/api/v1/rounds", json=body, headers=h)
    assert created.status_code == 201, created.json
    round_id = created.json["id"]
    # Sent in China time (no zone), answered in UTC.
    opens = dt.datetime.fromisoformat(created.json["opens_at"])
    assert opens == (now - dt.timedelta(hours=1)).replace(tzinfo=dt.UTC)
    assert created.json["status"] == "draft" and created.json["region_name"] == "菏泽市"

    listing = client.get("/api/v1/rounds", headers=h)
    assert [r["id"] for r in listing.json] == [round_id] and "X-Pagination" in listing.headers

    # A draft changes; an open round does not.
    edited = client.patch(f"/api/v1/rounds/{round_id}", json={"name": "2026年上半年（修订）"}, headers=h)
    assert edited.status_code == 200 and edited.json["name"] == "2026年上半年（修订）"
    assert client.patch(f"/api/v1/rounds/{round_id}", json={}, headers=h).status_code == 422
    backwards = client.patch(f"/api/v1/rounds/{round_id}", json={"closes_at": iso_china(now - dt.timedelta(days=2))},
                             headers=h)
    assert backwards.status_code == 409 and backwards.json["message"] == "结束时间必须晚于开始时间"

    assert client.post(f"/api/v1/rounds/{round_id}/open", headers=h).json["status"] == "open"
    late = client.patch(f"/api/v1/rounds/{round_id}", json={"name": "改名"}, headers=h)
    assert late.status_code == 409 and late.json["message"] == "只有草稿状态的评价轮次可以修改"
    cancel = client.post(f"/api/v1/rounds/{round_id}/cancel", headers=h)
    assert cancel.status_code == 409 and "已开启的轮次不能删除或取消" in cancel.json["message"]
    cast_all(app, c)
    turnout = client.get(f"/api/v1/rounds/{round_id}/turnout", headers=h).json
    assert turnout == {"round_id": round_id, "total": 7}  # sealed ballots show no office

    early = client.post(f"/api/v1/rounds/{round_id}/publish", headers=h)
    assert early.status_code == 409 and early.json["message"] == "只有已统计的评价轮次可以发布"
    assert client.post(f"/api/v1/rounds/{round_id}/tally", headers=h).status_code == 409  # still open

    assert client.post(f"/api/v1/rounds/{round_id}/close", headers=h).json["status"] == "closed"
    assert client.get(f"/api/v1/rounds/{round_id}/tally", headers=h).json == {
        "state": "queued", "label": "排队等待统计", "percent": 0}  # closing queued it
    tally = client.post(f"/api/v1/rounds/{round_id}/tally", headers=h)
    assert tally.status_code == 202 and tally.json["job_id"] == f"tally-{round_id}"
    run_worker()
    assert client.get(f"/api/v1/rounds/{round_id}/tally", headers=h).json == {
        "state": "finished", "label": "统计完成", "percent": 100}
    assert client.get(f"/api/v1/rounds/{round_id}", headers=h).json["status"] == "tallied"

    departments = client.get(f"/api/v1/rounds/{round_id}/results?subject_kind=department", headers=h).json
    assert {(d["name"], d["score"], d["grade"], d["grade_label"]) for d in departments} == {
        ("市审批局", "80.07", "good", "良好"), ("市公安局", None, None, "无有效评价")}  # no ballots there
    people = client.get(f"/api/v1/rounds/{round_id}/results?subject_kind=person", headers=h).json
    assert {p["name"]: p["score"] for p in people} == {"王建国": "93.33", "李海燕": "92.00", "张丽娜": "88.00",
                                                      "刘文博": "82.00", "赵敏": "45.00", "孙强": None}
    assert next(p for p in people if p["name"] == "王建国")["counts"] == {
        "satisfied": 4, "fairly_satisfied": 2, "basically_satisfied": 0, "dissatisfied": 0, "unknown": 1}
    first = client.get(f"/api/v1/rounds/{round_id}/results?page=1&page_size=3", headers=h)
    # 6 people, 3 offices, 2 departments, the city
    assert len(first.json) == 3 and '"total": 12' in first.headers["X-Pagination"]
    assert client.get(f"/api/v1/rounds/{round_id}/results?subject_kind=team", headers=h).status_code == 422

    consequences = client.get(f"/api/v1/rounds/{round_id}/consequences", headers=h).json
    assert any(x["kind"] == "yellow_card" and x["subject_kind"] == "office" and x["subject_id"] == c["Y"].id
               for x in consequences)

    assert all(x["decision"] == "pending" for x in consequences)
    refused = client.post(f"/api/v1/rounds/{round_id}/publish", headers=h)
    assert refused.status_code == 409 and f"还有{len(consequences)}项结果运用未审核" in refused.json["message"]
    card = next(x for x in consequences if x["kind"] == "yellow_card" and x["subject_id"] == c["Y"].id)
    decide = f"/api/v1/rounds/{round_id}/consequences/{card['id']}"
    assert client.post(decide, json={"decision": "struck"}, headers=h).status_code == 409  # no reason
    assert client.post(decide, json={"decision": "maybe"}, headers=h).status_code == 422
    struck = client.post(decide, json={"decision": "struck", "reason": "经核实系窗口调整期间"}, headers=h).json
    assert (struck["decision"], struck["reason"], struck["decided_by"]) == ("struck", "经核实系窗口调整期间", "api-shi")
    for x in consequences:
        if x["id"] != card["id"]:
            answer = client.post(f"/api/v1/rounds/{round_id}/consequences/{x['id']}",
                                 json={"decision": "confirmed", "sample_acknowledged": x["low_sample"]}, headers=h)
            assert answer.status_code == 200, answer.json
    published = client.post(f"/api/v1/rounds/{round_id}/publish", headers=h)
    assert published.status_code == 200 and published.json["published_at"]
    again = client.post(decide, json={"decision": "confirmed"}, headers=h)
    assert again.status_code == 409 and again.json["message"] == "结果已发布，已审核的结果运用不能再改"

    circular = client.get(f"/api/v1/rounds/{round_id}/circular", headers=h)
    assert circular.status_code == 200
    path = app.config["MEDIA_ROOT"] + "-circular.xlsx"
    with open(path, "wb") as fh:
        fh.write(circular.data)
    assert "市审批局" in load_workbook(path).sheetnames

    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target == f"round:{round_id}")
                                 .order_by(AuditEntry.seq)).all()
    assert [e.action for e in entries][:1] == ["round.create"]
    assert [s for e in entries if e.action == "round.update" and (s := e.summary["after"].get("status"))] == [
        "open", "closed", "published"]
    assert [e.action for e in entries].count("round.tally") == 1
    assert {e.actor for e in entries} == {"api-shi"}


def test_bad_input_names_the_fields(app, city):  # noqa: F811
    c = city
    client = app.test_client()
    h = auth(make_user("coordinator", region=c["county"]))
    response = client.post("/api/v1/rounds", json={"name": "", "opens_at": "明天"}, headers=h)
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"name", "opens_at", "closes_at", "region_id"}
    now = rounds.utcnow()
    body = {"name": "x", "region_id": c["county"].id, "opens_at": iso_china(now),
            "closes_at": iso_china(now - dt.timedelta(days=1))}
    response = client.post("/api/v1/rounds", json=body, headers=h)
    assert response.status_code == 422 and response.json["errors"]["json"]["closes_at"] == ["结束时间必须晚于开始时间"]
    # A county coordinator may not create a round of the city.
    response = client.post("/api/v1/rounds", json={**body, "region_id": c["heze"].id,
                                                   "closes_at": iso_china(now + dt.timedelta(days=1))}, headers=h)
    assert response.status_code == 422 and response.json["errors"]["json"]["region_id"] == ["不在您的管理范围内"]
    far = client.post("/api/v1/rounds", json={**body, "opens_at": "0001-01-01T00:00:00"}, headers=h)
    assert far.status_code == 422 and far.json["errors"]["json"]["opens_at"] == ["时间应在2000年至2100年之间"]
    assert db.session.scalar(select(Round)) is None


def test_scopes_in_the_api(app, city):  # noqa: F811
    c = city
    round_id = tallied_round(app, c)
    client = app.test_client()
    county = auth(make_user("coordinator", region=c["county"]))
    assert client.get(f"/api/v1/rounds/{round_id}", headers=county).status_code == 404
    assert client.get(f"/api/v1/rounds/{round_id}/results", headers=county).status_code == 404
    assert client.post(f"/api/v1/rounds/{round_id}/publish", headers=county).status_code == 404
    assert client.get("/api/v1/rounds", headers=county).json == []

    dept = auth(make_user("department_admin", department=c["spj"]))
    assert client.get(f"/api/v1/rounds/{round_id}/results", headers=dept).status_code == 409  # not published
    publish(round_id)
    mine = client.get(f"/api/v1/rounds/{round_id}/results", headers=dept).json
    assert len(mine) == 8 and {r["department_id"] for r in mine} == {c["spj"].id}  # 5 people, 2 offices, 1
    # A department sees tag counts only pooled, through the comments (A3).
    assert all(r["tags"] == {} for r in mine)
    # k = 5: 社保窗口 has 2 ballots, and 企业登记窗口 (5) goes with it (the department minus one is the
    # other); 赵敏 has 2 scored ratings, and the first of the three people with 5 goes with them.
    hidden = {(r["subject_kind"], r["subject_id"]) for r in mine if r["sample_too_small"]}
    first_of_five = min(c[k] for k in "LHS")
    assert hidden == {("office", c["X"].id), ("office", c["Y"].id), ("person", c["P"]), ("person", first_of_five)}
    assert all(r["score"] is None and r["counts"] == {} and r["rank"] is None for r in mine if r["sample_too_small"])
    # The shown people have 5 scored ratings each, below min_sample (10): low sample, unranked (the
    # re-ranking of the shown among themselves is tests/test_results.py's ordered test).
    assert sorted((r["rank"], r["low_sample"], r["name"]) for r in mine
                  if r["subject_kind"] == "person" and not r["sample_too_small"]) == [
        (None, True, "刘文博"), (None, True, "张丽娜"), (None, True, "王建国")]
    coordinator = auth(make_user("coordinator", region=c["heze"]))
    everyone = client.get(f"/api/v1/rounds/{round_id}/results?subject_kind=office", headers=coordinator).json
    assert any(r["tags"] for r in everyone if r["name"] == "社保窗口")
    assert not any(r["sample_too_small"] for r in everyone)
    [pooled] = client.get(f"/api/v1/rounds/{round_id}/departments/{c['spj'].id}/comments", headers=dept).json
    # Pooled over the department's 7 ballots; 办事拖拉 sits on a 故意刁难 rating and is not shown.
    assert sorted(pooled.pop("notes")) == sorted(["等待时间长", "态度一般"])
    assert pooled == {"label": "市审批局", "office_id": None, "ballots": 7, "shown": True,
                      "tags": {"low_efficiency": 1, "poor_attitude": 1}}
    by_office = {x["label"]: x for x in client.get(
        f"/api/v1/rounds/{round_id}/departments/{c['spj'].id}/comments", headers=coordinator).json}
    assert by_office["企业登记窗口"]["tags"] == {"obstruction": 1, "low_efficiency": 1}
    serious = f"/api/v1/rounds/{round_id}/departments/{c['spj'].id}/serious"
    assert client.get(serious, headers=dept).status_code == 403
    assert client.get(serious, headers=coordinator).json == {
        "ballots": 7, "shown": True, "notes": ["办事拖拉"],
        "counts": [{"office": "企业登记窗口", "person": "刘文博", "post": db.session.get(Person, c["S"]).post,
                    "tags": {"obstruction": 1}}]}
    discipline = auth(make_user("discipline", region=c["heze"]))
    assert client.get(serious, headers=discipline).json == client.get(serious, headers=coordinator).json
    assert client.get(f"/api/v1/rounds/{round_id}/departments/{c['spj'].id}/comments",
                      headers=discipline).status_code == 403
    other = f"/api/v1/rounds/{round_id}/departments/{c['other'].id}/comments"
    assert client.get(other, headers=dept).status_code == 404
    assert client.get(f"/api/v1/rounds/{round_id}/consequences", headers=dept).status_code == 403
    assert client.get(f"/api/v1/rounds/{round_id}/circular", headers=dept).status_code == 403


def test_posters_through_the_api(app, city):  # noqa: F811
    c = city
    client = app.test_client()
    hall = auth(make_user("hall_manager", offices=[c["X"]]))
    refused = client.post("/api/v1/posters", json={"template": "counter_card", "scope": "office",
                                                   "office_id": c["Y"].id}, headers=hall)
    assert refused.status_code == 422 and refused.json["errors"]["json"]["office_id"] == ["不在您的管理范围内"]
    assert client.post("/api/v1/posters", json={"template": "counter_card", "scope": "all"},
                       headers=hall).status_code == 422
    assert client.post("/api/v1/posters", json={"template": "nope", "scope": "office", "office_id": c["X"].id},
                       headers=hall).json["errors"]["json"]["template"]
    assert jobs.queue().count == 0

    queued = client.post("/api/v1/posters", json={"template": "counter_card", "format": "zip", "scope": "office",
                                                  "office_id": c["X"].id}, headers=hall)
    assert queued.status_code == 202 and queued.json["percent"] == 0
    status_url = queued.json["status_url"]
    assert client.get(f"{status_url}/file", headers=hall).status_code == 409
    run_worker()
    status = client.get(status_url, headers=hall).json
    assert (status["state"], status["percent"], status["done"], status["total"]) == ("done", 100, 1, 1)
    download = client.get(status["download_url"], headers=hall)
    assert download.status_code == 200 and download.data[:2] == b"PK"

    other = auth(make_user("hall_manager", offices=[c["Y"]]))
    assert client.get(status_url, headers=other).status_code == 404
    county = auth(make_user("coordinator", region=c["county"]))
    assert client.get(status_url, headers=county).status_code == 404
    city_coordinator = auth(make_user("coordinator", region=c["heze"]))
    assert client.get(status_url, headers=city_coordinator).status_code == 200
