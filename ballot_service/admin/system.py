"""System pages: users (within the coordinator's scope), result webhooks with their delivery
log, and the audit log with its chain check."""

import datetime as dt
import json

from flask import flash, g, redirect, render_template, request, send_file, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, Optional

from ..domain.access import Permission as P
from ..domain.access import Place, UserRole
from ..extensions import db
from ..models import Round, User, WebhookDelivery, WebhookSubscriber
from ..services import access, admin_rounds, audit, audit_text, push, rounds, sheets
from ..services import users as accounts
from . import bp, paginate

PER_PAGE = 50


def _field_error(form: FlaskForm, name: str, message: str) -> None:
    field = getattr(form, name)
    field.errors = [*field.errors, message]


# --- users ---------------------------------------------------------------------------------

class UserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=50)])
    display_name = StringField("显示名称", validators=[Optional(), Length(max=50)])
    password = PasswordField("初始密码", validators=[DataRequired("请设置初始密码"), Length(max=200)],
                             description="至少10个字符，须同时包含字母和数字（或符号）")
    role = SelectField("角色", choices=[SelectChoice(r.value, r.label) for r in UserRole])
    region = StringField("区域编码", validators=[Optional(), Length(max=32)], description="协调员和审计员填写")
    department = StringField("部门编码", validators=[Optional(), Length(max=32)], description="部门管理员填写")
    offices = StringField("科室编码", validators=[Optional(), Length(max=500)],
                          description="大厅管理员填写，多个用逗号或空格分隔")


class UserEditForm(FlaskForm):
    display_name = StringField("显示名称", validators=[DataRequired("请输入显示名称"), Length(max=50)])
    active = BooleanField("账号有效（取消勾选即停用，停用后立即不能登录，API 令牌也失效）")
    password = PasswordField("重置密码", validators=[Optional(), Length(max=200)],
                             description="留空则不修改；至少10个字符，须同时包含字母和数字（或符号）")


@bp.route("/users")
@access.guard(P.USERS_MANAGE)
def users():
    query = select(User).where(access.condition("user", access.scope())).order_by(User.username)
    page = paginate(query, PER_PAGE)
    return render_template("admin/system/users.html", page=page, rows=page.items, scope_label=accounts.scope_label)


@bp.route("/users/new", methods=["GET", "POST"])
@access.guard(P.USERS_MANAGE)
def user_new():
    form = UserForm()
    if form.validate_on_submit():
        office_codes = (form.offices.data or "").replace("，", ",").replace(",", " ").split()
        try:
            user = accounts.build_user(form.username.data, form.display_name.data or "", form.password.data,
                                       form.role.data, region_code=(form.region.data or "").strip(),
                                       department_code=(form.department.data or "").strip(),
                                       office_codes=office_codes, within=access.scope())
        except accounts.UserError as error:
            db.session.rollback()
            _field_error(form, error.field or "username", str(error))
        else:
            db.session.commit()
            flash(f"用户“{user.username}”已创建。")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/system/user_new.html", form=form), 400 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@access.guard(P.USERS_MANAGE, "user", "user_id")
def user_edit(user_id: int):
    user = g.obj
    form = UserEditForm(obj=user if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            accounts.update_user(user, display_name=form.display_name.data, active=form.active.data,
                              password=form.password.data or None, acting=g.user)
        except accounts.UserError as error:
            db.session.rollback()
            _field_error(form, error.field or "display_name", str(error))
        else:
            db.session.commit()
            flash(f"用户“{user.username}”已保存。")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/system/user_edit.html", form=form, user=user,
                           scope_label=accounts.scope_label(user)), 400 if form.errors else 200


# --- webhooks ------------------------------------------------------------------------------

class WebhookForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired("请输入订阅方名称"), Length(max=100)])
    url = StringField("接收地址", validators=[
        DataRequired("请输入接收地址"), Length(max=500),
        URL(require_tld=False, message="请输入以 http:// 或 https:// 开头的完整地址")])
    secret = StringField("签名密钥", validators=[Optional(), Length(min=16, max=128)],
                         description="留空则自动生成；用于 HMAC-SHA256 签名，只显示一次")


def _webhooks_page(form: WebhookForm, new: WebhookSubscriber | None = None, secret: str | None = None,
                   status: int = 200):
    query = (select(WebhookSubscriber).where(access.condition("webhook", access.scope()))
             .order_by(WebhookSubscriber.id))
    page = paginate(query, PER_PAGE)
    return render_template("admin/system/webhooks.html", form=form, page=page, new=new, secret=secret,
                           can_manage=access.covers(Place(None))), status


