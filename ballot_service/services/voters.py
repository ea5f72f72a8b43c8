"""Voter identity for de-duplication (B2): a WeChat openid, or a random id in a cookie.

The identity lives only in the voter's own signed, HttpOnly cookie ("w:<openid>" or
"c:<random>"); the server keeps no record of it anywhere but as a keyed hash (the dedup key).
"""

import datetime as dt
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, Signer

COOKIE = "sl_voter"
MAX_AGE = 400 * 24 * 3600  # a browser id lasts across both rounds of a year


def signer() -> Signer:
    """Signs the identity cookie: the identity as it is, and an HMAC (itsdangerous). A plain
    Signer, not a Serializer: no JSON or compression, a quarter of the instructions of a
    URLSafeSerializer on the office page (bench/ballot_instructions.py)."""
    signer_ = current_app.extensions.get("voter_signer")
    if signer_ is None:  # one per app: building it costs more than signing
        # itsdangerous signs with the last key and accepts any: the fallbacks, oldest first.
        keys = [*reversed(current_app.config["SECRET_KEY_FALLBACKS"]), current_app.secret_key]
        signer_ = current_app.extensions["voter_signer"] = Signer(keys, salt="voter-identity")
    return signer_


def read(cookie_value: str | None) -> str | None:
    if not cookie_value:
        return None
    try:
        identity = signer().unsign(cookie_value).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return identity if identity[:2] in ("w:", "c:") else None


def new_browser_identity() -> str:
    return "c:" + secrets.token_hex(16)


def wechat_identity(openid: str) -> str:
    return "w:" + openid


def cookie(identity: str) -> dict:
    """Arguments for response.set_cookie."""
    return {
        "key": COOKIE,
        "value": signer().sign(identity).decode(),
        "max_age": MAX_AGE,
        "httponly": True,
        "samesite": "Lax",
        "secure": current_app.config["PUBLIC_BASE_URL"].startswith("https://"),
    }


def limit_key(secret: bytes, value: str) -> str:
    """A short keyed hash for rate-limit counters, so Redis never holds an identity or address.
    The key changes every day, so counters cannot be matched across days either."""
    day_key = secret + dt.date.today().isoformat().encode()
    return hmac.digest(day_key, value.encode(), "sha256").hex()[:24]
