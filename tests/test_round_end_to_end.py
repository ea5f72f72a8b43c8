"""A round run end to end from the CLI on the demo data: open, vote, close, tally in the
worker, publish, push, export — and the numbers match the ballots cast (worked by hand)."""

import re
from decimal import Decimal as D

from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.extensions import db, redis_ext
from ballot_service.models import AuditEntry, Office, Result, Round
from ballot_service.services import jobs
from tests.ballot_helpers import token_and_people
from tests.test_tally import city, first_round  # noqa: F401  (fixture and the hand-worked round)


def test_demo_round_from_open_to_circular(app, database, tmp_path):
    cli = app.test_cli_runner()
    assert "开启演示评价轮次" in cli.invoke(args=["seed-demo"]).output
    round_id = db.session.scalar(select(Round.id).where(Round.status == "open"))
    office = db.session.scalar(select(Office).where(Office.name == "企业登记窗口"))

    # Three voters: everyone 满意; everyone 比较满意; everyone 不满意 (a 不了解 for the first person).
    voters = [("satisfied", None), ("fairly_satisfied", None), ("dissatisfied", "unknown")]
    for level, first in voters:
        client = app.test_client()
        token, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
        form = {"token": token, **{f"r{p}": level for p in people}}
        if first:
            form[f"r{people[0]}"] = first
        assert "感谢您的评价" in client.post(f"/o/{office.code}/ballot", data=form).get_data(as_text=True)

    closed = cli.invoke(args=["rounds", "close", str(round_id)])
    assert "已提交统计任务 tally-" in closed.output, closed.output
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)
    db.session.expire_all()
    assert db.session.get(Round, round_id).status == "tallied"

    # The office: people[0] has 100, 80 (and one 不了解): 90.00; the others 100, 80, 30: 70.00.
    # Office score over its ballots: (100+80) + 3×(100+80+30) = 180 + 630 = 810 over 2 + 9 = 11 → 73.64.
    office_result = db.session.scalar(select(Result).where(Result.round_id == round_id,
                                                           Result.subject_kind == "office",
                                                           Result.subject_id == office.id))
    assert (office_result.score, office_result.grade, office_result.scored, office_result.unknown) == (
        D("73.64"), "pass", 11, 1)

    assert "已发布" in cli.invoke(args=["rounds", "publish", str(round_id)]).output
    page = app.test_client().get(f"/results/{round_id}/d/spj").get_data(as_text=True)
    assert "企业登记窗口" in re.sub(r"<[^>]+>", " ", page)

    out = tmp_path / "circular.xlsx"
    result = cli.invoke(args=["results", "export", str(round_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    summary = workbook["汇总"]
    assert summary["A1"].value.endswith("“三亮”评价结果通报")
    assert [c.value for c in summary[2]] == ["排名", "名称", "得分", "等次", "较上轮变化", "黄牌", "评价票（张）", "有效评价（人次）",
                                              "不了解（人次）"]
    assert summary.print_title_rows == "$1:$2" and summary.page_setup.orientation == "landscape"
    assert len(summary._charts) == 1
    assert "市行政审批服务局" in workbook.sheetnames and "结果运用" in workbook.sheetnames
    # Only the department with ballots was rated; it ranks first with the office's people's mean.
    rows = [[c.value for c in row] for row in summary.iter_rows(min_row=3)]
    assert rows[0][:2] == [None, "菏泽市（总体）"]
    assert rows[1][:2] == [1, "市行政审批服务局"]
    assert rows[1][6:] == [3, 11, 1]  # 3 ballots of 4 people: 12 ratings, 1 不了解 — ballots and ratings apart
    # The chart: rank 1 on top, values printed, only departments with a score (one here, row 4).
    chart = summary._charts[0]
    assert chart.x_axis.scaling.orientation == "maxMin" and chart.dataLabels.showVal
    assert chart.series[0].val.numRef.f == "'汇总'!$C$4"
    # The distribution per level: 4 people × (满意, 比较满意, 不满意) but one 不了解 for the first.
    distribution = workbook["等次分布"]
    assert [c.value for c in distribution[2]] == ["排名", "部门", "满意", "比较满意", "基本满意", "不满意", "不了解情况", "合计"]
    assert [c.value for c in distribution[3]] == [1, "市行政审批服务局", 4, 4, 0, 3, 1, 12]
    # People with 2–3 scored ratings (below the minimum of 10) are graded, not ranked, and say so.
    people_rows = [[c.value for c in row] for row in workbook["市行政审批服务局"].iter_rows(min_row=3)][1:]
    assert people_rows and all(row[0] == "样本较少" for row in people_rows)


def test_export_refuses_an_untallied_round_and_writes_nothing(app, database, tmp_path):
    cli = app.test_cli_runner()
    cli.invoke(args=["seed-demo"])
    round_id = db.session.scalar(select(Round.id))
    out = tmp_path / "x.xlsx"
    result = cli.invoke(args=["results", "export", str(round_id), "--out", str(out)])
    assert result.exit_code == 1 and "只有已统计的评价轮次可以导出通报" in result.output
    assert not out.exists()


def test_results_review_lists_departments_and_consequences(app, city):  # noqa: F811
    r = first_round(city)
    cli = app.test_cli_runner()
    assert "还没有统计结果" in cli.invoke(args=["results", "review", str(r)]).output
    cli.invoke(args=["rounds", "close", str(r)])
    assert "统计完成" in cli.invoke(args=["rounds", "tally", str(r), "--sync"]).output
    output = cli.invoke(args=["results", "review", str(r)]).output
    # 市甲局 (15 scored ratings) ranks first; 市乙局 (2, below min_sample 10) is unranked.
    assert re.search(r"1 市甲局\s+76\.83 合格", output) and re.search(r"— 市乙局\s+100\.00 优秀", output)
    assert "通报省乙厅" in output and "年度考核优先确定为优秀" in output
    # The review from the command line, in the audit trail as the command line's.
    [notice] = re.findall(r"\[(\d+)\] 待审核 通报上级主管部门", output)
    refused = cli.invoke(args=["rounds", "review", str(r), notice, "--strike"])
    assert refused.exit_code == 1 and "撤销须填写审核意见" in refused.output
    struck = cli.invoke(args=["rounds", "review", str(r), notice, "--strike", "--reason", "省乙厅已另行通报"])
    assert struck.exit_code == 0 and "已撤销" in struck.output
    assert "已确认" in cli.invoke(args=["rounds", "review", str(r), "--confirm-rest"]).output
    blocked = cli.invoke(args=["rounds", "publish", str(r)])
    assert blocked.exit_code == 1 and "项结果运用未审核" in blocked.output  # the low-sample ones wait
    for number in re.findall(r"\[(\d+)\] 待审核", cli.invoke(args=["results", "review", str(r)]).output):
        assert cli.invoke(args=["rounds", "review", str(r), number, "--confirm", "--low-sample-ok"]).exit_code == 0
    assert "已发布" in cli.invoke(args=["rounds", "publish", str(r)]).output
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "consequence.review",
                                                          AuditEntry.target == f"consequence:{notice}")).all()
    assert entry.actor == "cli" and entry.summary["reason"] == "省乙厅已另行通报"
    assert "round.update" in {e.action for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.target == f"round:{r}", AuditEntry.actor == "cli"))}  # the close and the publish too
