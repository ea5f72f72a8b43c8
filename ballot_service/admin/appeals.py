"""Appeals (申诉): a department admin files one against a published result of their department;
the coordinator reads it with its attachments and decides with a written reason. An upheld
appeal re-tallies the round at once (services.appeals)."""

import io

from flask import abort, flash, g, redirect, render_template, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired

from ..domain.access import Permission as P
from ..domain.access import Place
from ..extensions import db
from ..models import AppealAttachment, Round
from ..services import access, appeals, results
from ..services.appeals import AppealError, Attachment
from ..services.rounds import RoundError, utcnow
from . import bp


def _id(value) -> int:
    """A choice's id, or 0 (no such choice) for anything that is not one: the service then says why."""
    value = str(value)
    return int(value) if value.isascii() and value.isdecimal() and len(value) <= 10 else 0


class AppealForm(FlaskForm):
    kind = RadioField("申诉事项", choices=list(appeals.KIND_LABELS.items()), default="person",
                      validators=[InputRequired("请选择申诉事项")])
    person_id = SelectField("人员（排除该人员的评价时选择）", coerce=_id, validate_choice=False)
    office_id = SelectField("科室（排除该科室的选票时选择）", coerce=_id, validate_choice=False)
    reasons = TextAreaField("申诉理由", description=f"写明事实和依据，{appeals.REASONS_MIN}至{appeals.REASONS_MAX}字，"
                            "如“该同志本轮评价期间外出培训，未在窗口值守”“该科室评价在20分钟内集中出现且全部满意”")
    attachments = MultipleFileField("附件（可选）", description=f"最多{appeals.MAX_ATTACHMENTS}个，每个不超过"
                                    f"{appeals.MAX_ATTACHMENT_BYTES // 1024 // 1024} MB：PDF、JPG、PNG、Word、Excel")


class DecisionForm(FlaskForm):
    decision = RadioField("复核结论", choices=[("upheld", "申诉成立（排除后重新统计）"), ("rejected", "申诉不成立")],
                          validators=[InputRequired("请选择复核结论")])
    reason = TextAreaField("复核意见", description="写明采纳或不采纳的理由；将随结果公开")


@bp.route("/appeals")
@access.guard(P.APPEAL_FILE)
def appeals_list():
    listed = [a for a in appeals.appeals(department_id=access.scope().department_id)
              if access.covers(Place(a.round.region_id, a.department_id))]
    rounds = [r for r in results.published_rounds() if access.covers(Place(r.region_id))]
    return render_template("admin/appeals/list.html", appeals=listed,
                           rounds=rounds, department=g.user.department, now=utcnow(),
                           deadline=appeals.appeal_deadline, names=appeals.subject_name,
                           statuses=appeals.STATUS_LABELS, can_decide=access.can(P.APPEAL_DECIDE))


@bp.route("/rounds/<int:round_id>/appeals/new", methods=["GET", "POST"])
@access.guard(P.APPEAL_FILE, "round", "round_id")
def appeal_new(round_id: int):
    round_: Round = g.obj
    department = g.user.department
    if department is None or round_.published_at is None:
        flash("只有部门管理员可以代表本部门提出申诉。" if department is None else "只能对已发布的评价结果提出申诉。")
        return redirect(url_for("admin.appeals_list"))
    people, offices = appeals.subjects_open_to(round_, department.id)
    form = AppealForm()
    form.person_id.choices = [(0, "——")] + [(p.id, f"{p.name}（{p.post or '工作人员'}）") for p in people]
    form.office_id.choices = [(0, "——")] + [(o.id, o.name) for o in offices]
    if form.validate_on_submit():
        subject_id = form.person_id.data if form.kind.data == "person" else form.office_id.data
        files = [Attachment(f.filename or "附件", f.read()) for f in form.attachments.data or [] if f and f.filename]
        try:
            appeal = appeals.file_appeal(round_.id, department.id, form.kind.data, subject_id or 0,
                                         form.reasons.data or "", files)
        except AppealError as refused:
            db.session.rollback()
            form.reasons.errors = [*form.reasons.errors, str(refused)]
        else:
            db.session.commit()
            flash("申诉已提交，等待牵头部门复核。")
            return redirect(url_for("admin.appeal_detail", appeal_id=appeal.id))
    return render_template("admin/appeals/new.html", form=form, round=round_, department=department,
                           deadline=appeals.appeal_deadline(round_),
                           open_now=utcnow() <= appeals.appeal_deadline(round_)), 400 if form.is_submitted() else 200


@bp.route("/appeals/<int:appeal_id>")
@access.guard(P.APPEAL_FILE, "appeal", "appeal_id")
def appeal_detail(appeal_id: int):
    return _detail(g.obj, DecisionForm())


@bp.post("/appeals/<int:appeal_id>/decision")
@access.guard(P.APPEAL_DECIDE, "appeal", "appeal_id")
def appeal_decide(appeal_id: int):
    appeal, form = g.obj, DecisionForm()
    if form.validate_on_submit():
        try:
            appeals.decide_appeal(appeal.id, form.decision.data, form.reason.data or "")
        except RoundError as refused:  # an AppealError, or the re-tally's refusal
            db.session.rollback()
            if appeal.status == "pending":
                form.reason.errors = [*form.reason.errors, str(refused)]
            else:
                flash(str(refused))
        else:
            db.session.commit()
            pending = appeals.pending_consequences(appeal.round_id)
            flash("已复核：" + appeals.STATUS_LABELS[appeal.status]
                  + (f"，已按申诉结果重新统计（第{appeal.tally_version}版）" if appeal.status == "upheld" else "")
                  + (f"；重新统计新产生{pending}项结果运用，请在轮次页面审核" if pending else ""))
            return redirect(url_for("admin.appeal_detail", appeal_id=appeal.id))
    return _detail(appeal, form), 400


def _detail(appeal, form: DecisionForm):
    return render_template("admin/appeals/detail.html", appeal=appeal, form=form, name=appeals.subject_name(appeal),
                           statuses=appeals.STATUS_LABELS, kinds=appeals.KIND_LABELS,
                           can_decide=access.can(P.APPEAL_DECIDE) and appeal.status == "pending",
                           # every department's exclusions: for the coordinators only
                           versions=appeals.versions(appeal.round_id) if access.can(P.APPEAL_DECIDE) else [])


@bp.route("/appeals/<int:appeal_id>/attachments/<int:attachment_id>")
@access.guard(P.APPEAL_FILE, "appeal", "appeal_id")
def appeal_attachment(appeal_id: int, attachment_id: int):
    attachment = db.session.get(AppealAttachment, attachment_id)
    if attachment is None or attachment.appeal_id != appeal_id:
        abort(404)
    return send_file(io.BytesIO(attachment.data), mimetype=attachment.content_type, as_attachment=True,
                     download_name=attachment.filename)
