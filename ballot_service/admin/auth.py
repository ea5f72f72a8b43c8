"""Signing in and out, and one's own account: password and API tokens."""

from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..domain.access import Permission as P
from ..extensions import db, limiter
from ..services import access, audit, users
from . import bp


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=50)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码")])


class TokenForm(FlaskForm):
    name = StringField("令牌名称", validators=[DataRequired("请为令牌起一个名称"), Length(max=100)])


def _login_username() -> str:
    """Attempts per username from one address: guessing is slowed, yet nobody elsewhere can
    lock a coordinator out by failing on purpose (the per-address limit caps the rest)."""
    return f"login:{(request.form.get('username') or '').strip().lower()}:{request.remote_addr}"


def _safe_next(target: str | None) -> str:
    """Only paths of this site (no scheme, no host) are followed after signing in."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/admin"):
        return target
    return url_for("admin.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_USER"], key_func=_login_username)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            with audit.acting_as(user.id, user.username):
                audit.note("user.login", f"user:{user.id}", {})
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("用户名或密码不正确，或账号已停用")
    return render_template("admin/login.html", form=form), 200 if request.method == "GET" else 400


@bp.route("/logout", methods=["POST"])
@access.guard(P.OWN_ACCOUNT)
def logout():
    users.end_sessions(g.user)
    db.session.commit()
    logout_user()
    flash("您已退出登录。")
    return redirect(url_for("admin.login"))


def _account_page(form: PasswordForm, token_form: TokenForm, new_token: str | None = None, status: int = 200):
    tokens = users.tokens_of(g.user)
    return render_template("admin/account.html", form=form, token_form=token_form, tokens=tokens,
                           new_token=new_token), status


@bp.route("/account", methods=["GET", "POST"])
@access.guard(P.OWN_ACCOUNT)
def account():
    form = PasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            users.change_password(g.user, form.current.data, form.new.data)
        except users.UserError as error:
            getattr(form, error.field or "new").errors.append(str(error))
        else:
            db.session.commit()
            login_user(g.user)  # this session carries on; every other one has ended
            flash("密码已修改，其他已登录的会话均已失效。")
            return redirect(url_for("admin.account"))
    return _account_page(form, TokenForm(prefix="tk"), status=400 if form.errors else 200)


@bp.route("/account/tokens", methods=["POST"])
@access.guard(P.OWN_ACCOUNT)
def issue_token():
    token_form = TokenForm(prefix="tk")
    if not token_form.validate_on_submit():
        return _account_page(PasswordForm(prefix="pw"), token_form, status=400)
    _, token = users.issue_token(g.user, token_form.name.data)
    db.session.commit()
    # Shown this once; only its hash is kept.
    return _account_page(PasswordForm(prefix="pw"), TokenForm(prefix="tk"), new_token=token)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@access.guard(P.OWN_ACCOUNT, "token", "token_id")
def revoke_token(token_id: int):
    users.revoke_token(g.obj)
    db.session.commit()
    flash(f"令牌“{g.obj.name}”已吊销，立即失效。")
    return redirect(url_for("admin.account"))