@bp.route("/webhooks")
@access.guard(P.WEBHOOKS_MANAGE)
def webhooks():
    return _webhooks_page(WebhookForm())


@bp.route("/webhooks/new", methods=["POST"])
@access.guard(P.WEBHOOKS_MANAGE)
def webhook_new():
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            subscriber = push.add_subscriber(form.name.data.strip(), form.url.data.strip(),
                                             form.secret.data or None, within=access.scope())
        except ValueError as error:
            db.session.rollback()
            _field_error(form, "url", str(error))
        else:
            db.session.commit()
            # The secret is shown this once (the receiver needs it to check signatures).
            return _webhooks_page(WebhookForm(formdata=None), subscriber, subscriber.secret)
    return _webhooks_page(form, status=400)


@bp.route("/webhooks/<int:webhook_id>")
@access.guard(P.WEBHOOKS_MANAGE, "webhook", "webhook_id")
def webhook(webhook_id: int):
    query = (select(WebhookDelivery, Round).join(Round, Round.id == WebhookDelivery.round_id)
             .where(WebhookDelivery.subscriber_id == webhook_id).order_by(WebhookDelivery.round_id.desc()))
    deliveries = db.session.execute(query).all()
    return render_template("admin/system/webhook.html", hook=g.obj, deliveries=deliveries)


@bp.route("/webhooks/<int:webhook_id>/deactivate", methods=["POST"])
@access.guard(P.WEBHOOKS_MANAGE, "webhook", "webhook_id")
def webhook_deactivate(webhook_id: int):
    g.obj.active = False
    db.session.commit()
    flash(f"已停用推送“{g.obj.name}”：以后发布的结果不再推送给它。")
    return redirect(url_for("admin.webhook", webhook_id=webhook_id))


# --- audit log -----------------------------------------------------------------------------

@bp.route("/audit")
@access.guard(P.AUDIT_READ)
def audit_log():
    filters, days = _audit_filters()
    action, actor = filters.get("action", ""), filters.get("actor", "")
    error = filters.pop("error", None)
    page = paginate(audit.query(access.scope(), action, actor, **_china_days(days)), PER_PAGE)
    entries, problem = audit.verify()
    return render_template("admin/system/audit.html", page=page, action=action, actor=actor, entries=entries,
                           problem=problem, filters=filters, days=days, error=error,
                           sentences=audit_text.sentences(page.items), groups=audit_text.action_groups(),
                           summary_text=_summary_text, action_label=audit.action_label)


AUDIT_EXPORT_LIMIT = 10_000


@bp.route("/audit.xlsx")
@access.guard(P.AUDIT_READ)
def audit_export():
    """The log as filtered on the page (newest first, at most AUDIT_EXPORT_LIMIT entries)."""
    filters, days = _audit_filters()
    entries = db.session.scalars(audit.query(access.scope(), filters.get("action"), filters.get("actor"),
                                             **_china_days(days)).limit(AUDIT_EXPORT_LIMIT)).all()
    said = audit_text.sentences(entries)
    rows = [[e.seq, rounds.to_china(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.actor, said[e.seq], e.action, e.target]
            for e in entries]
    buffer = sheets.one_sheet("审计日志", "审计日志", ["序号", "时间（北京时间）", "操作人", "记录", "操作", "对象"],
                              [8, 20, 14, 80, 18, 18], rows)
    today = rounds.to_china(rounds.utcnow()).date()
    return send_file(buffer, as_attachment=True, download_name=f"审计日志-{today}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _audit_filters() -> tuple[dict[str, str], dict[str, dt.date]]:
    """The log's filters from the query string (a bad date: "error", for the page to say)."""
    filters = {"action": (request.args.get("action") or "").strip()[:40],
               "actor": (request.args.get("actor") or "").strip()[:60]}
    filters = {k: v for k, v in filters.items() if v}
    days = {}
    for name in ("since", "until"):
        value = (request.args.get(name) or "").strip()
        if value:
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                filters["error"] = f"日期“{value[:20]}”格式不正确，应如 2026-12-01"
                continue
            if 2000 <= day.year <= 2100:
                days[name] = day
            else:
                filters["error"] = "日期应在2000年至2100年之间"
    filters.update({k: v.isoformat() for k, v in days.items()})
    return filters, days


def _china_days(days: dict[str, dt.date]) -> dict[str, dt.datetime]:
    """From the start of `since` to the end of `until`, China days, as stored (naive UTC)."""
    starts = {"since": days.get("since"), "until": days["until"] + dt.timedelta(days=1) if "until" in days else None}
    return {k: admin_rounds.from_china(dt.datetime.combine(day, dt.time())) for k, day in starts.items() if day}


def _summary_text(summary) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)
