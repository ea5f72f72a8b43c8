"""Rounds: list, create, open, close, tally, publish; live turnout while open; after the tally
the coordinator's review of results and consequences before publishing."""

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateTimeLocalField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from ..domain.access import Permission as P
from ..extensions import db
from ..models import Region, Round
from ..services import access, admin_rounds, rounds
from . import bp, paginate

PER_PAGE = 20
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class ChinaTimeField(DateTimeLocalField):
    """A datetime-local input read as China time, with a Chinese message for a bad value."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("时间格式不正确，应如 2026-12-01 08:00") from None


class RoundForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired("请输入轮次名称"), Length(max=100, message="名称最多100字")],
                       description="如“2026年上半年”")
    region_id = SelectField("区域", coerce=int, validators=[InputRequired("请选择区域")])
    opens_at = ChinaTimeField("开始时间（北京时间）", format=TIME_FORMATS,
                                  validators=[InputRequired("请输入开始时间，格式如 2026-12-01 08:00")])
    closes_at = ChinaTimeField("结束时间（北京时间）", format=TIME_FORMATS,
                                   validators=[InputRequired("请输入结束时间，格式如 2026-12-31 18:00")])
    require_wechat = BooleanField("只接受微信内的评价（需已配置微信公众号）")


@bp.route("/rounds", endpoint="rounds")
@access.guard(P.ROUNDS_READ)
def rounds_list():
    query = select(Round).where(access.condition("round", access.scope())).order_by(Round.opens_at.desc(),
                                                                                     Round.id.desc())
    page = paginate(query, PER_PAGE)
    return render_template("admin/rounds/list.html", page=page, can_manage=access.can(P.ROUNDS_MANAGE))


@bp.route("/rounds/new", methods=["GET", "POST"])
@access.guard(P.ROUNDS_MANAGE)
def round_new():
    form = RoundForm()
    regions = admin_rounds.regions_in_scope(access.scope())
    form.region_id.choices = [(r.id, r.name) for r in regions]
    error = None
    if form.validate_on_submit():
        region = db.session.get(Region, form.region_id.data)
        if region is None or not any(r.id == region.id for r in regions):
            form.region_id.errors.append("不在您的管理范围内")
        else:
            try:
                round_ = rounds.create_round(form.name.data.strip(), region.code,
                                             admin_rounds.from_china(form.opens_at.data),
                                             admin_rounds.from_china(form.closes_at.data),
                                             form.require_wechat.data)
            except rounds.RoundError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                flash(f"已创建评价轮次“{round_.name}”（草稿）。到开始时间会自动开启，也可以手动开启。")
                return redirect(url_for("admin.round", round_id=round_.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/rounds/new.html", form=form, error=error), status


@bp.route("/rounds/<int:round_id>", endpoint="round")
@access.guard(P.ROUNDS_READ, "round", "round_id")
def round_detail(round_id: int):
    round_ = g.obj
    review = None
    if round_.status in admin_rounds.REVIEWABLE and access.can(P.RESULTS_READ):
        review = admin_rounds.review(round_)
    return render_template(
        "admin/rounds/detail.html", round=round_, review=review,
        turnout=admin_rounds.turnout(round_) if round_.status in ("open", "closed") else None,
        tally=admin_rounds.tally_job(round_.id) if round_.status in ("closed", "tallied") else None,
        can_manage=access.can(P.ROUNDS_MANAGE), can_consequences=access.can(P.CONSEQUENCES_READ),
    )


def _back(round_id: int):
    return redirect(url_for("admin.round", round_id=round_id))


def _refused(round_id: int, exc: Exception):
    db.session.rollback()
    flash(str(exc), "error")
    return _back(round_id)


@bp.route("/rounds/<int:round_id>/open", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_open(round_id: int):
    try:
        rounds.open_round(round_id)
    except rounds.RoundError as exc:
        return _refused(round_id, exc)
    flash("评价轮次已开启，各科室名单已冻结。")
    return _back(round_id)


@bp.route("/rounds/<int:round_id>/close", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_close(round_id: int):
    try:
        admin_rounds.close(round_id)
    except rounds.RoundError as exc:
        return _refused(round_id, exc)
    db.session.commit()
    flash("评价轮次已结束，不再接受评价。请点击“统计结果”。")
    return _back(round_id)


@bp.route("/rounds/<int:round_id>/tally", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_tally(round_id: int):
    try:
        admin_rounds.request_tally(g.obj)
    except rounds.RoundError as exc:
        return _refused(round_id, exc)
    db.session.commit()
    flash("已提交统计任务，统计在后台进行，完成后刷新本页即可审核结果。")
    return _back(round_id)


@bp.route("/rounds/<int:round_id>/publish", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_publish(round_id: int):
    try:
        _round, jobs = admin_rounds.publish(round_id, current_app.config["WEBHOOK_RETRY_INTERVALS"])
    except rounds.RoundError as exc:
        return _refused(round_id, exc)
    flash(f"结果已发布，公众可在结果页查看；已提交{len(jobs)}个推送任务。")
    return _back(round_id)
