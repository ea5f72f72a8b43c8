"""Rounds: list, create, edit and cancel a draft, open, close, tally, publish; live turnout while
open; after the tally the coordinator's review (each consequence confirmed or struck) before
publishing. Each action is one services.rounds use case, committed here whole or not at all."""

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateTimeLocalField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from ..domain.access import Permission as P
from ..domain.review import Decision
from ..domain.round_states import UNTALLIED, RoundStatus
from ..extensions import db
from ..models import Region, Round
from ..services import access, admin_rounds, appeals, rounds, solicitation
from ..services.jobs import QueueUnavailable
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


def _form_regions(form: RoundForm) -> list[Region]:
    regions = admin_rounds.regions_in_scope(access.scope())
    form.region_id.choices = [(r.id, r.name) for r in regions]
    return regions


def _chosen_region(form: RoundForm, regions: list[Region]) -> Region | None:
    region = db.session.get(Region, form.region_id.data)
    if region is None or not any(r.id == region.id for r in regions):
        form.region_id.errors.append("不在您的管理范围内")
        return None
    return region


@bp.route("/rounds/new", methods=["GET", "POST"])
@access.guard(P.ROUNDS_MANAGE)
def round_new():
    form = RoundForm()
    regions = _form_regions(form)
    error = None
    if form.validate_on_submit() and (region := _chosen_region(form, regions)):
        try:
            round_ = rounds.create_round(form.name.data.strip(), region.code,
                                         admin_rounds.from_china(form.opens_at.data),
                                         admin_rounds.from_china(form.closes_at.data), form.require_wechat.data)
            db.session.commit()
        except rounds.RoundError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash(f"已创建评价轮次“{round_.name}”（草稿）。到开始时间会自动开启，也可以手动开启。")
            return redirect(url_for("admin.round", round_id=round_.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/rounds/new.html", form=form, error=error, round=None), status


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_edit(round_id: int):
    round_ = g.obj
    if request.method == "GET":
        form = RoundForm(data={"name": round_.name, "region_id": round_.region_id,
                               "require_wechat": round_.require_wechat,
                               **{k: rounds.to_china(getattr(round_, k)).replace(tzinfo=None)
                                  for k in ("opens_at", "closes_at")}})
    else:
        form = RoundForm()
    regions = _form_regions(form)
    error = None
    if round_.status != RoundStatus.DRAFT:
        flash("只有草稿状态的评价轮次可以修改", "error")
        return _back(round_id)
    if form.validate_on_submit() and (region := _chosen_region(form, regions)):
        try:
            rounds.edit_round(round_id, name=form.name.data.strip(), region_code=region.code,
                              opens_at=admin_rounds.from_china(form.opens_at.data),
                              closes_at=admin_rounds.from_china(form.closes_at.data),
                              require_wechat=form.require_wechat.data)
            db.session.commit()
        except rounds.RoundError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("已保存修改。")
            return _back(round_id)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/rounds/new.html", form=form, error=error, round=round_), status


@bp.route("/rounds/<int:round_id>", endpoint="round")
@access.guard(P.ROUNDS_READ, "round", "round_id")
def round_detail(round_id: int):
    round_ = g.obj
    review = None
    if round_.status in admin_rounds.REVIEWABLE and access.can(P.RESULTS_READ):
        review = admin_rounds.review(round_)
    return render_template(
        "admin/rounds/detail.html", round=round_, review=review, S=RoundStatus, Decision=Decision,
        turnout=admin_rounds.turnout(round_) if round_.status in UNTALLIED else None,
        tally=admin_rounds.tally_job(round_.id) if round_.status in (RoundStatus.CLOSED, RoundStatus.TALLIED) else None,
        can_manage=access.can(P.ROUNDS_MANAGE), can_consequences=access.can(P.CONSEQUENCES_READ),
        can_turnout=access.can(P.TURNOUT_READ), flags=solicitation.shown_flags(round_),
        versions=appeals.versions(round_.id), upheld=appeals.appeals(round_id=round_.id, status="upheld"),
        appeal_subject=appeals.subject_name,
    )


def _back(round_id: int):
    return redirect(url_for("admin.round", round_id=round_id))


def _act(round_id: int, action, done: str):
    """Run one round use case; commit it whole, or change nothing and say why."""
    try:
        outcome = action()
        db.session.commit()
    except (rounds.RoundError, QueueUnavailable) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(done(outcome) if callable(done) else done)
    return _back(round_id)


@bp.route("/rounds/<int:round_id>/open", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_open(round_id: int):
    return _act(round_id, lambda: rounds.open_round(round_id), "评价轮次已开启，即刻起接受评价，各科室名单已冻结。")


@bp.route("/rounds/<int:round_id>/cancel", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_cancel(round_id: int):
    return _act(round_id, lambda: rounds.cancel_round(round_id), "评价轮次已取消（记录保留）。")


@bp.route("/rounds/<int:round_id>/close", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_close(round_id: int):
    return _act(round_id, lambda: rounds.close_round(round_id),
                "评价轮次已结束，不再接受评价；统计已在后台开始，本页显示进度。")


@bp.route("/rounds/<int:round_id>/tally", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_tally(round_id: int):
    return _act(round_id, lambda: rounds.request_tally(round_id),
                "已提交统计任务，统计在后台进行，本页显示进度；重新统计后须重新审核结果运用。")


@bp.route("/rounds/<int:round_id>/publish", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def round_publish(round_id: int):
    return _act(round_id, lambda: rounds.publish_round(round_id),
                lambda outcome: f"结果已发布，公众可在结果页查看；已提交{len(outcome[1])}个推送任务。")


@bp.route("/rounds/<int:round_id>/consequences/<int:consequence_id>", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def consequence_decide(round_id: int, consequence_id: int):
    decision = request.form.get("decision", "")
    response = _act(round_id, lambda: admin_rounds.decide_consequence(
        round_id, consequence_id, decision, request.form.get("reason", ""),
        request.form.get("sample_acknowledged") == "1"),
        "已撤销该项结果运用，理由已记入操作日志。" if decision == Decision.STRUCK else "已确认该项结果运用。")
    response.location += f"#consequence-{consequence_id}"
    return response


@bp.route("/rounds/<int:round_id>/consequences/confirm", methods=["POST"])
@access.guard(P.ROUNDS_MANAGE, "round", "round_id")
def consequences_confirm(round_id: int):
    return _act(round_id, lambda: admin_rounds.confirm_remaining(round_id),
                lambda n: f"已确认其余{n}项结果运用（样本不足的各项须逐项确认）。")
