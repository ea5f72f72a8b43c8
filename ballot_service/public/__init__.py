"""Public pages: disclosure (亮人员身份, 亮制度职责), the ballot, health checks, photos."""

from flask import Blueprint

from ..domain.phones import tel_href
from ..domain.roles import Role
from ..services.disclosure import office_kind
from ..services.results import grade_label
from ..services.rounds import china_date, china_time

bp = Blueprint("public", __name__)
bp.add_app_template_filter(tel_href, "tel_href")
bp.add_app_template_filter(Role, "role")
bp.add_app_template_filter(grade_label, "grade_label")
bp.add_app_template_filter(china_time, "china_time")
bp.add_app_template_filter(china_date, "china_date")
bp.add_app_template_filter(office_kind, "office_kind")

from . import views  # noqa: E402,F401  (routes register on bp)
