"""Appeals and re-tallies: a department appeals a published result, the coordinator upholds it,
the round is counted again without the excluded ratings, and the report card shows both results.
The numbers are worked by hand from tests/test_tally.first_round: people's ratings M 100 100 80 30,
L 80 100 100 60, H1 100 60 100, S1 30 60 (and one 不了解情况), H2 80 100."""

import datetime as dt
import io
import re
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from ballot_service.domain.tally import RULES_VERSION
from ballot_service.extensions import db
from ballot_service.models import Appeal, ConsequenceRecord, Department, Rectification, Result, Round, TallyRun
from ballot_service.services import appeals, rectification, rounds
from ballot_service.services.tally import tally_round
from tests.admin_helpers import form_token, make_user, sign_in
from tests.ballot_helpers import publish
from tests.test_results import set_k, text
from tests.test_tally import city, first_round  # noqa: F401  (fixture and round builder)


@pytest.fixture
def published(city):  # noqa: F811
    r = first_round(city)
    set_k(r, 1)  # every figure of these few ballots shown: the numbers are the point here
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    return r


def results(round_id: int) -> dict:
    return {(r.subject_kind, r.subject_id): r for r in db.session.scalars(select(Result).where(
        Result.round_id == round_id))}


def test_an_upheld_appeal_retallies_and_the_card_shows_both_results(app, client, city, published):  # noqa: F811
    r, c = published, city
    department = db.session.get(Department, c["A"])
    region = db.session.get(Round, r).region
    admin_a = make_user("department_admin", region=region, department=department)
    coordinator = make_user("coordinator", region=region)
    original = db.session.scalar(select(TallyRun).where(TallyRun.round_id == r))
    assert original.version == 1 and original.rules_version == RULES_VERSION
    assert db.session.get(Round, r).digest == original.digest

    sign_in(client, admin_a)
    page = f"/admin/rounds/{r}/appeals/new"
    too_short = client.post(page, data={"csrf_token": form_token(client, page), "kind": "person",
                                        "person_id": c["S1"], "office_id": 0, "reasons": "不在岗"})
    assert too_short.status_code == 400 and "申诉理由须为10至2000个字" in text(too_short)
    garbled = client.post(page, data={"csrf_token": form_token(client, page), "kind": "person", "person_id": "abc",
                                      "office_id": "", "reasons": "该同志本轮未在岗，评价不应计入统计。"})
    assert garbled.status_code == 400 and "申诉对象不在本部门本轮的评价名单中" in text(garbled)
    assert not appeals.appeals(round_id=r)
    filed = client.post(page, data={
        "csrf_token": form_token(client, page), "kind": "person", "person_id": c["S1"], "office_id": 0,
        "reasons": "该同志本轮评价期间脱产参加省里的业务培训，未在X科窗口值守，评价不应计入。",
        "attachments": [(io.BytesIO(b"%PDF-1.4 leave slip"), "培训通知.pdf")]}, content_type="multipart/form-data")
    assert filed.status_code == 302
    appeal = appeals.appeals(round_id=r)[0]
    assert appeal.status == "pending" and appeal.attachments[0].data == b"%PDF-1.4 leave slip"

    other = app.test_client()
    sign_in(other, make_user("department_admin", region=region, department=db.session.get(Department, c["B"])))
    assert other.get(f"/admin/appeals/{appeal.id}").status_code == 404  # another department's appeal

    sign_in(client, coordinator)
    detail = f"/admin/appeals/{appeal.id}"
    assert "培训通知.pdf" in text(client.get(detail))
    decide = detail + "/decision"
    refused = client.post(decide, data={"csrf_token": form_token(client, detail), "decision": "upheld", "reason": "同"})
    assert "复核意见须为4至1000个字" in text(refused)
    assert db.session.get(Appeal, appeal.id).status == "pending" and len(appeals.versions(r)) == 1
    decided = client.post(decide, data={"csrf_token": form_token(client, detail), "decision": "upheld",
                                        "reason": "经核实培训通知和考勤记录，该同志本轮未在岗，申诉成立。"})
    assert decided.status_code == 302
    db.session.expire_all()

    appeal = db.session.get(Appeal, appeal.id)
    assert (appeal.status, appeal.tally_version, appeal.removed_ratings) == ("upheld", 2, 3)  # S1: 30, 60, 不了解
    res = results(r)
    assert res["person", c["S1"]].score is None and res["person", c["S1"]].grade is None
    assert res["office", c["X"]].score == D("90.00")  # (810 − 30 − 60) / 8
    assert (res["department", c["A"]].score, res["department", c["A"]].grade) == (D("84.79"), "good")  # 339.17 / 4
    assert res["person", c["M"]].score == D("77.50")  # nobody else changes
    v1, v2 = appeals.versions(r)
    assert v1.digest == original.digest and v1.results == original.results  # the original is kept as it was
    assert [row[6] for row in v1.results if row[:2] == ["person", c["S1"]]] == ["45.00"]
    assert v2.exclusions == [["person", c["S1"], appeal.id]] and v2.removed_ratings == 3
    assert db.session.get(Round, r).digest == v2.digest != v1.digest
    assert db.session.get(Round, r).status == "published"
    # S1's 不合格 no longer stands: whatever followed from it is struck by the re-tally, with the reason.
    struck = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == r, ConsequenceRecord.subject_kind == "person",
        ConsequenceRecord.subject_id == c["S1"])).all()
    assert struck and all(x.decision == "struck" and "申诉复核后重新统计（第2版）" in x.reason for x in struck)

    card = text(client.get(f"/results/{r}/d/{department.code}"))
    assert "申诉复核" in card and "共排除评价3条，结果按第2版统计" in card
    assert re.search(r"本部门 76\.83分 · 合格 84\.79分 · 良好", card)
    assert re.search(r"45\.00分 · 不合格 已排除", card)
    assert "经核实培训通知和考勤记录" in card and "复核人：" + coordinator.username in card
    assert v2.digest in card

    round_page = text(client.get(f"/admin/rounds/{r}"))
    assert "现为第2版" in round_page and re.search(r"第2版 .* 2023\.1 " + appeals.subject_name(appeal) + " 3", round_page)

    # S1's 不合格 task (filed, returned, accepted in the browser test; here still open) is withdrawn.
    [task] = db.session.scalars(select(Rectification).where(Rectification.round_id == r)).all()
    assert (task.subject_id, task.status) == (c["S1"], "withdrawn") and "第2版" in task.review_note
    assert rectification.public_summary(r, c["A"]).total == 0

    again = client.post(decide, data={"csrf_token": form_token(client, detail), "decision": "rejected",
                                      "reason": "再次复核改为不成立"})
    assert "这项申诉已复核" in text(again) and len(appeals.versions(r)) == 2


