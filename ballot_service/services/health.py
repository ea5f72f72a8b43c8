"""Readiness: the database and Redis both answer."""

from sqlalchemy import text

from ..extensions import db, redis_ext


def check_dependencies() -> list[str]:
    """Return the reasons the service is not ready (empty when it is)."""
    problems = []
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        db.session.rollback()
        problems.append(f"database: {type(exc).__name__}")
    try:
        redis_ext.client.ping()
    except Exception as exc:
        problems.append(f"redis: {type(exc).__name__}")
    return problems
