"""The floor for bench/ballot_load.py --floor: the ballot's required work in a bare Flask route.

Each request does what the sealed ballot box requires of the office page and the ballot POST,
with the service's own libraries, script and statements: sign or read the identity cookie and
sign a form token (no Redis, no database); on POST, the two Flask-Limiter limits on Redis, the
token check, the pure form check, the claim script, sealing, and one transaction with the
sealed row and its dedup record. It leaves out everything else: the ORM session and its
connection pool, other Flask extensions, error handling and the outcomes other than success,
templates. What the service spends beyond this is its own overhead; this is what the stack costs.

Not a ballot path: it assumes success. The office comes from FLOOR_OFFICE (its code).
"""

import os
import secrets
import time

import psycopg
from flask import Flask, make_response, request
from flask_limiter import Limiter

from ballot_service import create_app
from ballot_service.domain import form_tokens, sealing
from ballot_service.domain.ballots import check_ballot
from ballot_service.domain.dedup import dedup_key
from ballot_service.public import page_cache
from ballot_service.services import ballot_box, voters

service = create_app()
with service.app_context(), service.test_request_context():
    OFFICE = page_cache.build(os.environ["FLOOR_OFFICE"])
    SIGNER = voters.signer()
SNAP = OFFICE.snapshot
REDIS = service.extensions["redis"]
EXPIRE_AT = ballot_box._expire_at(SNAP.closes_at)
SEALED_SQL = "INSERT INTO sealed_ballot (id, round_id, seal_key_id, box) VALUES (%s, %s, %s, %s)"
SEAL_KEY_SQL = "INSERT INTO seal_key (id, round_id, wrapped) VALUES (%s, %s, %s)"
DEDUP_SQL = "INSERT INTO dedup_record (round_id, key) VALUES (%s, %s)"
_connection: psycopg.Connection | None = None

app = Flask(__name__)
limiter = Limiter(lambda: "addr:" + request.remote_addr, app=app, headers_enabled=False,
                  storage_uri=service.config["RATELIMIT_STORAGE_URI"])


def _database() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.broken:
        _connection = psycopg.connect(os.environ["DATABASE_URL"])
    return _connection


_seal_key: tuple[str, object] | None = None


def _sealing_key() -> tuple[str, object]:
    """This process's seal key: made, wrapped to the round's public key and committed once."""
    global _seal_key
    if _seal_key is None:
        seal_key_id, raw = secrets.token_hex(16), sealing.new_seal_key()
        database = _database()
        database.execute(SEAL_KEY_SQL, [seal_key_id, SNAP.round_id,
                                        sealing.wrap_seal_key(SNAP.public_key, SNAP.round_id, seal_key_id, raw)])
        database.commit()
        _seal_key = seal_key_id, sealing.AESGCM(raw)
    return _seal_key


@app.get("/o/<code>")
def office(code: str):
    cookie = request.cookies.get(voters.COOKIE)
    identity = SIGNER.unsign(cookie).decode() if cookie else voters.new_browser_identity()
    token = form_tokens.issue(SNAP.secret, SNAP.round_id, SNAP.office_id, identity, int(time.time()))
    response = make_response(OFFICE.form.html(token))
    response.headers["Cache-Control"] = "no-store"
    if not cookie:
        response.set_cookie(voters.COOKIE, SIGNER.sign(identity).decode(), max_age=voters.MAX_AGE, httponly=True,
                            samesite="Lax")
    return response


@app.post("/o/<code>/ballot")
@limiter.limit(service.config["BALLOT_LIMIT_PER_IP"])
@limiter.limit(service.config["BALLOT_LIMIT_PER_VOTER"], key_func=lambda: "voter:" + request.cookies[voters.COOKIE])
def ballot(code: str):
    form = request.form.to_dict(flat=False)
    identity = SIGNER.unsign(request.cookies[voters.COOKIE]).decode()
    nonce = form_tokens.nonce_of(SNAP.secret, form.pop("token")[0], SNAP.round_id, SNAP.office_id, identity,
                                 int(time.time()))
    checked = check_ballot(SNAP.config, SNAP.roster, form)
    key = dedup_key(SNAP.secret, identity, SNAP.office_id)
    ballot_box._CLAIM([ballot_box._claim_key(SNAP.round_id, key)],
                      [form_tokens.claim_tag(SNAP.secret, nonce), EXPIRE_AT], client=REDIS)
    seal_key_id, seal_key = _sealing_key()
    ballot_id = secrets.token_hex(16)
    box = sealing.seal(seal_key, SNAP.round_id, seal_key_id, ballot_id, SNAP.sealed_size,
                       sealing.encode(SNAP.office_id, "online", checked.ratings))
    database = _database()
    with database.pipeline(), database.cursor() as cursor:
        cursor.execute(SEALED_SQL, [ballot_id, SNAP.round_id, seal_key_id, box])
        cursor.execute(DEDUP_SQL, [SNAP.round_id, key])
    database.commit()
    return "<!doctype html><title>评价已提交</title><h1>感谢您的评价！</h1><ul>" + "".join(
        f"<li>{r.person_id}：{r.level}</li>" for r in checked.ratings) + "</ul>"
