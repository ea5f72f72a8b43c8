"""Pooled connections that died while idle are replaced before use (extensions._ping_if_idle)."""

import pytest
from flask import current_app
from sqlalchemy import text

from ballot_service import extensions
from ballot_service.config import prepare_threshold
from ballot_service.extensions import db


def test_a_connection_killed_while_idle_is_replaced_not_failed(database, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("terminating a backend needs PostgreSQL")
    if current_app.config["DATABASE_PREPARE_THRESHOLD"]:
        pytest.skip("behind PgBouncer its server connections are its own to replace (and the admin's "
                    "connection may be the victim's)")
    db.session.remove()
    db.engine.dispose()
    with db.engine.connect() as connection:
        victim = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [victim]).fetchone()[0]
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0)  # every pooled connection counts as idle
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != victim


def test_prepare_threshold_none_turns_server_side_statements_off_and_unset_keeps_psycopgs():
    assert prepare_threshold("none") == prepare_threshold("NONE") == {"prepare_threshold": None}
    assert prepare_threshold("0") == {"prepare_threshold": 0}
    assert prepare_threshold(None) == prepare_threshold("") == {}
