"""Sanliang ballot service: the Flask application factory (wiring only)."""

import os
import secrets

from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import internals
from .config import Config, embedded_redis_url
from .extensions import (
    REPLICA,
    SessionInterface,
    compress,
    csrf,
    db,
    limiter,
    limiter_storage_uri,
    login_manager,
    migrate,
    redis_ext,
    sentinel_options,
)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.secret_key = _secret_key(app)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "ballot.sqlite3")
    if not app.config["MEDIA_ROOT"]:
        app.config["MEDIA_ROOT"] = os.path.join(app.instance_path, "media")
    if not app.config["KEY_DIR"]:
        app.config["KEY_DIR"] = os.path.join(app.instance_path, "keys")
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = embedded_redis_url(app.instance_path)

    _database_settings(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    redis_ext.init_app(app)
    compress.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(
        app.config["REDIS_URL"], app.config["REDIS_SENTINELS"], app.config["REDIS_SENTINEL_MASTER"]))
    if app.config["REDIS_SENTINELS"]:  # counted on the master, with the app's timeouts and password
        options = sentinel_options(app.config)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                              {"use_replicas": False, "sentinel_kwargs": options, **options})
    limiter.init_app(app)
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    # Templates use g.user: public pages never read the session (no Vary: Cookie on them).
    login_manager.init_app(app, add_context_processor=False)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1)

    from . import models  # noqa: F401  (tables must be known to Alembic)
    from .admin import bp as admin_bp
    from .api import init_api
    from .cli import register_cli
    from .public import bp as public_bp
    from .public.errors import register_error_pages
    from .services.users import load_session_user

    login_manager.user_loader(load_session_user)
    csrf.exempt(public_bp)  # the ballot form carries its own one-time token
    app.register_blueprint(public_bp)
    app.register_blueprint(admin_bp)
    internals.remember_cookie_on(app, admin_bp.name, login_manager)
    init_api(app)
    internals.drop_app_wide_limit_hooks(app, limiter)
    register_error_pages(app)
    app.teardown_request(_forget_request_user)
    register_cli(app)
    if not app.testing:
        from .services import keys

        with app.app_context():
            keys.check_at_start(("secret",))
            # No pooled connection may outlive start-up: gunicorn --preload forks this process,
            # and workers sharing one connection's socket would read each other's results.
            db.session.remove()
            db.engine.dispose()
    return app


def _database_settings(config) -> None:
    """The replica as a bind of its own; psycopg's prepare_threshold (PgBouncer) for PostgreSQL."""
    if config["DATABASE_PREPARE_THRESHOLD"] and config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {**options.get("connect_args", {}), **config["DATABASE_PREPARE_THRESHOLD"]}
    if config["DATABASE_REPLICA_URL"]:  # the replica's engine takes the primary's options
        config["SQLALCHEMY_BINDS"] = {**config.get("SQLALCHEMY_BINDS", {}), REPLICA: config["DATABASE_REPLICA_URL"]}


def _forget_request_user(_exc) -> None:
    """A request's user lives in `g`; an app context shared by several requests (tests, the
    worker) must not carry one request's user, or its audit actor, into the next."""
    for name in ("user", "obj", "audit_actor", "_login_user", "csrf_token"):
        g.pop(name, None)


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    """SQLite enforces foreign keys only when asked to, per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class MissingSecretKey(RuntimeError):
    pass


# The fallback key of earlier releases, public in their source: never accepted, not even as a
# SECRET_KEY_FALLBACKS entry kept from before (anyone could sign a voter's cookie with it).
PUBLIC_KEYS = frozenset({"dev-only-not-secret"})


def _secret_key(app: Flask) -> str:
    key = _configured_key(app)
    if {key, *app.config["SECRET_KEY_FALLBACKS"]} & PUBLIC_KEYS:
        raise MissingSecretKey("SECRET_KEY 或 SECRET_KEY_FALLBACKS 含有公开的旧默认密钥 dev-only-not-secret，"
                               "请换成新的随机密钥后再启动。 A public key is configured; replace it.")
    return key


def _configured_key(app: Flask) -> str:
    """SECRET_KEY from the settings; else the one kept in SECRET_KEY_FILE, made there in
    development (`make run`); tests get a fixed one. Anything else refuses to start (B2): with a
    known key anyone could sign a voter's cookie, a WeChat one included."""
    if app.config["SECRET_KEY"]:
        return app.config["SECRET_KEY"]
    path = app.config["SECRET_KEY_FILE"] or os.path.join(app.instance_path, "secret_key")
    if app.config["APP_ENV"] == "development" and not os.path.exists(path):
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(secrets.token_urlsafe(32))
        except FileExistsError:  # another process of `make run` made it first
            pass
    if os.path.exists(path):
        if app.config["APP_ENV"] != "development" and not app.config["SECRET_KEY_FILE"]:
            app.logger.warning("SECRET_KEY is read from %s, which `make run` made; set SECRET_KEY in production", path)
        with open(path) as file:
            return file.read().strip()
    if app.testing:
        return "testing-only-not-secret"
    raise MissingSecretKey("SECRET_KEY 未设置：生产环境必须设置 SECRET_KEY 才能启动（见 README 的 Settings）。"
                           " SECRET_KEY is not set; the service does not start without it outside development.")
