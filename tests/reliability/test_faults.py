"""Fault-and-load suite: real gunicorn, RQ worker, PostgreSQL and Redis on loopback, broken on
purpose; afterwards the database must hold every acknowledged ballot exactly once.

Run with `make reliability` (part of .ci/run). Prints a table of the scenarios and writes it to
test-artifacts/reliability.md.
"""

import os
import random
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from tests import private_postgres
from tests.ballot_helpers import publish

from .harness import (
    ALREADY,
    Report,
    Stack,
    check,
    children,
    free_port,
    request,
    run_voters,
    stored_markers,
    wait_for,
)

pytestmark = pytest.mark.reliability
REPORTS: list[Report] = []
ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not private_postgres.available():
        pytest.fail("the reliability suite needs PostgreSQL's initdb and pg_ctl")
    stack = Stack.start(str(tmp_path_factory.mktemp("reliability")))
    app = stack.app()
    with app.app_context():
        from flask_migrate import upgrade

        from ballot_service.extensions import db
        from ballot_service.models import Office
        from ballot_service.services.demo import open_demo_round, seed_demo

        upgrade()
        seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
        round_ = open_demo_round()
        stack.round_id = round_.id
        stack.offices = db.session.scalars(select(Office.code).join(Office.department)
                                           .where(Office.department.has(code="spj"))).all()
        db.session.remove()
    stack.app_ = app
    stack.start_web()
    stack.start_worker()
    yield stack
    stack.stop()
    _write_table()


def _write_table() -> None:
    lines = ["| scenario | acknowledged | stored | lost | double | recovery | notes |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.acknowledged} | {r.stored} | {r.lost} | {r.double} | {r.recovery} | {r.notes} |"
              for r in REPORTS]
    table = "\n".join(lines)
    print("\n" + table)
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "reliability.md"), "w", encoding="utf-8") as fh:
        fh.write(table + "\n")


def in_background(target, *args):
    thread = threading.Thread(target=target, args=args)
    thread.start()
    return thread


def test_1_steady_load_with_retries_and_parallel_doubles(stack):
    def replay(voter):
        if voter.acknowledged and int(voter.marker.rsplit("-", 1)[1]) % 20 == 0:  # 5%: the same ballot again
            voter.submit(stack.base)

    voters = run_voters(stack.base, stack.offices, 30, 32, "s1", replay, parallel_every=20)
    report = check(stack.app_, voters, "s1", "1 steady load 30 s, 32 voters",
                   notes=f"{len(voters)} voters; 5% sent their ballot again, 5% twice at once")
    REPORTS.append(report)
    assert report.acknowledged > 100 and report.lost == 0 and report.double == 0


def test_2_a_gunicorn_worker_killed_during_load(stack):
    def kill_one():
        time.sleep(4)
        victim = stack.web_workers()[0]
        os.kill(victim, signal.SIGKILL)
        stack.recovery = wait_for(lambda: len(stack.web_workers()) == 2 and victim not in stack.web_workers(), 30)

    killer = in_background(kill_one)
    voters = run_voters(stack.base, stack.offices, 12, 32, "s2")
    killer.join()
    report = check(stack.app_, voters, "s2", "2 SIGKILL of a gunicorn worker",
                   recovery=f"worker back in {stack.recovery:.1f} s")
    REPORTS.append(report)
    assert report.lost == 0 and report.double == 0


def test_3_redis_restarted_with_its_data_lost(stack):
    """Redis loses every claim mid-load: the dedup records' primary key still refuses every
    voter who has a ballot, whatever Redis remembers (there is no window to document)."""
    marks = {}

    def restart():
        time.sleep(5)
        stack.redis.kill()
        stack.redis.start()
        marks["restarted"] = time.monotonic()

    restarter = in_background(restart)
    voters = run_voters(stack.base, stack.offices, 14, 32, "s3")
    restarter.join()
    after = sorted(v.acked_at for v in voters if v.acked_at and v.acked_at > marks["restarted"])
    recovery = after[0] - marks["restarted"] if after else float("inf")
    # Everyone acknowledged before the crash tries again with a fresh form: all refused.
    before = [v for v in voters if v.acked_at and v.acked_at < marks["restarted"]]
    again = []
    for voter in random.Random(3).sample(before, min(60, len(before))):
        voter.form, voter.acknowledged = None, False
        voter.open_page(stack.base)
        voter.submit(stack.base)
        if voter.acknowledged:
            again.append(voter)
        voter.acknowledged = True
    report = check(stack.app_, voters, "s3", "3 Redis restarted, data lost")
    report.recovery = f"accepting again after {recovery:.1f} s"
    report.notes = f"{min(60, len(before))} voters acknowledged before the crash sent a new form afterwards: " \
                   f"{len(again)} accepted"
    REPORTS.append(report)
    assert report.lost == 0 and report.double == 0
    assert again == [] and recovery <= 5