def test_appeals_close_after_the_window_and_name_only_the_departments_own(city, published):  # noqa: F811
    r, c = published, city
    late = db.session.get(Round, r).published_at + dt.timedelta(days=5, seconds=1)
    with pytest.raises(appeals.AppealError, match="申诉期已过"):
        appeals.file_appeal(r, c["A"], "person", c["S1"], "该同志本轮未在岗，评价不应计入。", now=late)
    with pytest.raises(appeals.AppealError, match="不在本部门本轮的评价名单中"):
        appeals.file_appeal(r, c["A"], "person", c["P"], "该同志本轮未在岗，评价不应计入。")
    with pytest.raises(appeals.AppealError, match="格式不支持"):
        appeals.file_appeal(r, c["A"], "office", c["Y"], "该科室评价疑似集中刷票，请复核。",
                            [appeals.Attachment("x.exe", b"MZ")])
    assert not db.session.scalars(select(Appeal)).all()


def test_an_office_exclusion_removes_its_ballots(city, published):  # noqa: F811
    r, c = published, city
    appeal = appeals.file_appeal(r, c["A"], "office", c["Y"], "该科室评价在20分钟内集中出现，疑似组织刷票。")
    appeals.decide_appeal(appeal.id, "upheld", "核实为窗口人员现场组织评价，排除该科室选票。")
    db.session.commit()
    res = results(r)
    # Y's two ballots gone: M 100 100 80 → 93.33; L 80 100 (and 不了解) → 90.00; H2 has none; H1 86.67, S1 45.00.
    assert res["person", c["M"]].score == D("93.33") and res["person", c["L"]].score == D("90.00")
    assert res["person", c["H2"]].score is None and res["office", c["Y"]].ballots == 0
    assert res["department", c["A"]].score == D("78.75")  # (93.33 + 90.00 + 86.67 + 45.00) / 4
    assert appeal.removed_ratings == 6  # M 30 and 不了解, L 100 and 60, H2 80 and 100



