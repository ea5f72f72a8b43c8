"""Pushing published results to subscribers: signed webhooks, retried through RQ.

Request: POST <url>, JSON body (the round, every result, every consequence), headers
  X-Sanliang-Delivery:  the delivery id — the same on every retry (idempotency key)
  X-Sanliang-Timestamp: Unix seconds of this attempt
  X-Sanliang-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
A 2xx answer delivers; anything else is logged as an attempt and retried with backoff.
"""

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid

from sqlalchemy import select

from ..domain.access import Place, Scope
from ..extensions import db
from ..models import ConsequenceRecord, Result, Round, WebhookAttempt, WebhookDelivery, WebhookSubscriber
from .rounds import utcnow

TIMEOUT = 10


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery; RQ will retry the job."""


def add_subscriber(name: str, url: str, secret: str | None = None, within: Scope | None = None) -> WebhookSubscriber:
    """Register a receiver of published results; without a secret, a random one is made (the
    caller shows `subscriber.secret` once). A subscriber gets every region's results, so only a
    scope that covers the whole city (`within`, the creator's) may add one."""
    if within is not None and not within.covers(Place(None)):
        raise ValueError("不在您的管理范围内")
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("地址必须以 http:// 或 https:// 开头")
    subscriber = WebhookSubscriber(name=name, url=url, secret=secret or secrets.token_hex(32))
    db.session.add(subscriber)
    db.session.commit()
    return subscriber


def payload(round_: Round) -> dict:
    def number(value):
        return None if value is None else str(value)

    results = db.session.scalars(select(Result).where(Result.round_id == round_.id)
                                 .order_by(Result.subject_kind, Result.subject_id))
    consequences = db.session.scalars(select(ConsequenceRecord).where(ConsequenceRecord.round_id == round_.id)
                                      .order_by(ConsequenceRecord.id))
    return {
        "round": {"id": round_.id, "name": round_.name, "region_id": round_.region_id, "digest": round_.digest},
        "results": [{"subject": r.subject_kind, "id": r.subject_id, "department_id": r.department_id,
                     "score": number(r.score), "grade": r.grade, "rank": r.rank, "scored": r.scored,
                     "unknown": r.unknown, "counts": r.counts, "previous_grade": r.previous_grade,
                     "steps": r.steps, "low_sample": r.low_sample, "uncertain": r.uncertain} for r in results],
        "consequences": [{"kind": c.kind, "subject": c.subject_kind, "id": c.subject_id, "people": c.people,
                          "includes_department": c.includes_department, "deduction_each": c.deduction_each,
                          "actions": c.actions, "authority": c.authority} for c in consequences],
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def delivery_for(subscriber_id: int, round_id: int) -> WebhookDelivery:
    """The delivery of a round to a subscriber, created once (so its id stays the same)."""
    delivery = db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.subscriber_id == subscriber_id, WebhookDelivery.round_id == round_id))
    if delivery is None:
        delivery = WebhookDelivery(id=uuid.uuid4().hex, subscriber_id=subscriber_id, round_id=round_id)
        db.session.add(delivery)
        db.session.commit()
    return delivery


def deliver(subscriber_id: int, round_id: int) -> str:
    """One attempt to deliver; raises DeliveryFailed (after logging it) so RQ retries."""
    subscriber = db.session.get(WebhookSubscriber, subscriber_id)
    round_ = db.session.get(Round, round_id)
    delivery = delivery_for(subscriber_id, round_id)
    if delivery.status == "delivered":
        return delivery.id
    body = json.dumps(payload(round_), ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(subscriber.url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "X-Sanliang-Delivery": delivery.id,
        "X-Sanliang-Timestamp": timestamp,
        "X-Sanliang-Signature": sign(subscriber.secret, timestamp, body),
    })
    status, error = None, None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    db.session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=utcnow(), status_code=status, error=error))
    if status is not None and 200 <= status < 300:
        delivery.status = "delivered"
    db.session.commit()
    if delivery.status != "delivered":
        raise DeliveryFailed(error or f"HTTP {status}")
    return delivery.id


def enqueue_push(round_id: int, retry_intervals: list[int]) -> list:
    """One job per active subscriber, job id push-<round>-<subscriber> (never queued twice)."""
    from rq import Retry

    from .jobs import enqueue_once

    subscribers = db.session.scalars(select(WebhookSubscriber.id).where(WebhookSubscriber.active)).all()
    return [enqueue_once("worker.jobs.push", f"push-{round_id}-{sid}", sid, round_id, timeout=120,
                         retry=Retry(max=len(retry_intervals), interval=retry_intervals))
            for sid in subscribers]