def test_4_postgresql_stopped_for_10_seconds(stack):
    marks = {}

    def outage():
        time.sleep(4)
        stack.pg.stop()
        time.sleep(10)
        stack.pg.start()
        marks["back"] = time.monotonic()

    outager = in_background(outage)
    voters = run_voters(stack.base, stack.offices, 20, 32, "s4")
    outager.join()
    report = check(stack.app_, voters, "s4", "4 PostgreSQL stopped 10 s")
    retried = sum(1 for v in voters if 503 in v.statuses and v.acknowledged)
    after = sorted(v.acked_at for v in voters if v.acked_at and v.acked_at > marks["back"])
    report.recovery = f"first ballot {after[0] - marks['back']:.1f} s after restart" if after else "—"
    report.notes = f"{retried} voters got 503 and succeeded on retry; " \
                   f"{sum(1 for v in voters if v.refused)} refused as already voted"
    REPORTS.append(report)
    assert report.lost == 0 and report.double == 0 and retried > 0


def test_5_worker_killed_during_a_tally_of_50000_ballots(stack):
    from rq.job import Job

    from ballot_service import jobs
    from ballot_service.extensions import db, redis_ext
    from ballot_service.models import Round
    from ballot_service.services.tally import tally_round

    from .tally_data import make_round

    app = stack.app_
    with app.app_context():
        round_id = make_round(db, 50_000)
        clean = tally_round(round_id)
        worker = stack.processes["worker"].pid
        others = set(children(worker))  # the worker's scheduler process
        job = jobs.tally.enqueue(round_id)  # a re-tally
        connection = redis_ext.client
        horse = wait_for_child(worker, others)  # the process the worker forked to run the tally
        steps = ("aggregating ratings", "scoring", "writing results", "consequences")
        wait_for(lambda: Job.fetch(job.id, connection=connection).get_meta().get("step") in steps, 30, 0.001)
        os.kill(horse, signal.SIGKILL)
        step = Job.fetch(job.id, connection=connection).get_meta().get("step")
        killed = time.monotonic()
        wait_for(lambda: Job.fetch(job.id, connection=connection).get_status() == "finished", 120, 0.2)
        recovery = time.monotonic() - killed
        retried = Job.fetch(job.id, connection=connection).retries_left < len(jobs.TALLY_RETRY_INTERVALS)
        db.session.expire_all()
        digest = db.session.get(Round, round_id).digest
        db.session.remove()
    REPORTS.append(Report("5 worker's job process SIGKILLed mid-tally (50,000 ballots)", 50_000, 50_000, 0, 0,
                          f"retried by RQ, done {recovery:.1f} s after the kill",
                          f"killed at step “{step or 'starting'}”; digest "
                          + ("equals a clean run's" if digest == clean else "DIFFERS")))
    assert retried and digest == clean


def test_5b_whole_worker_killed_during_a_tally(stack):
    """SIGKILL the worker, its job process and its scheduler together; a replacement worker (as a
    process supervisor would start) finds the abandoned job once its heartbeat expires and retries."""
    from rq.job import Job

    from ballot_service import jobs
    from ballot_service.extensions import db, redis_ext
    from ballot_service.models import Round

    app = stack.app_
    with app.app_context():
        round_id = db.session.scalar(select(Round.id).where(Round.name == "统计测试轮"))
        clean = db.session.get(Round, round_id).digest
        job = jobs.tally.enqueue(round_id)  # a re-tally
        connection = redis_ext.client
        steps = ("aggregating ratings", "scoring", "writing results", "consequences")
        wait_for(lambda: Job.fetch(job.id, connection=connection).get_meta().get("step") in steps, 30, 0.001)
        worker = stack.processes["worker"].pid
        for pid in [*children(worker), worker]:
            os.kill(pid, signal.SIGKILL)
        stack.processes["worker"].wait()
        killed = time.monotonic()
        time.sleep(95)  # the job's heartbeat lasts 90 s; a worker started earlier retries it at its next maintenance
        stack.start_worker()
        wait_for(lambda: Job.fetch(job.id, connection=connection).get_status() == "finished", 180, 0.5)
        recovery = time.monotonic() - killed
        db.session.expire_all()
        digest = db.session.get(Round, round_id).digest
        db.session.remove()
    REPORTS.append(Report("5b whole RQ worker SIGKILLed mid-tally, replacement started", 50_000, 50_000, 0, 0,
                          f"done {recovery:.0f} s after the kill",
                          "digest " + ("equals a clean run's" if digest == clean else "DIFFERS")))
    assert digest == clean