def test_a_round_tallied_before_versions_keeps_its_results_as_version_1(city, published):  # noqa: F811
    r, c = published, city
    digest = db.session.get(Round, r).digest
    db.session.execute(TallyRun.__table__.delete())  # as a round tallied before 0012 has none
    db.session.commit()
    appeal = appeals.file_appeal(r, c["A"], "person", c["S1"], "该同志本轮未在岗，评价不应计入统计。")
    appeals.decide_appeal(appeal.id, "upheld", "经核实未在岗，申诉成立。")
    db.session.commit()
    v1, v2 = appeals.versions(r)
    assert v1.digest == digest and v2.version == 2 and db.session.get(Round, r).digest == v2.digest


def test_later_rules_never_rewrite_a_published_round(city, published):  # noqa: F811
    r, c = published, city
    db.session.execute(TallyRun.__table__.update().values(rules_version="2022.1"))  # counted under older rules
    db.session.commit()
    before = {k: (v.score, v.grade) for k, v in results(r).items()}
    appeal = appeals.file_appeal(r, c["A"], "person", c["S1"], "该同志本轮未在岗，评价不应计入统计。")
    db.session.commit()
    with pytest.raises(rounds.RoundError, match="不能按新规则重新统计"):
        appeals.decide_appeal(appeal.id, "upheld", "经核实未在岗，申诉成立。")
    db.session.rollback()
    assert db.session.get(Appeal, appeal.id).status == "pending"
    assert {k: (v.score, v.grade) for k, v in results(r).items()} == before and len(appeals.versions(r)) == 1


def test_the_api_files_and_decides_an_appeal(client, city, published):  # noqa: F811
    import base64

    from tests.admin_helpers import api_token

    r, c = published, city
    region = db.session.get(Round, r).region
    admin_a = api_token(make_user("department_admin", region=region, department=db.session.get(Department, c["A"])))
    coordinator = api_token(make_user("coordinator", region=region))
    body = {"round_id": r, "kind": "office", "subject_id": c["Y"], "reasons": "该科室评价在20分钟内集中出现，疑似组织刷票。",
            "attachments": [{"filename": "说明.pdf", "content_base64": base64.b64encode(b"%PDF-1.4").decode()}]}
    filed = client.post("/api/v1/appeals", json=body, headers={"Authorization": f"Bearer {admin_a}"})
    assert filed.status_code == 201, filed.get_json()
    appeal = filed.get_json()
    assert appeal["status"] == "pending" and appeal["attachments"] == ["说明.pdf"] and appeal["subject_name"] == "Y科"
    twice = client.post("/api/v1/appeals", json=body, headers={"Authorization": f"Bearer {admin_a}"})
    assert twice.status_code == 409 and "不能重复提出" in twice.get_json()["message"]
    assert client.post("/api/v1/appeals", json=body, headers={"Authorization": f"Bearer {coordinator}"}).status_code == 403
    path = f"/api/v1/appeals/{appeal['id']}/decision"
    assert client.post(path, json={"decision": "upheld", "reason": "同意了"},
                       headers={"Authorization": f"Bearer {admin_a}"}).status_code == 403
    decided = client.post(path, json={"decision": "upheld", "reason": "核实为现场组织评价，排除该科室选票。"},
                          headers={"Authorization": f"Bearer {coordinator}"})
    assert decided.status_code == 200 and decided.get_json()["tally_version"] == 2
    assert decided.get_json()["removed_ratings"] == 6


