"""Public pages: disclosure (亮人员身份, 亮制度职责), health checks, photos."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from ..domain.phones import tel_href  # noqa: E402
from . import views  # noqa: E402,F401

bp.add_app_template_filter(tel_href, "tel_href")