def wait_for_child(pid: int, others: set[int]) -> int:
    found = []
    wait_for(lambda: found.extend(set(children(pid)) - others) or found, 30, 0.001)
    return found[0]


class FlakyReceiver:
    """Refuses connections (nothing listening) for `down` seconds, then records deliveries."""

    def __init__(self, down: float):
        self.port, self.keys = free_port(), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.keys.append(self.headers["X-Sanliang-Delivery"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        def serve_later():
            time.sleep(down)
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self.up_at = time.monotonic()
            self.server.serve_forever()

        threading.Thread(target=serve_later, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def test_6_webhook_receiver_down_for_the_first_minute(stack):
    from ballot_service.extensions import db
    from ballot_service.models import Round, WebhookDelivery
    from ballot_service.services import push

    app = stack.app_
    receivers = [FlakyReceiver(60), FlakyReceiver(60)]
    with app.app_context():
        round_id = db.session.scalar(select(Round.id).where(Round.status == "tallied"))
        for n, receiver in enumerate(receivers):
            push.add_subscriber(f"订阅方{n}", receiver.url, "secret")
        app.config["WEBHOOK_RETRY_INTERVALS"] = [5] * 30
        publish(round_id)  # queues the pushes
        started = time.monotonic()
        wait_for(lambda: all(r.keys for r in receivers), 150, 0.5)
        db.session.expire_all()
        deliveries = db.session.scalars(select(WebhookDelivery.id)).all()
        db.session.remove()
    time.sleep(6)  # a retry that would deliver twice would have come by now
    recovery = max(time.monotonic() - r.up_at for r in receivers)
    REPORTS.append(Report("6 webhook receivers down 60 s", len(deliveries), sum(len(r.keys) for r in receivers),
                          0, sum(len(r.keys) - len(set(r.keys)) for r in receivers),
                          f"delivered {time.monotonic() - started - recovery:.0f} s after publishing",
                          "each idempotency key received once"))
    assert sorted(k for r in receivers for k in r.keys) == sorted(deliveries)


def test_7_hostile_input_at_volume(stack):
    from ballot_service.extensions import db
    from ballot_service.models import Round, SealedBallot
    from ballot_service.services import ballot_box

    app = stack.app_
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(SealedBallot))
        db.session.remove()
    rng = random.Random(7)
    office = stack.offices[0]
    statuses = []
    for n in range(600):
        kind = n % 6
        if kind == 0:
            statuses.append(request(stack.base, "POST", f"/o/{office}/ballot", body=rng.randbytes(rng.randint(1, 5000)),
                                    content_type="application/octet-stream")[0])
        elif kind == 1:
            statuses.append(request(stack.base, "POST", f"/o/{office}/ballot", body=b"x=" + b"A" * 200_000)[0])
        elif kind == 2:
            statuses.append(request(stack.base, "POST", f"/o/{office}/ballot", body=b'{"r1": "satisfied"}',
                                    content_type="application/json")[0])
        elif kind == 3:
            code = "".join(rng.choice("ABCDEFGHJK0O1I%<>'\"") for _ in range(rng.randint(1, 12)))
            statuses.append(request(stack.base, "GET", f"/o/{code}")[0])
        elif kind == 4:
            statuses.append(request(stack.base, "POST", f"/o/{office}/ballot",
                                    body={"token": "forged", "r1": "<script>alert(1)</script>", "n1": "x" * 300})[0])
        else:
            statuses.append(request(stack.base, "GET", "/" + "".join(rng.choice("abc/%.~") for _ in range(20)))[0])
    # A real ballot whose note is a script: stored as text, shown escaped.
    from .harness import Voter

    voter = Voter(office, "<script>alert('s7')</script>")
    voter.open_page(stack.base)
    voter.submit(stack.base)
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(SealedBallot))
        [stored_note] = [note for _o, _c, ratings in ballot_box.unseal(db.session.get(Round, stack.round_id))
                         for _p, _l, _t, note in ratings if (note or "").startswith("<script>")]
        db.session.remove()
    server_errors = [s for s in statuses if s >= 500 or s == 0]
    REPORTS.append(Report("7 hostile input ×600", 1 if voter.acknowledged else 0, after - before, 0, 0, "—",
                          f"{len(server_errors)} 5xx; statuses {sorted(set(statuses))}; script note stored as text"))
    assert server_errors == []
    assert voter.acknowledged and after - before == 1  # only the one real ballot was written
    assert stored_note == "<script>alert('s7')</script>"  # inert text; pages escape what they show
    voter.form = None
    voter.open_page(stack.base)
    page = request(stack.base, "POST", f"/o/{office}/ballot", voter.cookie, voter.form)[1]
    assert ALREADY in page and "<script>alert('s7')" not in page


def _send_again(stack, voters) -> list:
    """Each voter opens the page afresh and sends a new form: those accepted (must be none)."""
    accepted = []
    for voter in voters:
        voter.form, acknowledged = None, voter.acknowledged
        voter.acknowledged = False
        voter.open_page(stack.base)
        voter.submit(stack.base)
        if voter.acknowledged:
            accepted.append(voter)
        voter.acknowledged = acknowledged
    return accepted


def test_8_redis_restored_from_an_older_snapshot(stack):
    """Redis comes back from a copy taken mid-load (DUMP of every key, then RESTORE after a
    FLUSHALL, as a restore of an older RDB or AOF would leave it): every voter acknowledged
    after the copy sends a new form, and none is taken — the dedup records decide, not Redis."""
    import redis

    client = redis.Redis(port=stack.redis.port)
    marks = {}

    def snapshot():
        time.sleep(4)
        marks["at"] = time.monotonic()  # ballots acknowledged from here on may be missing from the copy
        keys = list(client.scan_iter(count=1000))
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.pttl(key)
            pipeline.dump(key)
        answers = pipeline.execute()
        marks["copy"] = dict(zip(keys, zip(answers[0::2], answers[1::2], strict=True), strict=True))

    copier = in_background(snapshot)
    voters = run_voters(stack.base, stack.offices, 12, 32, "s8")
    copier.join()
    client.flushall()
    for key, (ttl, value) in marks["copy"].items():
        if value is not None:
            client.restore(key, max(ttl, 0), value, replace=True)
    after = [v for v in voters if v.acked_at and v.acked_at > marks["at"]]
    again = _send_again(stack, after)
    report = check(stack.app_, voters, "s8", "8 Redis restored from an older snapshot")
    report.notes = (f"{len(marks['copy'])} keys copied mid-load and restored; {len(after)} voters acknowledged "
                    f"after the copy sent a new form: {len(again)} accepted")
    REPORTS.append(report)
    assert report.lost == 0 and report.double == 0
    assert after and again == []


def test_9_a_worker_killed_right_after_the_commit(stack):
    """A web worker SIGKILLs itself after a ballot's commit, before the thank-you page
    (tests/reliability/kill_after_commit.py, every seventh voter); the voter's retry of the same
    form is told "已记录". Then Redis loses everything, and every killed voter sends a new form:
    none is taken. Each of their ballots is stored once."""
    stack.stop_web()
    stack.start_web("--config", os.path.join(os.path.dirname(__file__), "kill_after_commit.py"))
    try:
        voters = run_voters(stack.base, stack.offices, 10, 16, "s9")
    finally:
        stack.stop_web()
        stack.start_web()
    killed = [v for v in voters if int(v.marker.rsplit("-", 1)[1]) % 7 == 0]
    stack.redis.kill()
    stack.redis.start()
    again = _send_again(stack, killed)
    stored = stored_markers(stack.app_, "s9")
    report = check(stack.app_, voters, "s9", "9 web worker SIGKILLed after the commit")
    report.notes = (f"{len(killed)} ballots whose worker died after the commit: {sum(v.refused for v in killed)} "
                    f"retries told 已记录; after a Redis loss, {len(again)} new forms accepted")
    REPORTS.append(report)
    assert report.lost == 0 and report.double == 0
    assert killed and again == [] and all(stored.get(v.marker) == 1 for v in killed)
    assert not any(v.acknowledged for v in killed)  # the worker died before any thank-you page
