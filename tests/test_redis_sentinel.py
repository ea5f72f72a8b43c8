"""Redis through Sentinel (REDIS_SENTINELS): the web process, the worker, the cron and the rate
limiter reach the master the Sentinels name, and a failover loses no ballot and lets no voter vote
twice — even a voter whose claim the dead primary acknowledged before its replica had it (B1: the
dedup record, not the claim, holds one ballot per voter). A primary, a replica and three Sentinels
of the test's own, as real redis-server processes."""

import signal
import time

import pytest
import redis
from flask_migrate import upgrade
from rq import Worker

from ballot_service import create_app
from ballot_service.config import addresses
from ballot_service.extensions import db, limiter, redis_ext
from ballot_service.public.ballot import DONE_COOKIE
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people
from tests.redis_sentinel import MASTER, PASSWORD, SentinelStack

THANKS, ALREADY = "感谢您的评价", "您已评价过"


@pytest.fixture
def stack(tmp_path):
    stack = SentinelStack(tmp_path)
    yield stack
    stack.destroy()


@pytest.fixture
def app(stack, tmp_path):
    # Flask-Limiter keeps one storage per Limiter, not per app: this app's (the Sentinels') must
    # not outlive the test, or the session's app would count its limits in a Redis that is gone.
    kept = limiter._storage, limiter._limiter, dict(limiter._storage_options)
    try:
        app = create_app({
            "TESTING": True, "REDIS_SENTINELS": stack.addresses, "REDIS_SENTINEL_MASTER": MASTER, "REDIS_PASSWORD": PASSWORD,
            "REDIS_URL": None, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sentinel.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"), "KEY_DIR": str(tmp_path / "keys"), "PAGE_CACHE_SECONDS": 0,
            "PUBLIC_BASE_URL": "http://testserver",
        })
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        limiter._storage, limiter._limiter, limiter._storage_options = kept


def _vote(app, office, voter=None):
    """A new form of `voter` (a test client: its cookie is the voter), sent until it is answered
    (the retry page, 503, is sent again as the voter would): (voter, answers' statuses, last page)."""
    voter = voter or app.test_client()
    token, people = token_and_people(voter.get(f"/o/{office.code}").get_data(as_text=True))
    statuses = []
    for _ in range(5):
        response = voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
        statuses.append(response.status_code)
        if response.status_code != 503:
            return voter, statuses, response.get_data(as_text=True)
        time.sleep(0.5)  # a person taps 重新提交 again
    return voter, statuses, ""


def _claims(client, round_id) -> set[bytes]:
    return set(client.scan_iter(f"ballot:claim:{round_id}:*"))


def test_web_worker_cron_and_rate_limiter_use_the_master_the_sentinels_name(app, stack):
    primary = stack.client(stack.primary)
    with pytest.raises(redis.AuthenticationError):  # every server and Sentinel asks for the password
        redis.Redis("127.0.0.1", stack.primary).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis("127.0.0.1", stack.sentinels[0]).ping()
    assert app.config["RATELIMIT_STORAGE_URI"] == (
        "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in stack.sentinels) + f"/{MASTER}")
    office, round_ = open_office()
    _, statuses, page = _vote(app, office)
    assert statuses == [200] and THANKS in page
    assert len(_claims(primary, round_.id)) == 1  # the claim is on the master the Sentinels name
    assert list(primary.scan_iter("LIMITS*")), "the ballot's rate limits count in the same Redis"

    from worker.cron import create_cron

    enqueued = create_cron(redis_ext.client).enqueue_jobs()  # what `python -m worker.cron` does each minute
    assert [job.func_name for job in enqueued] == ["ballot_service.jobs.advance_rounds"]
    assert primary.llen("rq:queue:default") == 1
    Worker(["default"], connection=redis_ext.connect(app.config)).work(burst=True)  # as `python -m worker`
    finished = [key for key in primary.scan_iter("rq:job:*") if primary.hget(key, "status") == b"finished"]
    assert len(finished) == 1 and primary.llen("rq:queue:default") == 0


def test_a_claim_lost_in_a_failover_does_not_let_its_voter_vote_twice(app, stack):
    office, round_ = open_office()
    primary, replica = stack.client(stack.primary), stack.client(stack.replica)
    early, statuses, page = _vote(app, office)
    assert statuses == [200] and THANKS in page
    assert primary.wait(1, 5000) == 1  # the early voter's claim is on the replica too

    # The replica stops taking the primary's stream (stopped, and its link cut, so that nothing
    # waits in its socket); then a voter is acknowledged by the primary alone, which dies.
    stack.signal(stack.replica, signal.SIGSTOP)
    primary.client_kill_filter(_type="replica")
    late, statuses, page = _vote(app, office)
    assert statuses == [200] and THANKS in page
    assert len(_claims(primary, round_.id)) == 2
    stack.signal(stack.primary, signal.SIGKILL)
    stack.signal(stack.replica, signal.SIGCONT)
    assert stack.wait_for_failover() == stack.replica
    assert len(_claims(replica, round_.id)) == 1, "the late voter's claim died with the primary"

    # Both voters drop the cookie that remembers their ballot (keeping the one that is their
    # identity), open a new form and send it: each is refused as having voted, by the database.
    for voter in (early, late):
        voter.delete_cookie(DONE_COOKIE, domain="localhost")
        _, statuses, page = _vote(app, office, voter)
        assert statuses[-1] == 200 and ALREADY in page, statuses
    # A new voter may get the retry page while the app finds the new master; resent, it counts.
    _, statuses, page = _vote(app, office)
    assert statuses[-1] == 200 and THANKS in page and set(statuses[:-1]) <= {503}, statuses
    assert sealed_ballots() == 3
    assert len(_claims(replica, round_.id)) == 3


def test_sentinel_addresses_are_host_port_pairs_and_a_malformed_one_stops_the_start():
    assert addresses(" 10.0.0.5:26379,10.0.0.6:26380 ,") == [("10.0.0.5", 26379), ("10.0.0.6", 26380)]
    for bad in ("redis1", "10.0.0.5:", ":26379", "10.0.0.5:port"):
        with pytest.raises(ValueError, match="REDIS_SENTINELS"):
            addresses(bad)
