"""C2: with the database down a submission gets the retry page and leaves no claim behind;
the same voter succeeds once the database is back. Runs a private PostgreSQL to stop."""

import os

import pytest
from flask_migrate import upgrade

from ballot_service import create_app
from ballot_service.extensions import db
from tests import private_postgres
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people


@pytest.fixture
def outage_app(redis_url, tmp_path):
    if not private_postgres.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    server = private_postgres.PrivatePostgres()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": server.url, "REDIS_URL": redis_url,
                      "MEDIA_ROOT": str(tmp_path / "media"), "KEY_DIR": str(tmp_path / "keys"), "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
                      "PAGE_CACHE_SECONDS": 0})
    with app.app_context():
        upgrade()
        yield app, server
        db.session.remove()
        db.engine.dispose()
        from ballot_service.extensions import redis_ext

        redis_ext.client.flushdb()
    server.destroy()


def test_database_down_gives_503_leaves_no_claim_and_the_voter_can_retry(outage_app):
    app, server = outage_app
    redis = app.extensions["redis"]
    office, round_ = open_office()
    client = app.test_client()
    html = client.get(f"/o/{office.code}").get_data(as_text=True)
    token, people = token_and_people(html)
    form = all_satisfied(token, people, **{f"r{people[-1]}": "dissatisfied", f"t{people[-1]}": "low_efficiency"})
    claims, url = f"ballot:claim:{round_.id}:*", f"/o/{office.code}/ballot"

    server.stop()
    response = client.post(url, data=form)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "未能确认您的评价是否已记录" in html and "只记录一次" in html and f'name="token" value="{token}"' in html
    assert list(redis.scan_iter(claims)) == []

    server.start()
    db.engine.dispose()  # the pool's connections died with the server
    retry = client.post(url, data=form)
    assert retry.status_code == 200 and "感谢您的评价" in retry.get_data(as_text=True)
    assert sealed_ballots() == 1
    assert len(list(redis.scan_iter(claims))) == 1


def test_database_failing_during_the_write_releases_the_claim_and_keeps_the_token(outage_app):
    """The narrowest window: the database dies after the claim is taken, while writing."""
    from ballot_service.services import ballot_box

    app, server = outage_app
    redis = app.extensions["redis"]
    office, round_ = open_office()
    client = app.test_client()
    token, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
    claims, url = f"ballot:claim:{round_.id}:*", f"/o/{office.code}/ballot"
    original = ballot_box.insert_sealed

    def insert_after_outage(*args):
        server.stop()
        return original(*args)

    ballot_box.insert_sealed = insert_after_outage
    try:
        response = client.post(url, data=all_satisfied(token, people))
    finally:
        ballot_box.insert_sealed = original
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and "未能确认您的评价是否已记录" in html and "只记录一次" in html
    assert f'name="token" value="{token}"' in html  # the answers come back, ready to resend
    assert f'name="r{people[0]}" value="satisfied"' in html
    assert list(redis.scan_iter(claims)) == []
    server.start()
    db.engine.dispose()
    assert client.post(url, data=all_satisfied(token, people)).status_code == 200
    assert sealed_ballots() == 1
