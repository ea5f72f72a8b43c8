"""Results: the rounds whose results one may read, a department's view (with its comments
under the k rule, architecture A3), and the Excel files: the circular, ballots per office and
the consequences with their review."""

import io

from flask import abort, g, render_template, send_file
from sqlalchemy import select

from ..domain.access import Permission as P
from ..domain.review import Decision
from ..extensions import db
from ..models import Round
from ..services import access, admin_rounds, dashboard, results, sheets
from ..services.circular import export_circular
from ..services.circular import file_name as circular_file_name
from ..services.rounds import RoundError
from . import bp, paginate

PER_PAGE = 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/results", endpoint="results")
@access.guard(P.RESULTS_READ)
def results_list():
    scope = access.scope()
    query = (select(Round).where(admin_rounds.result_rounds_condition(scope))
             .order_by(Round.closes_at.desc(), Round.id.desc()))
    page = paginate(query, PER_PAGE)
    return render_template("admin/rounds/results.html", page=page, department=g.user.department
                           if admin_rounds.department_filter(scope) else None)


@bp.route("/rounds/<int:round_id>/departments/<int:department_id>/results")
@access.guard(P.RESULTS_READ, "department", "department_id")
def results_department(round_id: int, department_id: int):
    department = g.obj
    round_ = db.session.get(Round, round_id)
    # The round must be one of the department's region (which the user's scope then covers).
    if round_ is None or round_.region_id != department.region_id:
        abort(404)
    visible = admin_rounds.results_visible(round_, access.scope())
    audience = results.audience_of(g.user.role_enum)
    review = admin_rounds.review(round_, department.id) if visible else None
    block = review.departments[0] if review and review.departments else None
    if block:
        hidden = results.hidden_results(round_, audience, department.id)
        results.ordered([block.line], hidden)
        if hidden:
            block.line.rank = None if block.line.hidden else results.department_rank(round_, department.id, hidden)
        block.offices, block.people = results.ordered(block.offices, hidden), results.ordered(block.people, hidden)
    comments = results.department_comments(round_, department.id, audience) if visible else []
    serious = results.serious_reports(round_, department.id, audience) if visible else None
    return render_template(
        "admin/rounds/department.html", round=round_, department=department, review=review, block=block,
        comments=comments, serious=serious, k=results.k_of(round_), tag_labels=admin_rounds.tag_labels(round_),
        can_consequences=access.can(P.CONSEQUENCES_READ),
    )


@bp.route("/rounds/<int:round_id>/circular.xlsx")
@access.guard(P.CONSEQUENCES_READ, "round", "round_id")
def circular(round_id: int):
    buffer = io.BytesIO()
    try:
        export_circular(round_id, buffer)
    except RoundError as exc:
        return render_template("admin/message.html", title="无法导出通报", message=str(exc)), 409
    db.session.commit()
    buffer.seek(0)
    return _xlsx(buffer, circular_file_name(round_id))


def _xlsx(buffer, name: str):
    return send_file(buffer, mimetype=XLSX, as_attachment=True, download_name=name)


@bp.route("/rounds/<int:round_id>/turnout.xlsx")
@access.guard(P.TURNOUT_READ, "round", "round_id")
def turnout_export(round_id: int):
    """The dashboard's ballots per office, with department subtotals."""
    round_ = g.obj
    if not admin_rounds.results_visible(round_, access.scope()):
        return render_template("admin/message.html", title="暂无各科室票数",
                               message="各科室票数在统计后给出（评价期间选票密封）。"), 409
    counted = dashboard.office_turnout(round_, access.scope(), "name")
    rows = []
    for dept in counted.departments:
        empty = f"{dept.empty_offices}个科室0票" if dept.empty_offices else ""
        rows.append([dept.name, "（小计）", dept.ballots, empty])
        rows += [[dept.name, o.name, o.ballots, "0票" if o.none else ("样本不足" if o.low_sample else "")]
                 for o in dept.offices]
    rows.append(["合计", "", counted.ballots, ""])
    buffer = sheets.one_sheet("参评情况", f"{round_.name} · 各科室参评情况", ["部门", "科室", "评价票", "提示"],
                              [30, 24, 10, 20], rows)
    return _xlsx(buffer, f"参评情况-{sheets.safe_name(round_.name)}.xlsx")


@bp.route("/rounds/<int:round_id>/consequences.xlsx")
@access.guard(P.CONSEQUENCES_READ, "round", "round_id")
def consequences_export(round_id: int):
    """Every consequence with its review: what the coordinator decided, why and who."""
    round_ = g.obj
    if round_.status not in admin_rounds.REVIEWABLE:
        return render_template("admin/message.html", title="尚无结果运用", message="统计后才有结果运用。"), 409
    rows = [[line.label, line.subject, "、".join(line.people), line.record.deduction_each or "",
             "、".join(line.record.actions), "是" if line.record.low_sample else "",
             Decision(line.record.decision).label, line.record.reason or "", line.record.decided_by or ""]
            for line in admin_rounds.consequences(round_id)]
    buffer = sheets.one_sheet("结果运用", f"{round_.name} · 结果运用及审核", [
        "类型", "对象", "涉及人员", "扣分", "建议措施", "样本不足", "审核", "审核意见", "审核人"],
        [26, 28, 36, 8, 26, 10, 10, 30, 12], rows)
    return _xlsx(buffer, f"结果运用-{sheets.safe_name(round_.name)}.xlsx")
