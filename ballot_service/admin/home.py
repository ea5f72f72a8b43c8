"""The admin landing page (概览): who you are, rounds in progress with their ballots so far, and
the latest counted round's ballots per office, flags of solicited ratings (services/dashboard)."""

from flask import g, render_template, request

from ..domain.access import Permission as P
from ..services import access, dashboard, users
from . import bp


@bp.route("/")
@access.guard(P.OWN_ACCOUNT)
def home():
    scope = access.scope()
    in_progress, counted = [], None
    sort = request.args.get("sort", "ballots")
    show_all = request.args.get("all") == "1"
    if access.can(P.ROUNDS_READ):
        in_progress = dashboard.open_rounds(scope)
    flagged = dashboard.flagged_rounds(scope) if access.can(P.ROUNDS_READ) else []  # never the rated department
    if access.can(P.TURNOUT_READ) and (latest := dashboard.latest_counted(scope)) is not None:
        counted = dashboard.office_turnout(latest, scope, sort)
    overdue = dashboard.overdue_rectifications(scope) if access.can(P.RECTIFY_READ) else (0, [])
    return render_template("admin/home.html", user=g.user, scope=users.scope_of(g.user), in_progress=in_progress,
                           counted=counted, sort=sort if sort in dashboard.SORTS else "ballots",
                           sorts=dashboard.SORTS, show_all=show_all, overdue=overdue, flagged=flagged)
