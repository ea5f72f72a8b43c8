"""The JSON API (`/api/v1`): the admin area's operations for integrations.

Authenticated by a per-user API token (`Authorization: Bearer sl_...`), with exactly the
permissions of the token's user (the same `access.guard` as the admin area). Documented by
the OpenAPI document flask-smorest generates from these views at `/api/v1/openapi.json`.
"""

from flask import Flask, g, request
from flask_smorest import Blueprint, abort

from ..extensions import csrf, db
from ..internals import ApiV1
from ..request_checks import fields_with_nul
from ..services import access, users

PREFIX = "/api/v1"
SECURITY = [{"bearerAuth": []}]
MAX_PAGE = 100_000


def blueprint(name: str, description: str) -> Blueprint:
    """A blueprint of the API: token authentication, no CSRF (no cookies are used)."""
    blp = Blueprint(f"api_{name}", __name__, url_prefix=f"{PREFIX}/{name}", description=description)
    blp.before_request(_load_token_user)
    blp.before_request(_refuse_nul)
    blp.register_error_handler(access.NotSignedIn, _unauthorized)
    csrf.exempt(blp)
    return blp


def _load_token_user() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    g.user = users.user_for_token(token.strip()) if scheme.lower() == "bearer" else None


def refuse(field: str | None, message: str):
    """Answer 422 naming the bad field (nothing written: the session is rolled back)."""
    db.session.rollback()
    abort(422, message=message, errors={"json": {field or "_schema": [message]}})


def _refuse_nul():
    if bad := fields_with_nul(request):
        location = "json" if request.is_json else "query"
        abort(422, errors={location: {name: ["不能包含空字符（\\0）"] for name in bad}})


def _unauthorized(_error):
    body = {"code": 401, "status": "Unauthorized", "message": "需要有效的 API 令牌（Authorization: Bearer 令牌）。"}
    return body, 401, {"WWW-Authenticate": "Bearer"}


def page(query, pagination_parameters) -> list:
    """One page of a SELECT for a view decorated with `@blp.paginate()` (page, page_size query
    arguments; the total in the X-Pagination header, as flask-smorest documents it)."""
    # A page far beyond the end is simply empty (and never an OFFSET the database rejects).
    number = min(pagination_parameters.page, MAX_PAGE)
    result = db.paginate(query, page=number, per_page=pagination_parameters.page_size, error_out=False, count=True)
    pagination_parameters.item_count = result.total
    return result.items


def init_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="“三亮”评价服务 API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    # Every operation takes the token: said once, for the whole document.
    api = ApiV1(app, spec_kwargs={"servers": [{"url": app.config["PUBLIC_BASE_URL"]}], "security": SECURITY})
    app.extensions["api_v1"] = api
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "在“我的账号”页面生成的 API 令牌"})
    from . import account, appeals, catalog, paper, roster, rounds, system

    for module in (account, appeals, catalog, paper, roster, rounds, system):
        for blp in getattr(module, "BLUEPRINTS", []):
            api.register_blueprint(blp)
