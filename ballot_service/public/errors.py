"""Friendly Chinese error pages for people; JSON for the health endpoints and the API."""

from flask import Flask, current_app, render_template, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "请求有误，请返回重试。",
    401: "请先登录，或提供有效的 API 令牌。",
    403: "您无权进行此操作。",
    404: "页面不存在。",
    405: "不支持这种请求方式。",
    409: "操作与当前状态冲突，请刷新后重试。",
    413: "上传的文件太大。",
    422: "提交的数据有误，请按各字段的提示修改。",
    429: "操作太频繁，请稍后再试。",
}


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        # abort(404, description=...) carries a Chinese message; Werkzeug's defaults are English.
        message = error.description if _is_ours(error) else MESSAGES.get(code, "请求未能完成，请稍后再试。")
        if request.path.startswith("/api/"):
            # flask-smorest's shape: {code, status, message, errors (field -> messages)}
            error.data = {"message": message, **(getattr(error, "data", None) or {})}
            return current_app.extensions["api_v1"].handle_http_exception(error)
        return render_template("public/error.html", code=code, message=message), code

    @app.errorhandler(SQLAlchemyError)
    @app.errorhandler(RedisError)
    def backend_unavailable(error: Exception):
        """A database or Redis outage is a temporary 503 with a retry message, not a crash."""
        from .. import extensions

        try:
            extensions.db.session.rollback()
        except SQLAlchemyError:
            pass
        app.logger.error("backend unavailable: %s", type(error).__name__)
        message = "服务暂时不可用，请稍后重试。"
        if request.path.startswith("/api/"):
            return {"code": 503, "status": "Service Unavailable", "message": message}, 503
        return render_template("public/error.html", code=503, message=message), 503


def _is_ours(error: HTTPException) -> bool:
    return bool(error.description) and error.description != type(error).description