def test_a_consequence_a_retally_brings_is_reviewed_on_the_published_round(client, city, published):  # noqa: F811
    """Excluding X's ballots leaves M with Y's 30 alone (30.00 不合格) and department A at
    (30.00 + 80.00 + 90.00) / 3 = 66.67 一般: a review reference for M and a yellow card for the
    department, new on a published round, wait for the review; confirmed, the card deducts
    10 from the department and from each of its four people on the card: 50 in the ledger."""
    from ballot_service.models import LedgerEntry
    from ballot_service.services import admin_rounds

    r, c = published, city
    appeal = appeals.file_appeal(r, c["A"], "office", c["X"], "该科室评价疑似集中刷票，请复核。")
    appeals.decide_appeal(appeal.id, "upheld", "核实为现场组织评价，排除该科室选票。")
    db.session.commit()
    pending = db.session.scalars(select(ConsequenceRecord).where(ConsequenceRecord.round_id == r,
                                                                 ConsequenceRecord.decision == "pending")).all()
    assert sorted((x.kind, x.subject_kind, x.subject_id, x.people) for x in pending) == [
        ("review_reference", "person", c["M"], [c["M"]]),
        ("yellow_card", "department", c["A"], sorted([c["L"], c["H1"], c["S1"], c["H2"]]))]
    assert appeals.pending_consequences(r) == 2

    def ledger() -> int:
        return -sum(e.points for e in db.session.scalars(select(LedgerEntry).where(LedgerEntry.round_id == r)))

    assert ledger() == 0
    for record in pending:
        admin_rounds.decide_consequence(r, record.id, "confirmed", "", sample_acknowledged=True)
    db.session.commit()
    assert ledger() == 50 and appeals.pending_consequences(r) == 0
    with pytest.raises(rounds.RoundError, match="已审核的结果运用不能再改"):
        admin_rounds.decide_consequence(r, pending[0].id, "struck", "改为撤销该项")


def test_an_exclusion_that_would_show_a_hidden_score_is_refused(city):  # noqa: F811
    """k = 3: S1 has 2 scored ratings and is hidden. Excluding S1 would publish the department's mean
    of five people beside its mean of four: 5 × 76.83 − 4 × 84.79 = 44.99, S1's hidden 45.00. So
    would excluding Y (2 ballots, hidden), or X, on whose ballot S1 is."""
    r = first_round(city)
    set_k(r, 3)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    c = city
    for kind, subject in (("person", c["S1"]), ("office", c["Y"]), ("office", c["X"])):
        with pytest.raises(appeals.AppealError, match="不能以排除评价的方式处理"):
            appeals.file_appeal(r, c["A"], kind, subject, "该对象本轮的评价不应计入统计。")
    assert not appeals.appeals(round_id=r)


def test_a_second_retally_keeps_one_of_each_pending_consequence(city, published):  # noqa: F811
    r, c = published, city
    first = appeals.file_appeal(r, c["A"], "office", c["X"], "该科室评价疑似集中刷票，请复核。")
    appeals.decide_appeal(first.id, "upheld", "核实为现场组织评价，排除该科室选票。")
    second = appeals.file_appeal(r, c["B"], "person", c["P"], "该同志本轮未在岗，评价不应计入统计。")
    appeals.decide_appeal(second.id, "upheld", "经核实未在岗，申诉成立。")
    db.session.commit()
    pending = db.session.scalars(select(ConsequenceRecord).where(ConsequenceRecord.round_id == r,
                                                                 ConsequenceRecord.decision == "pending")).all()
    # Still M's review reference and A's yellow card, once each (P's own, if any, struck by the re-tally).
    assert sorted((x.kind, x.subject_kind, x.subject_id) for x in pending) == [
        ("review_reference", "person", c["M"]), ("yellow_card", "department", c["A"])]
    assert [v.version for v in appeals.versions(r)] == [1, 2, 3]
    assert (second.tally_version, second.removed_ratings) == (3, 2)  # P's two 满意


def test_a_round_tallied_before_versions_is_published_and_verified(app, city):  # noqa: F811
    r = first_round(city)
    set_k(r, 1)
    rounds.close_round(r)
    tally_round(r)
    db.session.execute(TallyRun.__table__.delete())  # as a round tallied before 0012
    db.session.commit()
    publish(r)
    result = app.test_cli_runner().invoke(args=["verify", str(r)])
    assert result.exit_code == 0, result.output
    assert "发布时未记录摘要" in result.output and "统计规则 2023.1" in result.output
