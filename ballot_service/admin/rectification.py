"""Rectification tasks (整改): the list (coordinators: every task in scope, by round and status;
department admins: their department's), a task's page with its findings and deadline, the
department's measures and completion report, and the coordinator's acceptance or return.
Each action is one services.rectification use case, committed whole or not at all."""

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from ..domain import rectification as rules
from ..domain.access import Permission as P
from ..extensions import db
from ..models import Rectification
from ..services import access, rectification, results
from ..services.rectification import RectifyRefused
from . import bp, paginate

PER_PAGE = 50


class SubmitForm(FlaskForm):
    measures = TextAreaField("整改措施", validators=[
        DataRequired("请填写整改措施"), Length(max=rules.TEXT_MAX, message=f"整改措施不超过{rules.TEXT_MAX}字")],
        description="针对发现的问题采取了哪些措施（制度、培训、岗位调整等）")
    report = TextAreaField("整改完成情况", validators=[
        DataRequired("请填写整改完成情况"),
        Length(max=rules.TEXT_MAX, message=f"整改完成情况不超过{rules.TEXT_MAX}字")],
        description="措施落实到什么程度、取得了什么效果")


class ReviewForm(FlaskForm):
    note = TextAreaField("验收意见", validators=[Length(max=rules.NOTE_MAX, message=f"意见不超过{rules.NOTE_MAX}字")],
                         description=f"退回整改时必须填写理由（至少{rules.NOTE_MIN}个字）；验收通过时可不填")


def _filters() -> tuple[int | None, str | None, list[str]]:
    errors = []
    round_arg, status = request.args.get("round", ""), request.args.get("status", "")
    round_id = None
    if round_arg:
        if round_arg.isascii() and round_arg.isdecimal() and len(round_arg) < 10:
            round_id = int(round_arg)
        else:
            errors.append("轮次编号应为数字")
    if status and status not in rectification.STATUS_FILTERS:
        errors.append("没有这种状态，请从列表中选择")
        status = ""
    return round_id, status or None, errors


@bp.route("/rectifications", endpoint="rectifications")
@access.guard(P.RECTIFY_READ)
def rectification_list():
    scope = access.scope()
    round_id, status, errors = _filters()
    page = paginate(rectification.tasks_query(scope, round_id, status), PER_PAGE)
    return render_template("admin/rectification/list.html", page=page, tasks=rectification.views(page.items),
                           rounds=rectification.rounds_with_tasks(scope), round_id=round_id, status=status or "",
                           statuses=rectification.STATUS_FILTERS, errors=errors,
                           department=g.user.department if access.can(P.RECTIFY_SUBMIT)
                           and not access.can(P.RECTIFY_REVIEW) else None), 400 if errors else 200


def _render(task: Rectification, submit_form: SubmitForm | None = None, review_form: ReviewForm | None = None,
            error: str | None = None, status: int = 200):
    reviewer = access.can(P.RECTIFY_REVIEW)
    if submit_form is None:
        submit_form = SubmitForm(formdata=None, data={"measures": task.measures or "", "report": task.report or ""})
    return render_template(
        "admin/rectification/detail.html", d=rectification.detail(task, results.audience_of(g.user.role_enum)),
        task=task, submit_form=submit_form, review_form=review_form or ReviewForm(formdata=None), error=error,
        can_submit=access.can(P.RECTIFY_SUBMIT) and not reviewer and task.status in ("open", "returned"),
        can_review=reviewer and task.status == "submitted", reviewer=reviewer), status


@bp.route("/rectifications/<int:task_id>", endpoint="rectification")
@access.guard(P.RECTIFY_READ, "rectification", "task_id")
def rectification_detail(task_id: int):
    return _render(g.obj)


def _act(task_id: int, action, done: str, **forms):
    """Run one use case; commit it whole, or change nothing and show the page again with why."""
    try:
        action()
        db.session.commit()
    except RectifyRefused as exc:
        db.session.rollback()
        return _render(db.session.get(Rectification, task_id), error=str(exc), status=409, **forms)
    flash(done)
    return redirect(url_for("admin.rectification", task_id=task_id))


@bp.route("/rectifications/<int:task_id>/submit", methods=["POST"])
@access.guard(P.RECTIFY_SUBMIT, "rectification", "task_id")
def rectification_submit(task_id: int):
    form = SubmitForm()
    if not form.validate_on_submit():
        return _render(g.obj, submit_form=form, error="请按提示修改后再提交。", status=400)
    return _act(task_id, lambda: rectification.submit(task_id, form.measures.data, form.report.data),
                "已提交整改情况，等待协调员验收。", submit_form=form)


def _review(task_id: int, action, done: str):
    form = ReviewForm()
    if not form.validate_on_submit():
        return _render(g.obj, review_form=form, error="请按提示修改后再提交。", status=400)
    return _act(task_id, lambda: action(task_id, form.note.data), done, review_form=form)


@bp.route("/rectifications/<int:task_id>/accept", methods=["POST"])
@access.guard(P.RECTIFY_REVIEW, "rectification", "task_id")
def rectification_accept(task_id: int):
    return _review(task_id, rectification.accept, "已验收通过。")


@bp.route("/rectifications/<int:task_id>/return", methods=["POST"])
@access.guard(P.RECTIFY_REVIEW, "rectification", "task_id")
def rectification_return(task_id: int):
    return _review(task_id, rectification.return_task, "已退回整改，部门可修改后重新提交。")
