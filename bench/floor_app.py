"""The floor for bench/ballot_load.py --floor: the ballot's required work in a bare Flask route.

Each request does what the issue requires of the office page and the ballot POST, with the
service's own libraries, Redis scripts, page and INSERT statements: sign or read the identity
cookie; one Redis script for the token and the already-voted look-up; on POST, the two
Flask-Limiter limits on Redis, the pure form check, one script for the claim, the ballot and
its ratings in one transaction, one script after the commit. It leaves out everything else:
the ORM session and its connection pool, other Flask extensions, error handling and the
outcomes other than success, templates. What the service spends beyond this is its own
overhead; this is what the stack costs.

Not a ballot path: it assumes success. The office comes from FLOOR_OFFICE (its code).
"""

import os
import secrets

import psycopg
from flask import Flask, make_response, request
from flask_limiter import Limiter

from ballot_service import create_app
from ballot_service.domain.ballots import check_ballot
from ballot_service.domain.dedup import dedup_key
from ballot_service.public import page_cache
from ballot_service.services import ballot_box, rounds, voters

service = create_app()
with service.app_context(), service.test_request_context():
    OFFICE = page_cache.build(os.environ["FLOOR_OFFICE"])
    SIGNER = voters._serializer()
SNAP = OFFICE.snapshot
REDIS = service.extensions["redis"]
KEYS = [ballot_box._k("ready", SNAP.round_id), ballot_box._k("closed", SNAP.round_id)]
EXPIRE_AT = ballot_box._expire_at(SNAP)
TOKEN_VALUE = ballot_box._token_value(SNAP.round_id, SNAP.office_id)
BALLOT_SQL = ballot_box._insert_sql("ballot", ("id", "round_id", "office_id", "day", "channel"), 1)
RATING_COLUMNS = ("ballot_id", "round_id", "office_id", "person_id", "level", "note")
_connection: psycopg.Connection | None = None

app = Flask(__name__)
limiter = Limiter(lambda: "addr:" + request.remote_addr, app=app, headers_enabled=False,
                  storage_uri=service.config["RATELIMIT_STORAGE_URI"])


def _database() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.broken:
        _connection = psycopg.connect(os.environ["DATABASE_URL"])
    return _connection


@app.get("/o/<code>")
def office(code: str):
    cookie = request.cookies.get(voters.COOKIE)
    identity = SIGNER.loads(cookie) if cookie else voters.new_browser_identity()
    token = secrets.token_urlsafe(24)
    key = dedup_key(SNAP.secret, identity, SNAP.office_id)
    ballot_box._STATUS([*KEYS, ballot_box._k("claim", SNAP.round_id, key), ballot_box._k("token", token)],
                       [TOKEN_VALUE, ballot_box.TOKEN_TTL], client=REDIS)
    response = make_response(OFFICE.form.html(token))
    response.headers["Cache-Control"] = "no-store"
    if not cookie:
        response.set_cookie(voters.COOKIE, SIGNER.dumps(identity), max_age=voters.MAX_AGE, httponly=True,
                            samesite="Lax")
    return response


@app.post("/o/<code>/ballot")
@limiter.limit(service.config["BALLOT_LIMIT_PER_IP"])
@limiter.limit(service.config["BALLOT_LIMIT_PER_VOTER"], key_func=lambda: "voter:" + request.cookies[voters.COOKIE])
def ballot(code: str):
    form = request.form.to_dict(flat=False)
    token = form.pop("token")[0]
    checked = check_ballot(SNAP.config, SNAP.roster, form)
    key = dedup_key(SNAP.secret, SIGNER.loads(request.cookies[voters.COOKIE]), SNAP.office_id)
    token_key = ballot_box._k("token", token)
    ballot_box._CLAIM([*KEYS, token_key, ballot_box._k("claim", SNAP.round_id, key)],
                      [TOKEN_VALUE, ballot_box.claim_tag(token), EXPIRE_AT], client=REDIS)
    ballot_id = ballot_box.ballot_id_of(SNAP.secret, token)
    database = _database()
    with database.pipeline(), database.cursor() as cursor:
        cursor.execute(BALLOT_SQL, [ballot_id, SNAP.round_id, SNAP.office_id, rounds.china_today(), "online"])
        cursor.execute(ballot_box._insert_sql("rating", RATING_COLUMNS, len(checked.ratings)),
                       [v for r in checked.ratings
                        for v in (ballot_id, SNAP.round_id, SNAP.office_id, r.person_id, r.level, r.note)])
    database.commit()
    ballot_box._STORED([token_key, ballot_box._k("pending", SNAP.round_id), ballot_box._k("turnout", SNAP.round_id)],
                       [key, EXPIRE_AT, SNAP.office_id, 1], client=REDIS)
    return "<!doctype html><title>评价已提交</title><h1>感谢您的评价！</h1><ul>" + "".join(
        f"<li>{r.person_id}：{r.level}</li>" for r in checked.ratings) + "</ul>"
