"""Readiness: the database and Redis both answer, and this host has the open rounds' keys."""

from sqlalchemy import text

from ..extensions import db, redis_ext
from . import keys


def check_dependencies() -> list[str]:
    """Return the reasons the service is not ready (empty when it is)."""
    problems = []
    try:
        db.session.execute(text("SELECT 1"))
        problems += [f"keys: {problem}" for problem in keys.missing_keys(("secret",))]
    except Exception as exc:  # any driver error means "not ready"
        db.session.rollback()
        problems.append(f"database: {type(exc).__name__}")
    try:
        redis_ext.client.ping()
    except Exception as exc:
        problems.append(f"redis: {type(exc).__name__}")
    return problems
