"""B1 under real concurrency: a burst of parallel submissions from one voter over HTTP."""

import http.client
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from ballot_service.extensions import db
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people

PARALLEL = 50


def request(base: str, method: str, path: str, cookie: str | None = None, body: dict | None = None):
    host = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body, doseq=True)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    result = response.status, response.read().decode(), response.getheader("Set-Cookie")
    connection.close()
    return result


def test_fifty_parallel_submissions_from_one_voter_store_exactly_one(app, live_server):
    office, _ = open_office()
    app.config["BALLOT_LIMIT_PER_VOTER"] = "1000/minute"
    try:
        status, html, set_cookie = request(live_server, "GET", f"/o/{office.code}")
        cookie = set_cookie.split(";", 1)[0]
        # Fifty tabs opened by the same voter, each with its own valid one-time token.
        forms = []
        for _ in range(PARALLEL):
            _, html, _ = request(live_server, "GET", f"/o/{office.code}", cookie)
            token, people = token_and_people(html)
            forms.append(all_satisfied(token, people))
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(
                lambda form: request(live_server, "POST", f"/o/{office.code}/ballot", cookie, form), forms))
    finally:
        app.config["BALLOT_LIMIT_PER_VOTER"] = "10/minute"
    thanked = [r for r in results if "感谢您的评价" in r[1]]
    refused = [r for r in results if "您已评价过" in r[1]]
    assert len(thanked) == 1 and len(refused) == PARALLEL - 1
    assert {r[0] for r in results} == {200}
    db.session.expire_all()
    assert sealed_ballots() == 1


def test_one_form_posted_from_two_browsers_at_once_is_thanked_once(app, live_server):
    """The same live token (and the identity cookie it is bound to, copied to a second browser)
    sent twice at the same moment: one ballot, one thank-you; the other is told "已记录" and is
    shown no answers."""
    import threading

    office, _ = open_office()
    status, html, set_cookie = request(live_server, "GET", f"/o/{office.code}")
    cookie = set_cookie.split(";", 1)[0]
    token, people = token_and_people(html)
    barrier = threading.Barrier(2)
    forms = [all_satisfied(token, people), all_satisfied(token, people, **{f"r{people[0]}": "dissatisfied"})]

    def send(form):
        barrier.wait()
        return request(live_server, "POST", f"/o/{office.code}/ballot", cookie, form)

    for _ in range(5):  # a few tries at the same moment, each with its own voter
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(send, forms))
        thanked = [r for r in results if "感谢您的评价" in r[1]]
        told = [r for r in results if "您的评价已记录" in r[1]]
        assert len(thanked) == 1 and len(told) == 1 and {r[0] for r in results} == {200}
        assert "王建国" not in told[0][1] and "已匿名记录" not in told[0][1]  # no answers, no names
        status, html, set_cookie = request(live_server, "GET", f"/o/{office.code}")
        cookie = set_cookie.split(";", 1)[0]
        token, people = token_and_people(html)
        forms = [all_satisfied(token, people), all_satisfied(token, people, **{f"r{people[0]}": "dissatisfied"})]
    db.session.expire_all()
    assert sealed_ballots() == 5
