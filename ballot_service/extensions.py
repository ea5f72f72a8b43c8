"""Extensions, created unbound and bound to the app in create_app()."""

import functools
import logging
import time

import redis
from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from flask_wtf import CSRFProtect
from redis.sentinel import Sentinel
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool

# Constraint names are fixed so Alembic migrations name them the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


log = logging.getLogger(__name__)
REPLICA = "replica"  # the bind key of DATABASE_REPLICA_URL


class ReplicaWrite(RuntimeError):
    """A write inside replica reads: a bug in a view marked @replica_reads."""


class RoutingSession(Session):
    """db.session. Inside replica_reads (public pages) every statement goes to the engine it
    chose (the read replica, or the primary while the replica is down) and an ORM write is
    refused; everywhere else, and always without a replica, to the primary."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        replica = self.info.get(REPLICA)
        if replica is None or bind is not None:
            return super().get_bind(mapper, clause, bind, **kwargs)
        if self._flushing or getattr(clause, "is_dml", False):
            raise ReplicaWrite("a page served from the read replica tried to write")
        return replica


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})


# After the replica failed, the pages read the primary for this long before trying it again (a
# replica host that is down would otherwise cost every public page its connect timeout).
REPLICA_RETRY_SECONDS = 30
_replica_failed_at = [-REPLICA_RETRY_SECONDS]


def replica_reads(view):
    """Serve a read-only public page from DATABASE_REPLICA_URL, when set: pages of published
    content (disclosure, results), where a replica's moment of lag shows nothing wrong. Never
    the ballot path, receipts, the admin or the API. The replica is used only when the request
    has no transaction open yet (so never inside a write), in a READ ONLY transaction; an ORM
    write is refused before it is sent (ReplicaWrite). When the replica cannot be reached the
    page is read from the primary, in a READ ONLY transaction too, and so are the pages of the
    next REPLICA_RETRY_SECONDS; a statement the replica refuses is an error, never retried."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        replica = db.engines.get(REPLICA)
        session = db.session()
        if replica is None or session.in_transaction():
            return view(*args, **kwargs)
        if time.monotonic() - _replica_failed_at[0] >= REPLICA_RETRY_SECONDS:
            try:
                return _read_only(session, replica, view, args, kwargs)
            except OperationalError:  # the replica is down or unreachable (not a refused statement)
                _replica_failed_at[0] = time.monotonic()
                log.warning("the read replica failed; public pages read the primary for %s s", REPLICA_RETRY_SECONDS)
        return _read_only(session, db.engine, view, args, kwargs)

    return wrapper


def _read_only(session, engine, view, args, kwargs):
    session.info[REPLICA] = engine
    try:
        session.connection(execution_options={"postgresql_readonly": True})
        return view(*args, **kwargs)
    finally:
        session.info.pop(REPLICA, None)
        session.rollback()  # the read ends with the page


migrate = Migrate()
compress = Compress()
csrf = CSRFProtect()
login_manager = LoginManager()


# swallow_errors: with Redis down the limits are skipped and the ballot path answers itself
# (with its retry page) instead of failing inside the limiter.
limiter = Limiter(key_func=get_remote_address, headers_enabled=False, swallow_errors=True)


@limiter.request_filter
def _reads_are_not_limited() -> bool:
    """Only submissions count against limits (the sign-in page's GET does not)."""
    return request.method in ("GET", "HEAD", "OPTIONS")


# Pooled database connections are checked before use only when they have been idle a while:
# those are the ones a database restart or an idle timeout leaves dead. SQLAlchemy's
# pool_pre_ping checks on every checkout, a round trip per request that cost the ballot POST a
# third of its floor's throughput (bench/ballot_load.py). A connection that dies while in use
# fails its request once: the ballot then shows its retry page, with nothing stored.
PING_AFTER_IDLE_SECONDS = 10


@event.listens_for(Pool, "checkin")
def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    if time.monotonic() - record.info.get("checked_in", time.monotonic()) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # any failure: let the pool replace the connection
        raise DisconnectionError() from exc


def limiter_storage_uri(redis_url: str | None, sentinels=(), master: str = "") -> str:
    """Flask-Limiter's storage (the `limits` package): the same Redis as the rest of the app, by
    its Sentinels when they are set; `limits` spells unix sockets `redis+unix://`."""
    if sentinels:
        return "redis+sentinel://" + ",".join(f"{host}:{port}" for host, port in sentinels) + "/" + master
    if not redis_url:
        return "memory://"
    return "redis+unix://" + redis_url[len("unix://"):] if redis_url.startswith("unix://") else redis_url


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its signer built once per app: Flask builds it anew for
    every request, public pages included. The cache is keyed by the secret keys."""

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = app.extensions.get("session_signer")
        if cached is None or cached[0] != keys:
            cached = app.extensions["session_signer"] = (keys, super().get_signing_serializer(app))
        return cached[1]


class RedisNotConfigured(redis.exceptions.ConnectionError):
    """No REDIS_URL, and no `make run` whose Redis could be used: like a Redis that is down."""


# Through Sentinel: a connection to a master that died fails within these seconds, and the
# next one asks the Sentinels where the master is now. RQ raises the read timeout of its own
# blocking reads above this (rq.worker).
SENTINEL_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 1}


def sentinel_options(config) -> dict:
    """Connection options for the Sentinels and the servers they name alike: the timeouts, and
    REDIS_PASSWORD when set (the one password of the master, its replicas and the Sentinels)."""
    password = config.get("REDIS_PASSWORD")
    return {**SENTINEL_TIMEOUTS, **({"password": password} if password else {})}


class RedisExtension:
    """One Redis connection pool per app: the master that REDIS_SENTINELS name, or REDIS_URL
    (redis://, rediss:// or unix://)."""

    def init_app(self, app: Flask) -> None:
        app.extensions["redis"] = self.connect(app.config)

    @staticmethod
    def connect(config) -> redis.Redis | None:
        if config.get("REDIS_SENTINELS"):
            options = sentinel_options(config)
            sentinel = Sentinel(config["REDIS_SENTINELS"], sentinel_kwargs=options, **options)
            return sentinel.master_for(config["REDIS_SENTINEL_MASTER"])
        url = config.get("REDIS_URL")
        return redis.Redis.from_url(url) if url else None

    @property
    def client(self) -> redis.Redis:
        client = current_app.extensions["redis"]
        if client is None:
            raise RedisNotConfigured("REDIS_URL 未设置：请先用 make run 启动服务（另开终端的命令会找到它的 Redis），"
                                     "或设置 REDIS_URL")
        return client


redis_ext = RedisExtension()
