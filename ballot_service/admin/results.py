"""Results: the rounds whose results one may read, a department's view (with its comments
under the k rule, architecture A3) and the Excel circular."""

import io

from flask import abort, g, render_template, send_file
from sqlalchemy import select

from ..domain.access import Permission as P
from ..extensions import db
from ..models import Round
from ..services import access, admin_rounds, results
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
    return send_file(buffer, mimetype=XLSX, as_attachment=True, download_name=circular_file_name(round_id))
