"""Signed webhooks to a local receiver that refuses the first attempts; retried by a real RQ worker."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.extensions import db, redis_ext
from ballot_service.models import WebhookAttempt, WebhookDelivery
from ballot_service.services import jobs, push, rounds
from ballot_service.services.tally import tally_round
from tests.test_tally import city, first_round  # noqa: F401

SECRET = "shared-secret"


class Receiver:
    """Answers 503 to the first `fail_first` requests, then 200; records what it accepted."""

    def __init__(self, fail_first: int):
        self.fail_first, self.seen, self.accepted = fail_first, 0, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen += 1
                if receiver.seen <= receiver.fail_first:
                    self.send_response(503)
                else:
                    receiver.accepted.append((dict(self.headers), body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def published(app, city):  # noqa: F811
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    rounds.publish_round(r)
    return r


def run_worker():
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)


def test_push_is_retried_until_accepted_signed_and_idempotent(published):
    receiver = Receiver(fail_first=2)
    subscriber = push.add_subscriber("市绩效考核系统", receiver.url, SECRET)
    [job] = push.enqueue_push(published, [0, 0, 0])
    run_worker()
    assert job.get_status(refresh=True) == "finished"
    assert receiver.seen == 3 and len(receiver.accepted) == 1
    headers, body = receiver.accepted[0]
    expected = hmac.new(SECRET.encode(), headers["X-Sanliang-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Sanliang-Signature"] == f"sha256={expected}"
    data = json.loads(body)
    assert data["round"]["id"] == published and any(r["subject"] == "department" for r in data["results"])
    delivery = db.session.scalar(select(WebhookDelivery))
    assert headers["X-Sanliang-Delivery"] == delivery.id and delivery.status == "delivered"
    attempts = db.session.execute(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id)).scalars().all()
    assert attempts == [503, 503, 200]

    # Publishing again (or a re-run) sends nothing twice: the delivery is already done.
    push.enqueue_push(published, [0])
    run_worker()
    assert len(receiver.accepted) == 1 and subscriber.id


def test_an_unreachable_receiver_is_logged_and_fails_after_its_retries(published):
    push.add_subscriber("不可达", "http://127.0.0.1:9/hook", SECRET)
    [job] = push.enqueue_push(published, [0, 0])
    run_worker()
    assert job.get_status(refresh=True) == "failed"
    errors = db.session.scalars(select(WebhookAttempt.error)).all()
    assert len(errors) == 3 and all("URLError" in e or "ConnectionRefused" in e for e in errors)


def test_subscriber_urls_are_checked():
    with pytest.raises(ValueError, match="地址必须以"):
        push.add_subscriber("x", "ftp://example", SECRET)
