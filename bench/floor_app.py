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

import hashlib
import hmac
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
KEYS = [f"ballot:ready:{SNAP.round_id}", f"ballot:closed:{SNAP.round_id}"]
EXPIRE_AT = ballot_box._expire_at(SNAP)
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
    ballot_box._STATUS([*KEYS, f"ballot:claim:{SNAP.round_id}:{key}", f"ballot:token:{token}"],
                       [f"{SNAP.round_id}:{SNAP.office_id}", ballot_box.TOKEN_TTL], client=REDIS)
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
    tag = hashlib.sha256(f"claim:{token}".encode()).hexdigest()[:32]
    ballot_box._CLAIM([*KEYS, f"ballot:token:{token}", f"ballot:claim:{SNAP.round_id}:{key}"],
                      [f"{SNAP.round_id}:{SNAP.office_id}", tag, EXPIRE_AT], client=REDIS)
    ballot_id = hmac.new(SNAP.secret, f"ballot:{token}".encode(), hashlib.sha256).hexdigest()[:32]
    ratings = [(r.person_id, r.level, r.note) for r in checked.ratings]
    database = _database()
    with database.pipeline(), database.cursor() as cursor:
        cursor.execute("INSERT INTO ballot (id, round_id, office_id, day, channel) VALUES (%s, %s, %s, %s, 'online')",
                       [ballot_id, SNAP.round_id, SNAP.office_id, rounds.china_today()])
        cursor.execute("INSERT INTO rating (ballot_id, round_id, office_id, person_id, level, note) VALUES "
                       + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(ratings)),
                       [v for person, level, note in ratings
                        for v in (ballot_id, SNAP.round_id, SNAP.office_id, person, level, note)])
    database.commit()
    ballot_box._STORED([f"ballot:token:{token}", f"ballot:pending:{SNAP.round_id}",
                        f"ballot:turnout:{SNAP.round_id}"], [key, EXPIRE_AT, SNAP.office_id, 1], client=REDIS)
    return "<!doctype html><title>评价已提交</title><h1>感谢您的评价！</h1><ul>" + "".join(
        f"<li>{person}：{level}</li>" for person, level, _ in ratings) + "</ul>"
