"""The admin landing page: who you are, what you may do, and rounds in progress."""

from flask import g, render_template
from sqlalchemy import select

from ..domain.access import Permission as P
from ..extensions import db
from ..models import Round
from ..services import access, users
from . import bp


@bp.route("/")
@access.guard(P.OWN_ACCOUNT)
def home():
    rounds = []
    if access.can(P.ROUNDS_READ):
        rounds = db.session.scalars(
            select(Round).where(access.condition("round", access.scope())).order_by(Round.id.desc()).limit(5)
        ).all()
    return render_template("admin/home.html", user=g.user, scope=users.scope_of(g.user), rounds=rounds)
