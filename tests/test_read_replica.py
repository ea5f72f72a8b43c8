"""DATABASE_REPLICA_URL: published public pages are read from a streaming replica, everything else
from the primary — the ballot above all, which a replica's lag must never reach. A private
PostgreSQL primary and its real streaming replica (pg_basebackup -R), whose replay the test pauses
to make the lag visible."""

import os
import time

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text, update
from sqlalchemy.exc import InternalError

from ballot_service import create_app, extensions
from ballot_service.extensions import ReplicaWrite, db, replica_reads
from ballot_service.models import Department
from tests import private_postgres
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people
from tests.factories import empty_database


@pytest.fixture(scope="module")
def servers():
    if not private_postgres.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    primary = private_postgres.PrivatePostgres()
    replica = private_postgres.PrivatePostgres(primary=primary)
    yield primary, replica
    replica.destroy()
    primary.destroy()


@pytest.fixture
def app(servers, redis_url, tmp_path, monkeypatch):
    primary, replica = servers
    monkeypatch.setattr(extensions, "_replica_failed_at", [-extensions.REPLICA_RETRY_SECONDS])  # per process
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": primary.url, "DATABASE_REPLICA_URL": replica.url,
        "REDIS_URL": redis_url, "MEDIA_ROOT": str(tmp_path / "media"), "KEY_DIR": str(tmp_path / "keys"),
        "PAGE_CACHE_SECONDS": 0, "PUBLIC_BASE_URL": "http://testserver",
    })
    with app.app_context():
        upgrade()
        yield app
        empty_database()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def _on_replica(replica, sql: str):
    with psycopg.connect(replica.url.replace("+psycopg", ""), autocommit=True) as connection:
        return connection.execute(sql).fetchone()


def _caught_up(primary, replica) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    target = _on_replica(primary, "SELECT pg_current_wal_lsn()")[0]
    deadline = time.monotonic() + 20
    while _on_replica(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0] is not True:
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


def _rename(department_id: int, name: str) -> None:
    db.session.execute(update(Department).where(Department.id == department_id).values(name=name))
    db.session.commit()


def test_public_pages_come_from_the_replica_and_the_ballot_from_the_primary(app, servers):
    primary, replica = servers
    office, round_ = open_office()
    department_id, code, dept_code = office.department_id, office.code, office.department.code
    _caught_up(primary, replica)
    client = app.test_client()
    assert "市行政审批服务局" in client.get(f"/d/{dept_code}").get_data(as_text=True)

    _on_replica(replica, "SELECT pg_wal_replay_pause()")  # the replica lags from here
    try:
        _rename(department_id, "市政务服务管理局")
        page = client.get(f"/d/{dept_code}").get_data(as_text=True)
        assert "市行政审批服务局" in page and "市政务服务管理局" not in page, "the department page is the replica's"
        # The ballot path reads and writes the primary: its page shows the new name, and the
        # ballot is stored while the replica replays nothing.
        office_page = client.get(f"/o/{code}").get_data(as_text=True)
        assert "市政务服务管理局" in office_page
        token, people = token_and_people(office_page)
        response = client.post(f"/o/{code}/ballot", data=all_satisfied(token, people))
        assert response.status_code == 200 and "感谢您的评价" in response.get_data(as_text=True)
        assert sealed_ballots() == 1
        assert _on_replica(replica, "SELECT count(*) FROM sealed_ballot")[0] == 0
    finally:
        _on_replica(replica, "SELECT pg_wal_replay_resume()")
    _caught_up(primary, replica)
    assert "市政务服务管理局" in client.get(f"/d/{dept_code}").get_data(as_text=True)
    assert _on_replica(replica, "SELECT count(*) FROM sealed_ballot")[0] == 1


def test_a_page_served_from_the_replica_cannot_write(app, servers):
    office, _ = open_office()
    department = office.department

    @replica_reads
    def view_that_writes_by_flush():
        db.session.get(Department, department.id).name = "改名"
        db.session.flush()

    @replica_reads
    def view_that_writes_by_statement():
        db.session.execute(update(Department).where(Department.id == department.id).values(name="改名"))

    @replica_reads
    def view_that_writes_by_text():
        db.session.execute(text("UPDATE department SET name = '改名' WHERE id = :i"), {"i": department.id})
        db.session.commit()

    db.session.commit()
    for view in (view_that_writes_by_flush, view_that_writes_by_statement):
        with app.test_request_context("/d/x"), pytest.raises(ReplicaWrite):
            view()
    # SQL text is not inspected: the replica refuses it, and the refusal is not taken for the
    # replica being down (the page is not read again from the primary, where it would write).
    with app.test_request_context("/d/x"), pytest.raises(InternalError, match="read-only transaction"):
        view_that_writes_by_text()
    # With the replica down, the primary's transaction for such a page is READ ONLY as well.
    servers[1].stop()
    try:
        with app.test_request_context("/d/x"), pytest.raises(InternalError, match="read-only transaction"):
            view_that_writes_by_text()
    finally:
        servers[1].start()
    assert db.session.scalar(text("SELECT name FROM department WHERE id = :i"), {"i": department.id}) == "市行政审批服务局"


def test_with_the_replica_down_public_pages_come_from_the_primary(app, servers):
    primary, replica = servers
    office, _ = open_office()
    dept_code, department_id = office.department.code, office.department_id
    db.session.rollback()  # the test's read ends: the page's request shares this app context
    replica.stop()
    try:
        started = time.monotonic()
        response = app.test_client().get(f"/d/{dept_code}")
        assert response.status_code == 200 and "市行政审批服务局" in response.get_data(as_text=True)
        assert extensions._replica_failed_at[0] >= started  # the next pages go to the primary at once
        response = app.test_client().get(f"/d/{dept_code}")
        assert response.status_code == 200 and "市行政审批服务局" in response.get_data(as_text=True)
    finally:
        replica.start()
    # The primary's connections that served those pages READ ONLY take writes again afterwards.
    _rename(department_id, "市政务服务管理局")
    assert "市政务服务管理局" in app.test_client().get(f"/d/{dept_code}").get_data(as_text=True)
