"""The Excel circular (通报) of a tallied round: rankings, a chart, people, consequences."""

from typing import IO

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.label import DataLabelList
from sqlalchemy import select

from ..domain import round_states
from ..domain.visibility import Audience
from ..extensions import db
from ..models import Department, Office, Person, Region, Result, Round
from . import admin_rounds, audit
from .results import grade_label, yellow_cards
from .rounds import RoundError
from .sheets import append, safe_name, sheet

COUNT_HEADERS = ["评价票（张）", "有效评价（人次）", "不了解（人次）"]


def _rank(r: Result) -> int | str:
    """The rank, or why there is none: below the minimum sample a subject is graded, not ranked."""
    return r.rank if r.rank is not None else ("样本较少" if r.low_sample else "")


def _change(result: Result) -> str:
    if result.steps is None:
        return "—"
    if result.steps == 0:
        return f"持平（{grade_label(result.previous_grade)}）"
    arrow = "↑" if result.steps > 0 else "↓"
    return f"{arrow}{abs(result.steps)}个等次（上轮{grade_label(result.previous_grade)}）"


def _score(result: Result):
    return float(result.score) if result.score is not None else None


def file_name(round_id: int) -> str:
    """通报-2026年下半年.xlsx: what a coordinator saves and mails on."""
    round_ = db.session.get(Round, round_id)
    return f"通报-{safe_name(round_.name)}.xlsx"


def export_circular(round_id: int, stream: IO[bytes]) -> None:
    """Write the round's circular; in an admin or API request, who downloaded it is noted in the
    audit trail (the caller commits)."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.status not in round_states.REVIEWABLE:
        raise RoundError("只有已统计的评价轮次可以导出通报")
    audit.note("results.export", f"round:{round_id}", {"format": "xlsx"})
    results = db.session.scalars(select(Result).where(Result.round_id == round_id)).all()
    by_kind: dict[str, list[Result]] = {}
    for r in results:
        by_kind.setdefault(r.subject_kind, []).append(r)
    departments = {d.id: d for d in db.session.scalars(select(Department))}
    consequences = admin_rounds.consequences(round_id, confirmed_only=True)
    cards = yellow_cards(round_, Audience.COORDINATOR)  # the report cards' definition: department and offices

    def ranked(rows):
        return sorted(rows, key=lambda r: (r.score is None, r.rank is None, r.rank or 0, r.subject_id))

    workbook = Workbook()
    workbook.remove(workbook.active)
    # Ballots (one per voter and office) and ratings (one per person on a ballot) in their own columns.
    headers = ["排名", "名称", "得分", "等次", "较上轮变化", "黄牌", *COUNT_HEADERS]
    summary = sheet(workbook, "汇总", f"{round_.name}“三亮”评价结果通报", headers, [6, 34, 9, 9, 24, 6, 12, 16, 14])
    for r in by_kind.get("region", []):
        append(summary, ["", f"{db.session.get(Region, r.subject_id).name}（总体）", _score(r), grade_label(r.grade),
                        _change(r), "", r.ballots, r.scored, r.unknown])
    first_department_row = summary.max_row + 1
    department_results = ranked(by_kind.get("department", []))
    for r in department_results:
        append(summary, [_rank(r), departments[r.subject_id].name, _score(r), grade_label(r.grade), _change(r),
                        cards.get(r.subject_id, 0), r.ballots, r.scored, r.unknown])
    # Ranked first, unscored last: the chart takes the scored rows only, rank 1 on top.
    last_scored_row = first_department_row + sum(1 for r in department_results if r.score is not None) - 1
    if last_scored_row >= first_department_row:
        chart = BarChart()
        chart.type, chart.title, chart.y_axis.title = "bar", "部门得分", "得分"
        chart.add_data(Reference(summary, min_col=3, min_row=first_department_row, max_row=last_scored_row))
        chart.set_categories(Reference(summary, min_col=2, min_row=first_department_row, max_row=last_scored_row))
        chart.x_axis.scaling.orientation = "maxMin"  # categories top-down, as the table reads
        chart.x_axis.delete = chart.y_axis.delete = False
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        chart.dataLabels = DataLabelList()
        chart.dataLabels.showVal = True
        chart.legend = None
        chart.height, chart.width = max(7.5, 0.6 * (last_scored_row - first_department_row + 1)), 18
        summary.add_chart(chart, f"J{first_department_row}")

    levels = [(code, label) for code, label, _ in round_.config["levels"]]
    distribution = sheet(workbook, "等次分布", f"{round_.name} · 各部门评价分布（人次）",
                          ["排名", "部门", *[label for _, label in levels], "合计"], [6, 34, *[10] * len(levels), 10])
    for r in department_results:
        counts = [r.counts.get(code, 0) for code, _ in levels]
        append(distribution, [_rank(r), departments[r.subject_id].name, *counts, sum(counts)])

    offices = {o.id: o for o in db.session.scalars(select(Office))}
    people = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(
        [r.subject_id for r in by_kind.get("person", [])])))}
    for dept_result in ranked(by_kind.get("department", [])):
        dept = departments[dept_result.subject_id]
        ws = sheet(workbook, dept.name, f"{dept.name} · {round_.name}",
                    ["排名", "姓名 / 科室", "职务", "得分", "等次", "较上轮变化", *COUNT_HEADERS],
                    [6, 22, 20, 9, 9, 24, 12, 16, 14])
        for r in ranked(r for r in by_kind.get("office", []) if r.department_id == dept.id):
            append(ws, [_rank(r), offices[r.subject_id].name, "科室", _score(r), grade_label(r.grade), _change(r),
                       r.ballots, r.scored, r.unknown])
        for r in ranked(r for r in by_kind.get("person", []) if r.department_id == dept.id):
            person = people[r.subject_id]  # a person is rated on ballots, not sent any: no ballot count
            append(ws, [_rank(r), person.name, person.post, _score(r), grade_label(r.grade), _change(r), "", r.scored,
                       r.unknown])

    ws = sheet(workbook, "结果运用", f"{round_.name} · 结果运用", ["类型", "对象", "涉及人员", "扣分（每人/单位）",
                                                             "建议措施", "通报单位", "审核意见"],
                [26, 28, 40, 14, 28, 20, 30])
    for line in consequences:
        c = line.record
        append(ws, [line.label, line.subject, "、".join(line.people), c.deduction_each or "", "、".join(c.actions),
                   c.authority or "", c.reason or ""])
    workbook.save(stream)
