"""The admin area: server-rendered pages for coordinators, department admins, hall managers
and auditors. Every view is wrapped in `access.guard` (role and scope); every write made here
lands in the audit trail (services.audit)."""

from flask import Blueprint, abort, g, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..domain.access import Permission as P
from ..domain.round_states import STATUS_LABELS
from ..extensions import db
from ..request_checks import fields_with_nul
from ..services import access

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.add_app_template_filter(lambda status: STATUS_LABELS.get(status, status), "round_status")

# The navigation: (endpoint, label, permission). Links show only to users who may follow them.
NAV = [
    ("admin.home", "概览", P.OWN_ACCOUNT),
    ("admin.departments", "部门", P.ORGANISATION_MANAGE),
    ("admin.offices", "科室", P.ROSTER_READ),
    ("admin.people", "人员", P.ROSTER_MANAGE),
    ("admin.roster_import", "导入导出", P.ROSTER_MANAGE),
    ("admin.posters", "公示牌", P.POSTERS_RENDER),
    ("admin.rounds", "评价轮次", P.ROUNDS_READ),
    ("admin.paper_entry", "纸质选票", P.PAPER_ENTER),
    ("admin.results", "评价结果", P.RESULTS_READ),
    ("admin.rectifications", "整改", P.RECTIFY_READ),
    ("admin.appeals_list", "申诉", P.APPEAL_FILE),
    ("admin.webhooks", "结果推送", P.WEBHOOKS_MANAGE),
    ("admin.users", "用户", P.USERS_MANAGE),
    ("admin.audit_log", "审计日志", P.AUDIT_READ),
    ("admin.account", "我的账号", P.OWN_ACCOUNT),
]


MAX_PAGE = 100_000


def paginate(query, per_page: int = 50):
    """One page of a SELECT for a list page; `?page=` beyond any list is just an empty page."""
    number = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    return db.paginate(query, page=number, per_page=per_page, error_out=False)


@bp.before_request
def load_user() -> None:
    g.user = current_user if current_user.is_authenticated else None


@bp.before_request
def refuse_nul() -> None:
    if fields_with_nul(request):
        abort(400, description="提交的内容含有空字符（\\0），请删除后重试。")


@bp.app_context_processor
def navigation() -> dict:
    if not request.blueprint == "admin" or g.get("user") is None:
        return {}
    from flask import current_app

    links = [(endpoint, label) for endpoint, label, permission in NAV
             if endpoint in current_app.view_functions and access.can(permission)]
    return {"nav_links": links}


@bp.errorhandler(access.NotSignedIn)
def to_login(_error):
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


@bp.errorhandler(CSRFError)
def csrf_failed(_error):
    from flask import render_template

    return render_template("admin/message.html", title="表单已失效",
                           message="表单已过期或来源不明（缺少安全令牌）。请返回，刷新页面后重新提交。"), 400


from . import (  # noqa: E402,F401
    appeals,
    auth,
    catalog,
    home,
    keep,
    organisation,
    paper,
    posters,
    rectification,
    results,
    roster,
    rounds,
    system,
)
