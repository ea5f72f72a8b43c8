"""Signed webhooks to a local receiver that refuses the first attempts; retried by a real RQ worker."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import current_app
from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.extensions import db, redis_ext
from ballot_service.models import WebhookAttempt, WebhookDelivery, WebhookSubscriber
from ballot_service.services import jobs, push, rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import publish
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
    publish(r)
    return r


def enqueue_push(round_id, intervals):
    current_app.config["WEBHOOK_RETRY_INTERVALS"] = intervals
    return push.enqueue_push(round_id)


def run_worker():
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)


def test_push_is_retried_until_accepted_signed_and_idempotent(published):
    receiver = Receiver(fail_first=2)
    subscriber = push.add_subscriber("市绩效考核系统", receiver.url, SECRET)
    [job] = enqueue_push(published, [0, 0, 0])
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
    enqueue_push(published, [0])
    run_worker()
    assert len(receiver.accepted) == 1 and subscriber.id


def test_an_unreachable_receiver_is_logged_and_fails_after_its_retries(published):
    push.add_subscriber("不可达", "http://127.0.0.1:9/hook", SECRET)
    [job] = enqueue_push(published, [0, 0])
    run_worker()
    assert job.get_status(refresh=True) == "failed"
    errors = db.session.scalars(select(WebhookAttempt.error)).all()
    assert len(errors) == 3 and all("ConnectionRefused" in e for e in errors)


def test_subscriber_urls_are_checked():
    for url, message in [("ftp://example", "地址必须以"), ("http:///hook", "缺少主机名"),
                         ("https://admin:pw@example.org/h", "用户名或密码"), ("http://example.org:99999/", "端口号")]:
        with pytest.raises(ValueError, match=message):
            push.add_subscriber("x", url, SECRET)


@pytest.fixture
def private_refused(app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    yield
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True


PRIVATE = ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://169.254.169.254/latest/meta-data/",
           "http://10.1.2.3/", "http://192.168.1.1/", "http://172.16.0.9/", "http://[::1]/", "http://[fe80::1]/",
           "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "https://100.64.0.1/",
           "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/", "http://[::a9fe:a9fe]/",
           "http://[fec0::1]/", "http://[2001:0:4136:e378:8000:63bf:f5fe:fffe]/"]


def test_receivers_on_loopback_private_or_link_local_addresses_are_refused(published, private_refused):
    for url in PRIVATE:
        with pytest.raises(ValueError, match="不能推送到本机、内网或链路本地地址"):
            push.add_subscriber("内网", url, SECRET)
    # One registered while they were allowed (or whose name resolves elsewhere now): every
    # delivery checks again, and nothing reaches it.
    receiver = Receiver(fail_first=0)
    db.session.add(WebhookSubscriber(name="旧的内网地址", url=receiver.url, secret=SECRET))
    db.session.commit()
    [job] = enqueue_push(published, [0])
    run_worker()
    assert job.get_status(refresh=True) == "failed" and receiver.seen == 0
    errors = db.session.scalars(select(WebhookAttempt.error)).all()
    assert len(errors) == 2 and all("不能推送到本机" in e for e in errors)


def test_a_receiver_is_not_followed_where_it_redirects(published):
    """A public receiver answering 302 to an internal address: the answer is a failure."""
    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{inner.server.server_port}/hook")
            self.end_headers()

        def log_message(self, *args):
            pass

    inner = Receiver(fail_first=0)
    outer = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=outer.serve_forever, daemon=True).start()
    push.add_subscriber("跳转", f"http://127.0.0.1:{outer.server_port}/hook", SECRET)
    [job] = enqueue_push(published, [0])
    run_worker()
    assert job.get_status(refresh=True) == "failed" and inner.seen == 0
    assert db.session.scalars(select(WebhookAttempt.status_code)).all() == [302, 302]
    outer.shutdown()


def test_the_api_refuses_a_private_receiver_on_update_too(app, client, database, private_refused):
    from tests import factories
    from tests.admin_helpers import api_token, make_user

    whole_city = factories.region(code="city", name="全市", kind="city")
    hook = WebhookSubscriber(name="市大数据局", url="https://example.org/hook", secret=SECRET)
    db.session.add(hook)
    db.session.commit()
    headers = {"Authorization": f"Bearer {api_token(make_user('coordinator', region=whole_city))}"}
    patched = client.patch(f"/api/v1/webhooks/{hook.id}", headers=headers, json={"url": "http://169.254.169.254/"})
    assert patched.status_code == 422 and "链路本地" in patched.json["errors"]["json"]["url"][0]
    db.session.refresh(hook)
    assert hook.url == "https://example.org/hook"
